//! The sandbox's own routes (`/sandbox/...`) refuse calls without this sandbox's key (401) or
//! with another key (403), bodies not declared JSON (415), and callback or webhook URLs off
//! this machine (400); with the key and JSON they work as before.

use customer_data_sandbox::sandbox_only::KEY_HEADER;
use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

const CI: &str = "consumer_intelligence";
const BIQ: &str = "biq_alert_changes";

fn http() -> reqwest::Client {
    customer_data::runtime::http::default_client().unwrap()
}

/// A Consumer Intelligence access token from the twin.
async fn ci_token(sandbox: &Sandbox) -> String {
    sandbox.consumer_intelligence_token().await.unwrap()
}

fn biq_url(sandbox: &Sandbox, path: &str) -> String {
    format!(
        "{}/sandbox/tenants/{}{path}",
        sandbox.url(BIQ),
        credentials::BIQ_TENANT_ID
    )
}

/// Every sandbox-only route as (method, URL), with a bearer token where the twin wants one.
fn routes(sandbox: &Sandbox) -> Vec<(reqwest::Method, String)> {
    use reqwest::Method;
    vec![
        (
            Method::POST,
            format!("{}/sandbox/persons/gedi-4/change", sandbox.url(CI)),
        ),
        (
            Method::POST,
            format!("{}/sandbox/tokens/revoke", sandbox.url(CI)),
        ),
        (
            Method::GET,
            format!("{}/sandbox/webhooks/some-id/deliveries", sandbox.url(CI)),
        ),
        (Method::POST, biq_url(sandbox, "/script")),
        (Method::POST, biq_url(sandbox, "/callbacks")),
        (Method::DELETE, biq_url(sandbox, "/callbacks/some-id")),
        (Method::GET, biq_url(sandbox, "/callbacks/some-id/calls")),
    ]
}

