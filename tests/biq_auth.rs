//! BiQ Alert auth: the login operation the seed names, its payloads, and the wire form the
//! vendor's demo uses (POST with a JSON `apikey`).
#![cfg(feature = "biq-auth")]

mod common;

use customer_data::biq::Environment;
use customer_data::biq_auth::{Client, types};

const SLUG: &str = "biq_auth";

#[test]
fn every_seed_operation_is_generated() {
    common::assert_seed_operations(
        SLUG,
        &[("GET /api/Auth/login", "login: POST /api/auth/login (")],
    );
    let _ = Client::new(
        Environment::Production.auth_url(),
        customer_data::runtime::Layer::new(&customer_data::biq_auth::SERVICE_RULES),
    )
    .login();
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
    let client = customer_data::biq_auth::connect(&url).unwrap();
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

/// Against the sandbox twins (`biq_auth` issues the JWT the other two BiQ twins check).
mod twin {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use customer_data::biq::Environment;
    use customer_data::biq_auth::{Client, types};
    use customer_data_sandbox::{Lifetimes, Sandbox, SandboxConfig, credentials};
    use serde_json::Value;

    fn environment(sandbox: &Sandbox) -> Environment {
        Environment::Custom {
            auth: sandbox.url("biq_auth"),
            customer_shadow: sandbox.url("biq_customer_shadow"),
            alert_changes: sandbox.url("biq_alert_changes"),
        }
    }

    async fn start(lifetime: Duration) -> Sandbox {
        Sandbox::start(SandboxConfig {
            lifetimes: Lifetimes {
                biq: lifetime,
                ..Lifetimes::default()
            },
            ..SandboxConfig::default()
        })
        .await
        .unwrap()
    }

    async fn login(
        client: &Client,
        apikey: &str,
    ) -> Result<String, customer_data::biq_auth::Error> {
        client
            .login()
            .body(types::LoginRequest {
                apikey: apikey.into(),
            })
            .send()
            .await
            .map(|r| r.into_inner().access_token)
    }

    /// A CustomerShadow client sending `Authorization: Bearer <token>`.
    fn shadow_client(sandbox: &Sandbox, token: &str) -> customer_data::biq_customer_shadow::Client {
        let http = crate::common::bearer_http(token);
        customer_data::biq_customer_shadow::Client::new_with_client(
            &sandbox.url("biq_customer_shadow"),
            http,
            customer_data::runtime::Layer::new(&customer_data::biq_customer_shadow::SERVICE_RULES),
        )
    }

    /// The claims of a JWT (its middle part, base64url without padding).
    fn claims(jwt: &str) -> Value {
        let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
        let (mut bits, mut held, mut bytes) = (0u32, 0u32, Vec::new());
        for c in payload.bytes() {
            let value = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'-' => 62,
                b'_' => 63,
                other => panic!("not base64url: {other}"),
            };
            bits = (bits << 6) | u32::from(value);
            held += 6;
            if held >= 8 {
                held -= 8;
                bytes.push((bits >> held) as u8);
                bits &= (1 << held) - 1;
            }
        }
        serde_json::from_slice(&bytes).unwrap()
    }

    fn unix_now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// `login` against the twin: the JWT names the tenant in `tenatIds` (the seed's spelling)
    /// and `tenantIds`, and expires after the configured lifetime; a wrong api key is a 401
    /// problem, a malformed body a 400 naming the member, and GET (the seed's prose) a 405.
    #[tokio::test]
    async fn the_twin_issues_a_jwt_naming_the_tenant_and_refuses_a_wrong_key() {
        let sandbox = start(Duration::from_secs(600)).await;
        let client = customer_data::biq_auth::connect(environment(&sandbox).auth_url()).unwrap();

        let before = unix_now();
        let token = login(&client, credentials::BIQ_API_KEY).await.unwrap();
        let claims = claims(&token);
        assert_eq!(
            claims["tenatIds"],
            serde_json::json!([credentials::BIQ_TENANT_ID]),
            "{claims}"
        );
        assert_eq!(claims["tenantIds"], claims["tenatIds"]);
        let exp = claims["exp"].as_i64().expect("exp in unix seconds");
        assert!(
            (before + 600..=unix_now() + 601).contains(&exp),
            "exp {exp} is not now + 600 s"
        );
        assert!(claims["iat"].as_i64().unwrap() <= unix_now());

        // The wrong api key: the declared 401 (no error body is documented, so none is read).
        match login(&client, "not-the-key").await.unwrap_err() {
            customer_data::biq_auth::Error::ErrorResponse(response) => {
                assert_eq!(response.status().as_u16(), 401);
            }
            other => panic!("{other:?}"),
        }
        // The twin's body is an ASP.NET problem.
        let raw = customer_data::runtime::http::default_client()
            .unwrap()
            .post(format!("{}/api/auth/login", sandbox.url("biq_auth")))
            .json(&serde_json::json!({"apikey": "not-the-key"}))
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status().as_u16(), 401);
        let body: Value = raw.json().await.unwrap();
        assert_eq!(body["title"], "Unauthorized");
        assert_eq!(body["status"], 401);

        // A body that is not a LoginRequest: 400 naming `apikey`.
        let base = sandbox.url("biq_auth");
        let raw = customer_data::runtime::http::default_client()
            .unwrap()
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"apikey": 42}))
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status().as_u16(), 400);
        let body: Value = raw.json().await.unwrap();
        assert!(body["errors"]["$.apikey"].is_array(), "{body}");

        // The seed's "GET /api/Auth/login": not allowed, POST is.
        let get = customer_data::runtime::http::default_client()
            .unwrap()
            .get(format!("{base}/api/Auth/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(get.status().as_u16(), 405);
        assert_eq!(get.headers()["allow"], "POST");
        sandbox.shutdown().await;
    }

    /// With a 1-second lifetime the JWT works, then is refused with 401 (and JwtBearer's
    /// `WWW-Authenticate`); a new login works again, as the demo's retry-once expects.
    /// Without a token: 401; with a token for another tenant's path: 403.
    #[tokio::test]
    async fn an_expired_jwt_is_refused_with_401() {
        let sandbox = start(Duration::from_secs(1)).await;
        let auth = customer_data::biq_auth::connect(environment(&sandbox).auth_url()).unwrap();
        let token = login(&auth, credentials::BIQ_API_KEY).await.unwrap();
        let shadow = shadow_client(&sandbox, &token);
        let sources = shadow
            .list_shadow_sources()
            .tenant_id(credentials::BIQ_TENANT_ID)
            .send()
            .await
            .unwrap();
        assert!(!sources.is_empty());

        let other_tenant = shadow
            .list_shadow_sources()
            .tenant_id("another-tenant")
            .send()
            .await
            .unwrap_err();
        assert_eq!(other_tenant.status().map(|s| s.as_u16()), Some(403));

        tokio::time::sleep(Duration::from_millis(2100)).await;
        match shadow
            .list_shadow_sources()
            .tenant_id(credentials::BIQ_TENANT_ID)
            .send()
            .await
            .unwrap_err()
        {
            customer_data::biq_customer_shadow::Error::ErrorResponse(response) => {
                assert_eq!(response.status().as_u16(), 401);
                let challenge = response.headers()["www-authenticate"].to_str().unwrap();
                assert!(challenge.contains("invalid_token"), "{challenge}");
            }
            other => panic!("{other:?}"),
        }

        let fresh = login(&auth, credentials::BIQ_API_KEY).await.unwrap();
        shadow_client(&sandbox, &fresh)
            .list_shadow_sources()
            .tenant_id(credentials::BIQ_TENANT_ID)
            .send()
            .await
            .unwrap();

        let anonymous =
            customer_data::biq_customer_shadow::connect_anonymous(&environment(&sandbox))
                .unwrap()
                .list_shadow_sources()
                .tenant_id(credentials::BIQ_TENANT_ID)
                .send()
                .await
                .unwrap_err();
        assert_eq!(anonymous.status().map(|s| s.as_u16()), Some(401));
        sandbox.shutdown().await;
    }
}
