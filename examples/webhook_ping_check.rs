//! Checks how Consumer Intelligence signs webhook deliveries, from the PING it sends when a
//! webhook is created. Our sources do not confirm the signed string (see
//! `consumer_intelligence::webhook::signature`); run this once against your account.
//!
//! ```sh
//! # Against the in-process sandbox (no credentials needed):
//! cargo run --example webhook_ping_check
//! # Against your account: a URL the vendor can reach that forwards to WEBHOOK_LISTEN
//! CI_CLIENT_ID=... CI_CLIENT_SECRET=... CI_ENVIRONMENT=sandbox \
//! WEBHOOK_PUBLIC_URL=https://hooks.example.com/ci WEBHOOK_LISTEN=0.0.0.0:8080 \
//!   cargo run --example webhook_ping_check
//! ```
//!
//! It listens, creates a webhook for `PING` only, waits for the PING (2 minutes at most),
//! prints which construction reproduces its signature, and deletes the webhook again. Exit
//! status 0 when a construction matched.

use std::time::Duration;

use customer_data::consumer_intelligence::webhook::{
    ConstructionCheck, WebhookSecret, check_construction,
};
use customer_data::consumer_intelligence::{Credentials, Environment, connect, types};
use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};
use tokio::sync::mpsc;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("webhook_ping_check failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool> {
    let listen = std::env::var("WEBHOOK_LISTEN").unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let local = format!("http://{}/ci-webhook", listener.local_addr()?);

    // Every delivery is kept for the check and answered 200 (this tool only looks).
    let (deliveries, mut received) = mpsc::unbounded_channel::<(http::HeaderMap, Vec<u8>)>();
    let route = axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
        let deliveries = deliveries.clone();
        async move {
            let _ = deliveries.send((headers, body.to_vec()));
            http::StatusCode::OK
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().route("/ci-webhook", route)).await;
    });

    // The real service when credentials are set (it needs a public URL), else the sandbox.
    let mut sandbox = None;
    let (environment, creds, url) = match Credentials::from_env() {
        Ok(creds) => {
            let url = std::env::var("WEBHOOK_PUBLIC_URL")
                .map_err(|_| "WEBHOOK_PUBLIC_URL must name a URL the vendor can reach")?;
            (Environment::from_env()?, creds, url)
        }
        Err(_) => {
            let started = Sandbox::start(SandboxConfig::default()).await?;
            let base_url = started.url("consumer_intelligence");
            let environment = Environment::Custom {
                token_url: format!("{base_url}/oauth/token"),
                base_url,
            };
            sandbox = Some(started);
            let creds = Credentials::new(
                credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
                credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
            );
            (environment, creds, local)
        }
    };
    println!(
        "creating a PING-only webhook at {url} ({})",
        environment.base_url()
    );
    let client = connect(environment, creds)?;
    let created = client
        .create_webhook()
        .body(types::CreateWebhookDto {
            url,
            events: vec![types::WebhookEventTypeDto::Ping],
            description: Some("customer-data webhook_ping_check (deleted again)".into()),
        })
        .send()
        .await?
        .into_inner();
    let secret = WebhookSecret::new(created.secret.clone());

    let ping = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some((headers, body)) = received.recv().await {
            if body.windows(6).any(|w| w == b"\"PING\"") {
                return Some((headers, body));
            }
        }
        None
    })
    .await;
    let deleted = client.delete_webhook().id(&created.id).send().await;
    if let Err(e) = deleted {
        eprintln!("could not delete webhook {}: {e}", created.id);
    }
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    let Ok(Some((headers, body))) = ping else {
        println!("no PING arrived within 2 minutes: is {listen} reachable from the vendor?");
        return Ok(false);
    };
    let check = check_construction(&secret, &headers, &body);
    match &check {
        ConstructionCheck::Default => {
            println!("the PING verifies with the default construction: nothing to configure")
        }
        ConstructionCheck::Other(construction) => println!(
            "the PING verifies with {construction:?}: use Verifier::with_construction({construction:?}) \
             (and please report it, so the default can be corrected)"
        ),
        ConstructionCheck::NoMatch => println!(
            "no known construction reproduces the PING's signature (headers: {:?})",
            headers.keys().map(|k| k.as_str()).collect::<Vec<_>>()
        ),
        ConstructionCheck::Unreadable(rejection) => println!("the PING's headers: {rejection}"),
        _ => println!("{check:?}"),
    }
    Ok(matches!(
        check,
        ConstructionCheck::Default | ConstructionCheck::Other(_)
    ))
}
