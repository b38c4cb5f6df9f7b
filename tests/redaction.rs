//! No secret appears in any `Debug` string or any log line (trace level, every crate) of a
//! full auth run over every service: credentials, token requests, renewals, a 401 replay, a
//! `HasExpired` replay, refresh-token rotation and refusals; nor in the sandbox's exchange
//! recording of that run (`customer_data_sandbox::record`, what CI's validators read). Its own
//! test binary, because it installs the process-wide log subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use customer_data_sandbox::{Lifetimes, Sandbox, SandboxConfig, credentials};

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_debug_output_or_trace_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber of this test binary");
    let recording = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(SandboxConfig {
        record: Some(recording.path().to_path_buf()),
        lifetimes: Lifetimes {
            consumer_intelligence: Duration::from_secs(1),
            biq: Duration::from_secs(1),
            accountsiq_session: Duration::from_secs(1),
            accountsiq_access: Duration::from_secs(1),
            blink_access: Duration::from_secs(1),
            ..Lifetimes::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let mut debug = Vec::<String>::new();

    // Consumer Intelligence: tokens, renewal, a 401 replay, a refusal.
    {
        use customer_data::consumer_intelligence::{Credentials, Environment, connect};
        let base_url = sandbox.url("consumer_intelligence");
        let environment = Environment::Custom {
            token_url: format!("{base_url}/oauth/token"),
            base_url,
        };
        let good = Credentials::new(
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
            credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        );
        debug.push(format!("{good:?}"));
        let client = connect(environment.clone(), good).unwrap();
        debug.push(format!("{client:?}"));
        for _ in 0..3 {
            client.list_consumers().send().await.unwrap();
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        // A fresh token, revoked at once: the next call meets a 401 and replays.
        client.list_consumers().send().await.unwrap();
        reqwest_post(
            &format!(
                "{}/sandbox/tokens/revoke",
                sandbox.url("consumer_intelligence")
            ),
            sandbox.sandbox_key(),
        )
        .await;
        client.list_consumers().send().await.unwrap();
        let bad = connect(
            environment,
            Credentials::new(
                credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
                "wrong-secret-value",
            ),
        )
        .unwrap();
        let error = bad.list_consumers().send().await.unwrap_err();
        debug.push(format!("{error:?}"));
        debug.push(error.to_string());
    }

    // BiQ: api key -> JWT, renewed at exp.
    {
        use customer_data::biq::{Environment, Session};
        let session = Session::new(
            Environment::Custom {
                auth: sandbox.url("biq_auth"),
                customer_shadow: sandbox.url("biq_customer_shadow"),
                alert_changes: sandbox.url("biq_alert_changes"),
            },
            credentials::BIQ_API_KEY,
        )
        .unwrap();
        debug.push(format!("{session:?}"));
        let tenant = session.tenant_id().await.unwrap();
        let shadow = session.customer_shadow().unwrap();
        debug.push(format!("{shadow:?}"));
        for _ in 0..2 {
            shadow
                .list_shadow_sources()
                .tenant_id(&tenant)
                .send()
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }

    // CarmaChain.
    {
        let client = customer_data::carmachain::connect(&sandbox.url("carmachain")).unwrap();
        debug.push(format!("{client:?}"));
        client.get_token().send().await.unwrap();
    }

    // AccountsIQ v1.1 (HasExpired replay) and v2.0 (TokenGet, TokenRefresh rotation).
    {
        use customer_data::accountsiq_v1_1::{Credentials, Endpoint, Session, types};
        let credentials = Credentials::new(
            credentials::ACCOUNTSIQ_COMPANY_ID,
            credentials::ACCOUNTSIQ_PARTNER_KEY,
            credentials::ACCOUNTSIQ_USER_KEY,
        );
        debug.push(format!("{credentials:?}"));
        let session = Session::new(
            &Endpoint::Custom(sandbox.url("accountsiq_v1_1")),
            credentials,
        )
        .unwrap();
        debug.push(format!("{session:?}"));
        for _ in 0..2 {
            session
                .call(async |client, token| {
                    client
                        .get_customer_list(&types::GetCustomerList {
                            token: Some(token.into()),
                        })
                        .await
                })
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    {
        use customer_data::accountsiq_v2_0::{Credentials, Endpoint, Session, types};
        let credentials = Credentials::new(
            credentials::ACCOUNTSIQ_CLIENT_ID,
            credentials::ACCOUNTSIQ_CLIENT_SECRET,
            credentials::ACCOUNTSIQ_COMPANY_ID,
        );
        debug.push(format!("{credentials:?}"));
        let session = Session::new(
            &Endpoint::Custom(sandbox.url("accountsiq_v2_0")),
            credentials,
        )
        .unwrap();
        for _ in 0..2 {
            session
                .call(async |client| {
                    debug_line(client);
                    client
                        .get_active_customer_list(&types::GetActiveCustomerList { token: None })
                        .await
                })
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }

    // bLink: code exchange, rotating refresh tokens.
    {
        use customer_data::blink_customer_management::{Config, Grant, connect};
        let config = Config::new(
            sandbox.url("blink_customer_management"),
            credentials::BLINK_CLIENT_ID,
            "redaction-test",
            credentials::BLINK_TARGET_ID,
            Grant::AuthorizationCode(credentials::BLINK_AUTHORIZATION_CODE.into()),
        );
        debug.push(format!("{config:?}"));
        let client = connect(config).unwrap();
        debug.push(format!("{client:?}"));
        for _ in 0..3 {
            client.get_healthcheck().send().await.unwrap();
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }
    let recorded = sandbox.recording().unwrap().to_path_buf();
    sandbox.shutdown().await;
    let recorded = std::fs::read_to_string(recorded).unwrap();
    // The recording covers every twin of the run, token requests included.
    for slug in [
        "consumer_intelligence",
        "biq_auth",
        "biq_customer_shadow",
        "carmachain",
        "accountsiq_v1_1",
        "accountsiq_v2_0",
        "blink_customer_management",
    ] {
        assert!(
            recorded.contains(&format!("\"slug\":\"{slug}\"")),
            "{slug} not recorded"
        );
    }
    assert!(recorded.contains("\"path\":\"/oauth/token\""));
    assert!(recorded.contains("<redacted>"));

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 50,
        "trace logging was captured:\n{logs}"
    );
    // The run went through every renewal path the assertions below are about.
    for path in [
        "customer_data::runtime::layer: 401 Unauthorized: renewing the token and replaying once",
        "error code NOT_AUTHORIZED (session expired)",
        "error code OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED",
    ] {
        assert!(logs.contains(path), "`{path}` not logged:\n{logs}");
    }
    if std::env::var_os("SHOW_LOGS").is_some() {
        println!("{logs}");
    }
    let mut secrets: Vec<String> = [
        credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        "wrong-secret-value",
        credentials::BIQ_API_KEY,
        credentials::ACCOUNTSIQ_PARTNER_KEY,
        credentials::ACCOUNTSIQ_USER_KEY,
        credentials::ACCOUNTSIQ_CLIENT_SECRET,
        credentials::BLINK_AUTHORIZATION_CODE,
        // Every BiQ JWT starts with the encoded `{"alg":"HS256"`.
        "eyJhbGciOiJIUzI1NiI",
    ]
    .map(String::from)
    .into();
    // The twins' tokens are `<prefix>-<n>-<uuid>`.
    for prefix in [
        "ci",
        "carma",
        "aiq-session",
        "aiq-access",
        "aiq-refresh",
        "blink-access",
        "blink-refresh",
    ] {
        for n in 1..=40 {
            secrets.push(format!("{prefix}-{n}-"));
        }
    }
    // The client id of Basic auth is not secret, but `id:secret` in base64 is.
    secrets.push(base64_basic(
        credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
        credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
    ));
    for text in debug.iter().chain([&logs, &recorded]) {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "`{secret}` leaked into:\n{text}"
            );
        }
    }
}

fn debug_line(client: &customer_data::accountsiq_v2_0::Client) {
    // The v2.0 client carries the access token in its SOAP header: Debug must not show it.
    tracing::trace!(client = ?client, "v2.0 client with its AiqSoapHeader");
}

async fn reqwest_post(url: &str, sandbox_key: &str) {
    customer_data::runtime::http::default_client()
        .unwrap()
        .post(url)
        .header(customer_data_sandbox::sandbox_only::KEY_HEADER, sandbox_key)
        .send()
        .await
        .unwrap();
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

/// The value every secret member is set to below.
const KNOWN_SECRET: &str = "KNOWN-SECRET-4c1d";

/// `Debug` of a value holding `KNOWN_SECRET`: must print `<redacted>` and not the value.
fn assert_redacted(what: &str, debug: String) {
    assert!(
        !debug.contains(KNOWN_SECRET),
        "{what} prints its secret: {debug}"
    );
    assert!(
        debug.contains("<redacted>"),
        "{what} does not say what it hides: {debug}"
    );
}

/// A generated type read from JSON members (serde's names are the wire names, for OpenAPI and
/// SOAP types alike).
fn from_members<T: serde::de::DeserializeOwned>(members: serde_json::Value) -> T {
    serde_json::from_value(members).unwrap()
}

/// Every generated OpenAPI type with a member the spec declares secret (`format: password` or
/// `x-secret: true`), with typify's builder of it (which holds the same values) and the
/// operation builder that carries it.
#[test]
fn generated_openapi_types_redact_their_declared_secrets() {
    use serde_json::json;
    {
        use customer_data::biq_auth::types::{LoginRequest, LoginResponse, builder};
        let request: LoginRequest = from_members(json!({"apikey": KNOWN_SECRET}));
        assert_redacted("biq_auth LoginRequest", format!("{request:?}"));
        assert_redacted(
            "biq_auth builder::LoginRequest",
            format!("{:?}", builder::LoginRequest::from(request.clone())),
        );
        let client = customer_data::biq_auth::Client::new(
            "http://127.0.0.1:9",
            customer_data::runtime::Layer::new(&customer_data::biq_auth::SERVICE_RULES),
        );
        assert_redacted(
            "biq_auth login() operation builder",
            format!("{:?}", client.login().body(request)),
        );
        let response: LoginResponse =
            from_members(json!({"access_token": KNOWN_SECRET, "expires": 60}));
        let debug = format!("{response:?}");
        assert_redacted("biq_auth LoginResponse", debug.clone());
        assert!(
            debug.contains("expires"),
            "other members still print: {debug}"
        );
        assert_redacted(
            "biq_auth builder::LoginResponse",
            format!("{:?}", builder::LoginResponse::from(response)),
        );
    }
    {
        use customer_data::carmachain::types::{TokenResponse, builder};
        let response: TokenResponse = from_members(json!({"token": KNOWN_SECRET}));
        assert_redacted("carmachain TokenResponse", format!("{response:?}"));
        assert_redacted(
            "carmachain builder::TokenResponse",
            format!("{:?}", builder::TokenResponse::from(response)),
        );
    }
    {
        use customer_data::consumer_intelligence::types::{CreatedWebhook, builder};
        let webhook: CreatedWebhook = from_members(json!({
            "id": "wh-1", "url": "https://example.test/hook", "events": [],
            "secret": KNOWN_SECRET
        }));
        let debug = format!("{webhook:?}");
        assert_redacted("consumer_intelligence CreatedWebhook", debug.clone());
        assert!(debug.contains("wh-1"), "other members still print: {debug}");
        assert_redacted(
            "consumer_intelligence builder::CreatedWebhook",
            format!("{:?}", builder::CreatedWebhook::from(webhook)),
        );
    }
}

/// One generated SOAP type per secret element the registry declares
/// (`codegen/src/services.rs`, `ACCOUNTSIQ_SECRET_ELEMENTS`), in both WSDLs. Every other type
/// with such a member is checked by `every_generated_type_with_a_secret_member_redacts_it`.
#[test]
fn generated_soap_types_redact_their_declared_secrets() {
    use serde_json::json;
    {
        use customer_data::accountsiq_v1_1::types::{GetCustomer, Login, LoginResponse};
        let login: Login = from_members(json!({
            "companyID": "C1", "partnerKey": KNOWN_SECRET, "userKey": KNOWN_SECRET
        }));
        assert_redacted("accountsiq_v1_1 Login", format!("{login:?}"));
        let response: LoginResponse = from_members(json!({"LoginResult": KNOWN_SECRET}));
        assert_redacted("accountsiq_v1_1 LoginResponse", format!("{response:?}"));
        let request: GetCustomer =
            from_members(json!({"token": KNOWN_SECRET, "customerCode": "K1"}));
        assert_redacted("accountsiq_v1_1 GetCustomer", format!("{request:?}"));
    }
    {
        use customer_data::accountsiq_v2_0::types::{
            AiqSoapHeader, GetCustomer, TokenGet, TokenGetResponse, TokenRefresh,
            TokenRefreshResponse,
        };
        let header: AiqSoapHeader =
            from_members(json!({"Entity": "E1", "AccessToken": KNOWN_SECRET}));
        assert_redacted("accountsiq_v2_0 AiqSoapHeader", format!("{header:?}"));
        let get: TokenGet = from_members(json!({"clientId": "id", "clientSecret": KNOWN_SECRET}));
        assert_redacted("accountsiq_v2_0 TokenGet", format!("{get:?}"));
        let refresh: TokenRefresh = from_members(json!({
            "clientId": "id", "clientSecret": KNOWN_SECRET, "refreshToken": KNOWN_SECRET
        }));
        assert_redacted("accountsiq_v2_0 TokenRefresh", format!("{refresh:?}"));
        for (what, debug) in [
            (
                "accountsiq_v2_0 TokenGetResponse",
                format!(
                    "{:?}",
                    from_members::<TokenGetResponse>(
                        json!({"AccessToken": KNOWN_SECRET, "RefreshToken": KNOWN_SECRET})
                    )
                ),
            ),
            (
                "accountsiq_v2_0 TokenRefreshResponse",
                format!(
                    "{:?}",
                    from_members::<TokenRefreshResponse>(
                        json!({"AccessToken": KNOWN_SECRET, "RefreshToken": KNOWN_SECRET})
                    )
                ),
            ),
        ] {
            assert_redacted(what, debug);
        }
        let request: GetCustomer =
            from_members(json!({"token": KNOWN_SECRET, "customerCode": "K1"}));
        assert_redacted("accountsiq_v2_0 GetCustomer", format!("{request:?}"));
    }
}
