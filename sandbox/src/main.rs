//! `customer-data-sandbox [--port N]`: every twin on 127.0.0.1:N (default 8480), each under
//! `/<slug>`, until Ctrl-C. Prints each twin's URL and the sandbox key its own routes
//! (`/sandbox/...`) require in `x-sandbox-key` (random per start). With `CUSTOMER_DATA_SANDBOX_RECORD=<dir>` set, every exchange is
//! recorded there (see `customer_data_sandbox::record`).

use customer_data_sandbox::{SLUGS, Sandbox, SandboxConfig};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut port = 8480u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().map(|v| v.parse::<u16>())) {
            ("--port", Some(Ok(p))) => port = p,
            _ => {
                eprintln!("usage: customer-data-sandbox [--port N]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let config = SandboxConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        ..SandboxConfig::default()
    };
    let sandbox = match Sandbox::start(config).await {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("cannot start the sandbox on port {port}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    for slug in SLUGS {
        println!("{slug:28} {}", sandbox.url(slug));
    }
    // The sandbox-only routes (/sandbox/...) need it; it changes at every start.
    println!(
        "{:28} {}",
        customer_data_sandbox::sandbox_only::KEY_HEADER,
        sandbox.sandbox_key()
    );
    println!("Ctrl-C stops the sandbox.");
    let _ = tokio::signal::ctrl_c().await;
    sandbox.shutdown().await;
    std::process::ExitCode::SUCCESS
}
