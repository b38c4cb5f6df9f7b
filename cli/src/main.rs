//! `customer-data`: see `customer-data --help` and the crate README.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use customer_data_cli::args::Cli;
use customer_data_cli::db::{DbTarget, scrub};
use customer_data_cli::error::{EXIT_FAILED, EXIT_INTERRUPTED};
use customer_data_cli::ui::{StderrWriter, Ui};
use tracing::level_filters::LevelFilter;

fn main() -> ExitCode {
    // Clap prints usage errors and exits 2 (0 for --help and --version).
    let cli = Cli::parse();
    let terminal = std::io::stderr().is_terminal();
    let ui = Ui::new(terminal);
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => LevelFilter::WARN,
        (false, 0) if terminal => LevelFilter::WARN,
        (false, 0) => LevelFilter::INFO,
        (false, 1) => LevelFilter::DEBUG,
        (false, _) => LevelFilter::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(terminal)
        .with_writer(StderrWriter::new(&ui))
        .init();
    // Whatever goes to stderr is scrubbed of the database URL and its password.
    let secrets = DbTarget::parse(&cli.db)
        .map(|t| t.secrets())
        .unwrap_or_else(|_| vec![cli.db.clone()]);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = runtime.block_on(customer_data_cli::execute(cli, &ui, shutdown_signal()));
    // Blocking store tasks of a stopped run must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            for line in error.lines() {
                eprintln!("error: {}", scrub(&line, &secrets));
            }
            ExitCode::from(error.exit_code())
        }
    }
}

/// Completes on the first Ctrl-C or SIGTERM; a second one exits at once (130).
async fn shutdown_signal() {
    first_signal().await;
    tokio::spawn(async {
        first_signal().await;
        eprintln!("error: interrupted again: exiting without waiting");
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    });
}

async fn first_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => ctrl_c().await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c().await;
}

/// Ctrl-C; never, if the handler cannot be installed (rather than stopping at once).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
