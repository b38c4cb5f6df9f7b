//! The auth layer against the sandbox twins with short token lifetimes: expiry in the middle
//! of a run, 401 replay, concurrent cold start, refresh-token rotation, bad credentials,
//! AccountsIQ `HasExpired`, and bLink without a client certificate. Token requests are
//! counted on the server side (`Sandbox::requests`).

// The generated clients' errors carry whole responses.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use customer_data::runtime::Error;
use customer_data::runtime::auth::AuthError;
use customer_data::runtime::soap::SoapError;
use customer_data_sandbox::{Lifetimes, Sandbox, SandboxConfig, credentials};

async fn sandbox(lifetimes: Lifetimes) -> Sandbox {
    Sandbox::start(SandboxConfig {
        lifetimes,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts")
}

fn short(f: impl FnOnce(&mut Lifetimes)) -> Lifetimes {
    let mut lifetimes = Lifetimes::default();
    f(&mut lifetimes);
    lifetimes
}

fn assert_rejected<E: std::fmt::Debug>(error: &Error<E>)
where
    progenitor_client::ResponseValue<E>: std::fmt::Debug,
{
    assert!(
        matches!(error, Error::Auth(AuthError::Rejected { .. })),
        "expected a typed rejection, got {error}"
    );
}

mod consumer_intelligence {
    use super::*;
    use customer_data::consumer_intelligence::{Client, Credentials, Environment, SLUG, connect};

    const TOKEN: &str = "/oauth/token";

    fn client(sandbox: &Sandbox, secret: &str) -> Client {
        let base_url = sandbox.url(SLUG);
        let token_url = format!("{base_url}/oauth/token");
        connect(
            Environment::Custom {
                base_url,
                token_url,
            },
            Credentials::new(credentials::CONSUMER_INTELLIGENCE_CLIENT_ID, secret),
        )
        .unwrap()
    }

    async fn list(
        client: &Client,
    ) -> Result<usize, Error<customer_data::consumer_intelligence::types::Problem>> {
        Ok(client
            .list_consumers()
            .page_size(10)
            .send()
            .await?
            .data
            .len())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_on_a_cold_client_cause_one_token_request() {
        let sandbox = sandbox(Lifetimes::default()).await;
        let client = Arc::new(client(
            &sandbox,
            credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        ));
        let calls: Vec<_> = (0..200)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { list(&client).await.map(|_| ()) })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        assert_eq!(sandbox.requests(SLUG, TOKEN), 1);
        assert_eq!(sandbox.requests(SLUG, "/consumers"), 200);
    }

    #[tokio::test]
    async fn tokens_expiring_in_the_middle_of_a_run_are_renewed_without_a_failed_call() {
        let sandbox = sandbox(short(|l| l.consumer_intelligence = Duration::from_secs(1))).await;
        let client = client(&sandbox, credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET);
        let started = tokio::time::Instant::now();
        let mut calls = 0;
        while started.elapsed() < Duration::from_millis(3500) {
            list(&client)
                .await
                .expect("every call succeeds across expiries");
            calls += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let tokens = sandbox.requests(SLUG, TOKEN);
        // Renewed at half of the 1 s life (shorter than the refresh margin): ~7 in 3.5 s.
        assert!(
            (3..=12).contains(&tokens),
            "{tokens} token requests for {calls} calls"
        );
        assert!(calls > 20, "{calls}");
    }

    #[tokio::test]
    async fn a_401_renews_the_token_and_replays_the_call_once() {
        let sandbox = sandbox(Lifetimes::default()).await;
        let client = client(&sandbox, credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET);
        list(&client).await.unwrap();
        // The vendor revokes every token: the cached one is now refused.
        let revoked = customer_data::runtime::http::default_client()
            .unwrap()
            .post(format!("{}/sandbox/tokens/revoke", sandbox.url(SLUG)))
            .header(
                customer_data_sandbox::sandbox_only::KEY_HEADER,
                sandbox.sandbox_key(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status().as_u16(), 204);
        list(&client).await.expect("the replay succeeds");
        assert_eq!(sandbox.requests(SLUG, TOKEN), 2);
        assert_eq!(
            sandbox.requests(SLUG, "/consumers"),
            3,
            "first call, refused, replay"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_credentials_are_a_typed_error_at_once_and_never_a_login_loop() {
        let sandbox = sandbox(Lifetimes::default()).await;
        let client = Arc::new(client(&sandbox, "wrong-secret"));
        let calls: Vec<_> = (0..50)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { list(&client).await })
            })
            .collect();
        for call in calls {
            let error = call.await.unwrap().unwrap_err();
            assert_rejected(&error);
            assert_eq!(error.status().map(|s| s.as_u16()), Some(401), "{error}");
        }
        assert_eq!(
            sandbox.requests(SLUG, TOKEN),
            1,
            "one refused token request"
        );
        assert_eq!(sandbox.requests(SLUG, "/consumers"), 0, "no call was sent");
    }
}

mod biq {
    use super::*;
    use customer_data::biq::{Environment, Session};

    fn session(sandbox: &Sandbox, key: &str) -> Session {
        Session::new(
            Environment::Custom {
                auth: sandbox.url("biq_auth"),
                customer_shadow: sandbox.url("biq_customer_shadow"),
                alert_changes: sandbox.url("biq_alert_changes"),
            },
            key,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn one_jwt_serves_both_services_names_the_tenant_and_is_renewed_at_exp() {
        let sandbox = sandbox(short(|l| l.biq = Duration::from_secs(2))).await;
        let session = session(&sandbox, credentials::BIQ_API_KEY);
        let tenant = session.tenant_id().await.unwrap();
        assert_eq!(tenant, credentials::BIQ_TENANT_ID);
        let shadow = session.customer_shadow().unwrap();
        let changes = session.alert_changes().unwrap();
        let started = tokio::time::Instant::now();
        while started.elapsed() < Duration::from_millis(4500) {
            shadow
                .list_shadow_sources()
                .tenant_id(&tenant)
                .send()
                .await
                .expect("CustomerShadow call across JWT expiries");
            changes
                .next_approved_changes()
                .tenant_id(&tenant)
                .shadow_source_id(1)
                .body(customer_data::biq_alert_changes::types::NextRequest {
                    from: chrono::DateTime::UNIX_EPOCH,
                })
                .send()
                .await
                .map(|_| ())
                .or_else(|e| match e.status().map(|s| s.as_u16()) {
                    // An unknown shadow source is the twin's answer, not an auth failure.
                    Some(404) => Ok(()),
                    _ => Err(e),
                })
                .expect("AlertChanges call across JWT expiries");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let logins = sandbox.requests("biq_auth", "/api/auth/login");
        assert!(
            (2..=8).contains(&logins),
            "{logins} logins in 4.5 s of a 2 s JWT"
        );
    }

    #[tokio::test]
    async fn a_wrong_api_key_is_a_typed_rejection() {
        let sandbox = sandbox(Lifetimes::default()).await;
        let session = session(&sandbox, "not-the-key");
        let error = session.tenant_id().await.unwrap_err();
        assert!(matches!(error, AuthError::Rejected { .. }), "{error}");
        let shadow = session.customer_shadow().unwrap();
        let error = shadow
            .list_shadow_sources()
            .tenant_id("t")
            .send()
            .await
            .unwrap_err();
        assert_rejected(&error);
        assert_eq!(
            sandbox.requests("biq_auth", "/api/auth/login"),
            1,
            "refusal remembered"
        );
    }
}

mod carmachain {
    use super::*;
    use customer_data::carmachain::{SLUG, connect, types};

    #[tokio::test]
    async fn the_peer_token_is_fetched_once_and_the_token_operation_stays_anonymous() {
        let sandbox = sandbox(Lifetimes::default()).await;
        let client = connect(&sandbox.url(SLUG)).unwrap();
        for _ in 0..3 {
            client
                .create_request()
                .body(types::CreateRequest {
                    type_request: types::TypeRequest::Array(vec![types::DataCategory::Name]),
                    value: vec![types::PersonQuery {
                        phone_number: Some("+380990000001".into()),
                        ..Default::default()
                    }],
                })
                .send()
                .await
                .unwrap();
        }
        client.get_token().send().await.unwrap();
        // One token for the calls, plus the explicit getToken (which needs none itself).
        assert_eq!(sandbox.requests(SLUG, "/auth/getToken"), 2);
    }
}

mod accountsiq {
    use super::*;
    use customer_data::accountsiq_v1_1::Endpoint;
    use customer_data::{accountsiq_v1_1 as v1_1, accountsiq_v2_0 as v2_0};

    fn v1_1_session(sandbox: &Sandbox, partner_key: &str, user_key: &str) -> v1_1::Session {
        let credentials =
            v1_1::Credentials::new(credentials::ACCOUNTSIQ_COMPANY_ID, partner_key, user_key);
        v1_1::Session::new(&Endpoint::Custom(sandbox.url(v1_1::SLUG)), credentials).unwrap()
    }

    /// `GetCustomerList`, which takes the session token in its body.
    async fn v1_1_list(session: &v1_1::Session) -> Result<bool, SoapError> {
        session
            .call(async |client, token| {
                client
                    .get_customer_list(&v1_1::types::GetCustomerList {
                        token: Some(token.into()),
                    })
                    .await
            })
            .await
            .map(|list| list.is_some())
    }

    fn v2_0_session(sandbox: &Sandbox, client_secret: &str) -> v2_0::Session {
        let credentials = v2_0::Credentials::new(
            credentials::ACCOUNTSIQ_CLIENT_ID,
            client_secret,
            credentials::ACCOUNTSIQ_COMPANY_ID,
        );
        v2_0::Session::new(&Endpoint::Custom(sandbox.url(v2_0::SLUG)), credentials).unwrap()
    }

    /// `GetActiveCustomerList`, which takes the access token in the `AiqSoapHeader`.
    async fn v2_0_list(session: &v2_0::Session) -> Result<(), SoapError> {
        session
            .call(async |client| {
                client
                    .get_active_customer_list(&v2_0::types::GetActiveCustomerList { token: None })
                    .await
            })
            .await
            .map(|_| ())
    }

    #[tokio::test]
    async fn v1_1_has_expired_logs_in_again_and_replays_once() {
        // The twin ends sessions after 1 s; the client believes the documented 20 minutes,
        // so only the `HasExpired` answer can tell it.
        let sandbox = sandbox(short(|l| l.accountsiq_session = Duration::from_secs(1))).await;
        let session = v1_1_session(
            &sandbox,
            credentials::ACCOUNTSIQ_PARTNER_KEY,
            credentials::ACCOUNTSIQ_USER_KEY,
        );
        assert!(v1_1_list(&session).await.unwrap());
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert!(
            v1_1_list(&session)
                .await
                .expect("replayed after HasExpired")
        );
        assert_eq!(sandbox.requests(v1_1::SLUG, "Login"), 2);
        assert_eq!(sandbox.requests(v1_1::SLUG, "GetCustomerList"), 3);
    }

    #[tokio::test]
    async fn v1_1_wrong_keys_are_a_typed_rejection() {
        let sandbox = sandbox(Lifetimes::default()).await;
        let session = v1_1_session(&sandbox, "wrong", "wrong");
        let error = v1_1_list(&session).await.unwrap_err();
        assert!(
            matches!(error, SoapError::Auth(AuthError::Rejected { .. })),
            "{error}"
        );
        assert_eq!(sandbox.requests(v1_1::SLUG, "GetCustomerList"), 0);
    }

    #[tokio::test]
    async fn v2_0_renews_with_rotating_refresh_tokens_and_replays() {
        let sandbox = sandbox(short(|l| l.accountsiq_access = Duration::from_secs(1))).await;
        let session = v2_0_session(&sandbox, credentials::ACCOUNTSIQ_CLIENT_SECRET);
        v2_0_list(&session).await.unwrap();
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            v2_0_list(&session)
                .await
                .expect("renewed by TokenRefresh and replayed");
        }
        assert_eq!(sandbox.requests(v2_0::SLUG, "TokenGet"), 1);
        // Each refresh used the refresh token the previous one handed out (the twin revokes
        // the old one), so rotation works.
        assert_eq!(sandbox.requests(v2_0::SLUG, "TokenRefresh"), 2);

        let error = v2_0_list(&v2_0_session(&sandbox, "wrong"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, SoapError::Auth(AuthError::Rejected { .. })),
            "{error}"
        );
    }
}

mod blink {
    use super::*;
    use customer_data::blink_customer_management::{ClientIdentity, Config, Grant, SLUG, connect};
    use customer_data::runtime::ConnectError;

    fn config(base_url: String) -> Config {
        Config::new(
            base_url,
            credentials::BLINK_CLIENT_ID,
            "auth-test",
            credentials::BLINK_TARGET_ID,
            Grant::AuthorizationCode(credentials::BLINK_AUTHORIZATION_CODE.into()),
        )
    }

    #[tokio::test]
    async fn the_code_is_exchanged_once_then_rotating_refresh_tokens_renew_access() {
        let sandbox = sandbox(short(|l| l.blink_access = Duration::from_secs(1))).await;
        let client = connect(config(sandbox.url(SLUG))).unwrap();
        let started = tokio::time::Instant::now();
        let mut calls = 0;
        while started.elapsed() < Duration::from_millis(3500) {
            // No bLink header is set here: the layer sends all of them (the twin refuses a
            // call without any of them).
            client
                .get_healthcheck()
                .send()
                .await
                .expect("every call succeeds across expiries");
            calls += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The code is single-use at the twin: every renewal after the first token used (and
        // rotated) a refresh token, or a call would have failed.
        let tokens = sandbox.requests(SLUG, "/oauth/token");
        assert!(
            (3..=12).contains(&tokens),
            "{tokens} token requests, {calls} calls"
        );
    }

    #[tokio::test]
    async fn errors_name_the_correlation_id_and_a_call_may_set_its_own() {
        let sandbox = sandbox(Lifetimes::default()).await;
        let client = connect(config(sandbox.url(SLUG))).unwrap();
        let error = client
            .get_customer_by_customer_id()
            .customer_id("no-such-customer")
            .send()
            .await
            .unwrap_err();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(404), "{error}");
        let id = error
            .correlation_id()
            .expect("the error names its correlation id");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        assert!(error.to_string().contains(id), "{error}");
        let own = client
            .get_healthcheck()
            .x_correlation_id("my-own-id")
            .send()
            .await
            .unwrap();
        assert_eq!(own.headers()["x-correlation-id"], "my-own-id");
    }

    #[test]
    fn https_without_a_client_certificate_is_refused_before_anything_is_sent() {
        let error =
            connect(config("https://blink.example/customer-management".into())).unwrap_err();
        assert!(
            matches!(error, ConnectError::MissingClientIdentity { service } if service == SLUG),
            "{error}"
        );
        let error = ClientIdentity::from_pem(b"not a certificate", b"not a key").unwrap_err();
        assert!(matches!(error, ConnectError::ClientIdentity(_)), "{error}");
        let error =
            ClientIdentity::from_files("/no/such/cert.pem", "/no/such/key.pem").unwrap_err();
        assert!(error.to_string().contains("/no/such/cert.pem"), "{error}");
    }

    #[tokio::test]
    async fn a_used_code_without_a_refresh_token_is_a_typed_rejection() {
        let sandbox = sandbox(Lifetimes::default()).await;
        // Another client already exchanged the single-use code.
        connect(config(sandbox.url(SLUG)))
            .unwrap()
            .get_healthcheck()
            .send()
            .await
            .unwrap();
        let late = connect(config(sandbox.url(SLUG))).unwrap();
        let error = late.get_healthcheck().send().await.unwrap_err();
        assert_rejected(&error);
        assert_eq!(error.status().map(|s| s.as_u16()), Some(400), "{error}");
    }
}