#[tokio::test]
async fn every_sandbox_only_route_refuses_a_call_without_the_key_or_with_another_one() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let token = ci_token(&sandbox).await;
    for (method, url) in routes(&sandbox) {
        let without = http()
            .request(method.clone(), &url)
            .bearer_auth(&token)
            .json(&json!({"count": 1, "url": "http://127.0.0.1:9/cb"}))
            .send()
            .await
            .unwrap();
        assert_eq!(without.status().as_u16(), 401, "{method} {url}");
        assert!(
            without.text().await.unwrap().contains(KEY_HEADER),
            "the refusal says what is missing"
        );
        let wrong = http()
            .request(method.clone(), &url)
            .bearer_auth(&token)
            .header(KEY_HEADER, "not-the-key")
            .json(&json!({"count": 1, "url": "http://127.0.0.1:9/cb"}))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 403, "{method} {url}");
    }
    // Nothing happened: no callback was registered by the refused calls.
    let calls = http()
        .get(biq_url(&sandbox, "/callbacks/some-id/calls"))
        .header(KEY_HEADER, sandbox.sandbox_key())
        .send()
        .await
        .unwrap();
    assert_eq!(calls.status().as_u16(), 404);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn every_sandbox_only_route_refuses_a_body_that_is_not_json() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let token = ci_token(&sandbox).await;
    for (method, url) in routes(&sandbox) {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let mut request = http()
                .request(method.clone(), &url)
                .bearer_auth(&token)
                .header(KEY_HEADER, sandbox.sandbox_key())
                .body(r#"{"count": 1, "url": "http://127.0.0.1:9/cb"}"#);
            if let Some(content_type) = content_type {
                request = request.header(CONTENT_TYPE, content_type);
            }
            let refused = request.send().await.unwrap();
            assert_eq!(
                refused.status().as_u16(),
                415,
                "{method} {url} {content_type:?}"
            );
        }
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_callback_or_webhook_url_off_this_machine_is_refused() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    for url in [
        "http://192.168.1.1/cb",
        "https://attacker.example/cb",
        "http://127.0.0.1.attacker.example/cb",
        "http://[::ffff:10.0.0.1]/cb",
    ] {
        let refused = http()
            .post(biq_url(&sandbox, "/callbacks"))
            .header(KEY_HEADER, sandbox.sandbox_key())
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 400, "{url}");
        assert!(
            refused.text().await.unwrap().contains("loopback"),
            "the refusal says why"
        );
    }
    // The vendor-shaped webhook route keeps its own auth; the sandbox adds the loopback rule.
    let token = ci_token(&sandbox).await;
    let refused = http()
        .post(format!("{}/webhooks", sandbox.url(CI)))
        .bearer_auth(&token)
        .json(&json!({"url": "https://attacker.example/hook", "events": ["PING"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert!(refused.text().await.unwrap().contains("loopback"));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn with_the_key_and_json_the_routes_work_as_before() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let key = sandbox.sandbox_key().to_string();
    assert!(key.len() >= 32, "a random key per sandbox");
    let other = Sandbox::start(SandboxConfig::default()).await.unwrap();
    assert_ne!(other.sandbox_key(), key, "each sandbox has its own key");
    other.shutdown().await;

    let scripted = http()
        .post(biq_url(&sandbox, "/script"))
        .header(KEY_HEADER, &key)
        .json(&json!({"count": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(scripted.status().as_u16(), 200);
    let scripted: Value = scripted.json().await.unwrap();
    assert_eq!(scripted["approvedChanges"].as_array().unwrap().len(), 2);
    // An empty body is still `{"count": 1}` (no body, no content type needed).
    let empty = http()
        .post(biq_url(&sandbox, "/script"))
        .header(KEY_HEADER, &key)
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status().as_u16(), 200);

    for url in [
        "http://127.0.0.1:9/cb",
        "http://localhost:9/cb",
        "http://[::1]:9/cb",
    ] {
        let registered = http()
            .post(biq_url(&sandbox, "/callbacks"))
            .header(KEY_HEADER, &key)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(json!({ "url": url }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status().as_u16(), 201, "{url}");
        let registered: Value = registered.json().await.unwrap();
        let id = registered["id"].as_str().unwrap();
        let calls = http()
            .get(biq_url(&sandbox, &format!("/callbacks/{id}/calls")))
            .header(KEY_HEADER, &key)
            .send()
            .await
            .unwrap();
        assert_eq!(calls.status().as_u16(), 200);
        let deleted = http()
            .delete(biq_url(&sandbox, &format!("/callbacks/{id}")))
            .header(KEY_HEADER, &key)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status().as_u16(), 204);
    }

    let token = ci_token(&sandbox).await;
    let changed = http()
        .post(format!("{}/sandbox/persons/gedi-4/change", sandbox.url(CI)))
        .header(KEY_HEADER, &key)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status().as_u16(), 200);
    let unknown = http()
        .get(format!(
            "{}/sandbox/webhooks/no-such-id/deliveries",
            sandbox.url(CI)
        ))
        .header(KEY_HEADER, &key)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404, "routed, as before");
    let revoked = http()
        .post(format!("{}/sandbox/tokens/revoke", sandbox.url(CI)))
        .header(KEY_HEADER, &key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 204);
    // Vendor routes are untouched by the guard: no key needed there.
    let vendor = http()
        .get(format!("{}/webhooks", sandbox.url(CI)))
        .bearer_auth(ci_token(&sandbox).await)
        .send()
        .await
        .unwrap();
    assert_eq!(vendor.status().as_u16(), 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_configured_key_is_the_one_required() {
    let sandbox = Sandbox::start(SandboxConfig {
        sandbox_key: Some("chosen-key".to_string()),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(sandbox.sandbox_key(), "chosen-key");
    let answer = http()
        .post(biq_url(&sandbox, "/script"))
        .header(KEY_HEADER, "chosen-key")
        .json(&json!({"count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    sandbox.shutdown().await;
}
