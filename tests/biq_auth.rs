//! BiQ Alert auth: the login operation the seed names, its payloads, and the wire form the
//! vendor's demo uses (POST with a JSON `apikey`).
#![cfg(feature = "biq")]

mod common;

use customer_data::biq_auth::{Client, Environment, types};

const SLUG: &str = "biq_auth";

#[test]
fn every_seed_operation_is_generated() {
    common::assert_seed_operations(
        SLUG,
        &[("GET /api/Auth/login", "POST /api/auth/login -> login(")],
    );
    let _ = Client::new(Environment::Production.auth_url()).login();
}

#[test]
fn payloads_round_trip() {
    common::assert_round_trip::<types::LoginRequest>(SLUG, "login_request.json");
    common::assert_round_trip::<types::LoginResponse>(SLUG, "login_response.synthetic.json");
}

#[tokio::test]
async fn login_posts_the_api_key_as_json_and_reads_the_token() {
    let (url, server) = common::serve(vec![common::http(
        "200 OK",
        "application/json",
        r#"{"access_token":"eyJhbGciOiJIUzI1NiJ9.e30.sig","expires_in":3600}"#,
    )])
    .await;
    let client = customer_data::biq_auth::connect(&Environment::Custom {
        auth: url,
        customer_shadow: String::new(),
        alert_changes: String::new(),
    })
    .unwrap();
    let token = client
        .login()
        .body(types::LoginRequest {
            apikey: "test-api-key".into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(token.access_token, "eyJhbGciOiJIUzI1NiJ9.e30.sig");
    assert_eq!(token.extra["expires_in"], 3600, "unknown members are kept");

    let request = &server.await.unwrap()[0];
    assert!(
        request.starts_with("POST /api/auth/login HTTP/1.1"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{request}"
    );
    assert!(
        request.ends_with(r#"{"apikey":"test-api-key"}"#),
        "{request}"
    );
}
