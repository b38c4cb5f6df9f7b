//! Fault injection as a client meets it, per twin and deterministic.

use std::time::{Duration, Instant};

use customer_data_sandbox::{Faults, Sandbox, SandboxConfig};

/// Plain HTTP through the library's builder (it installs the TLS crypto provider).
fn http() -> reqwest::Client {
    customer_data::runtime::http::default_client().unwrap()
}

async fn token_status_sequence(faults: Faults, calls: usize) -> Vec<String> {
    let sandbox = Sandbox::start(SandboxConfig::default().with_faults("carmachain", faults))
        .await
        .unwrap();
    let url = format!("{}/auth/getToken", sandbox.url("carmachain"));
    let http = http();
    let mut seen = Vec::new();
    for _ in 0..calls {
        let outcome = match http.get(&url).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(_) => status.to_string(),
                    Err(_) => format!("{status}+broken body"),
                }
            }
            Err(_) => "no response".to_string(),
        };
        seen.push(outcome);
    }
    sandbox.shutdown().await;
    seen
}

#[tokio::test]
async fn rate_limits_carry_retry_after() {
    let faults = Faults {
        rate_limited: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    };
    let sandbox = Sandbox::start(SandboxConfig::default().with_faults("carmachain", faults))
        .await
        .unwrap();
    let response = http()
        .get(format!("{}/auth/getToken", sandbox.url("carmachain")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    // Other twins are not affected.
    let other = http()
        .post(format!("{}/api/auth/login", sandbox.url("biq_auth")))
        .json(&serde_json::json!({"apikey": customer_data_sandbox::credentials::BIQ_API_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn server_errors_resets_and_truncated_bodies_reach_the_client() {
    let errors = token_status_sequence(
        Faults {
            server_error: 1.0,
            ..Faults::default()
        },
        20,
    )
    .await;
    assert!(
        errors
            .iter()
            .all(|s| ["500", "502", "503", "504"].contains(&s.as_str())),
        "{errors:?}"
    );
    let resets = token_status_sequence(
        Faults {
            reset: 1.0,
            ..Faults::default()
        },
        3,
    )
    .await;
    assert!(
        resets
            .iter()
            .all(|s| s == "no response" || s.ends_with("broken body")),
        "{resets:?}"
    );
    let truncated = token_status_sequence(
        Faults {
            truncated: 1.0,
            ..Faults::default()
        },
        3,
    )
    .await;
    assert!(
        truncated
            .iter()
            .all(|s| s == "200+broken body" || s == "no response"),
        "{truncated:?}"
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_fates_over_http() {
    let faults = Faults {
        seed: 11,
        rate_limited: 0.2,
        server_error: 0.2,
        ..Faults::default()
    };
    let first = token_status_sequence(faults.clone(), 40).await;
    let second = token_status_sequence(faults, 40).await;
    assert_eq!(first, second);
    assert!(
        first.iter().any(|s| s == "200") && first.iter().any(|s| s == "429"),
        "{first:?}"
    );
}

#[tokio::test]
async fn latency_is_added() {
    let faults = Faults {
        slow: 1.0,
        latency: Duration::from_millis(150),
        ..Faults::default()
    };
    let sandbox = Sandbox::start(SandboxConfig::default().with_faults("carmachain", faults))
        .await
        .unwrap();
    let started = Instant::now();
    let response = http()
        .get(format!("{}/auth/getToken", sandbox.url("carmachain")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    sandbox.shutdown().await;
}
