//! The main job: every service, end to end, through its generated client.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! With no credentials in the environment it starts the local sandbox in-process and runs
//! against its twins. Per service, the vendor's real endpoint is used instead when that
//! service's credentials are set (see the README's "Real endpoints" table); nothing else
//! changes.

use std::time::Duration;

use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One service's outcome, printed as a short report.
struct Report {
    service: &'static str,
    target: String,
    lines: Vec<String>,
}

impl Report {
    fn new(service: &'static str, target: impl Into<String>) -> Self {
        Self {
            service,
            target: target.into(),
            lines: Vec::new(),
        }
    }
    fn line(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }
    fn print(&self) {
        println!("== {} ({})", self.service, self.target);
        for line in &self.lines {
            println!("   {line}");
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let sandbox = match Sandbox::start(SandboxConfig::default()).await {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("cannot start the local sandbox: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "customer-data quickstart — local sandbox at http://{}\n",
        sandbox.addr()
    );
    let runs: Vec<(&str, Result<Report>)> = vec![
        (
            "Consumer Intelligence",
            consumer_intelligence(&sandbox).await,
        ),
        ("BiQ Alert", biq(&sandbox).await),
        ("CarmaChain", carmachain(&sandbox).await),
        ("AccountsIQ v1.1", accountsiq_v1_1(&sandbox).await),
        ("AccountsIQ v2.0", accountsiq_v2_0(&sandbox).await),
        ("SIX bLink Customer Management", blink(&sandbox).await),
    ];
    let mut failed = 0;
    for (service, run) in runs {
        match run {
            Ok(report) => report.print(),
            Err(e) => {
                failed += 1;
                println!("== {service}: FAILED: {e}");
            }
        }
        println!();
    }
    sandbox.shutdown().await;
    if failed == 0 {
        println!("all services OK");
        std::process::ExitCode::SUCCESS
    } else {
        println!("{failed} service(s) failed");
        std::process::ExitCode::FAILURE
    }
}

async fn consumer_intelligence(sandbox: &Sandbox) -> Result<Report> {
    use customer_data::consumer_intelligence::{Credentials, Environment, connect, types};
    // Real endpoint when CI_CLIENT_ID / CI_CLIENT_SECRET are set, else the local twin.
    let (environment, credentials) = match Credentials::from_env() {
        Ok(credentials) => (Environment::from_env()?, credentials),
        Err(_) => {
            let base_url = sandbox.url("consumer_intelligence");
            let token_url = format!("{base_url}/oauth/token");
            (
                Environment::Custom {
                    base_url,
                    token_url,
                },
                Credentials::new(
                    credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
                    credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
                ),
            )
        }
    };
    let local =
        matches!(environment, Environment::Custom { .. }) && Credentials::from_env().is_err();
    let mut report = Report::new("Consumer Intelligence V3", environment.base_url());
    // Tokens (client credentials, scope bci) are fetched, cached and renewed by the client.
    let client = connect(environment, credentials)?;

    // Against the sandbox, also receive its webhooks (a real account needs a public URL).
    let webhook = if local {
        Some(webhook::listen(&client).await?)
    } else {
        None
    };

    // Upload two known people of the register and one unknown, then watch them identify.
    let register = customer_data_sandbox::synthetic::population(SandboxConfig::default().seed, 3);
    let mut batch = Vec::new();
    for (i, person) in register.iter().take(2).enumerate() {
        batch.push(types::UploadConsumerDto {
            consumer_id: format!("quickstart-{i}").parse()?,
            market: person.market.parse()?,
            data: types::ConsumerDataDto::builder()
                .legal_id(Some(person.legal_id.parse()?))
                .try_into()?,
        });
    }
    batch.push(types::UploadConsumerDto {
        consumer_id: "quickstart-unknown".parse()?,
        market: "SE".parse()?,
        data: types::ConsumerDataDto::builder()
            .legal_id(Some("190001010000".parse()?))
            .try_into()?,
    });
    client.upload_consumers().body(batch).send().await?;
    report.line("uploaded 3 consumers");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let page = client.list_consumers().page_size(100).send().await?;
    for consumer in &page.data {
        report.line(format!(
            "consumer {} -> {:?}",
            consumer.consumer_id,
            consumer.state.as_ref().map(ToString::to_string)
        ));
    }
    let persons = client
        .list_subscribed_persons()
        .page_size(10)
        .send()
        .await?;
    report.line(format!(
        "subscribed persons: {} (resume cursor {})",
        persons.data.len(),
        persons.next_page_token.as_deref().unwrap_or("none")
    ));
    // Remove the consumer nobody matched: `DELETE /consumers` (path from the vendor's migration
    // guide) with the ids as a JSON body. The guide does not say body or query, so a refusal is
    // reported, not fatal (see specs/README.md).
    let deleted = client
        .delete_consumers()
        .body(types::DeleteConsumersDto {
            consumer_ids: vec!["quickstart-unknown".parse()?],
        })
        .send()
        .await;
    report.line(match deleted {
        Ok(answer) => format!(
            "deleted consumer quickstart-unknown (DELETE /consumers, {})",
            answer.status()
        ),
        Err(error) => {
            format!("delete consumers failed (the body form is unconfirmed by the vendor): {error}")
        }
    });
    if let Some(webhook) = webhook {
        for line in webhook.settle(sandbox).await? {
            report.line(line);
        }
    }
    Ok(report)
}

/// The sandbox's signed webhook deliveries, received with `consumer_intelligence::webhook`.
mod webhook {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use customer_data::consumer_intelligence::webhook::{
        ConstructionCheck, Receiver, Verifier, WebhookEvent, WebhookSecret, check_construction,
    };
    use customer_data::consumer_intelligence::{Client, types};
    use customer_data_sandbox::Sandbox;

    use super::Result;

    pub struct Listening {
        id: String,
        events: Arc<Mutex<BTreeMap<String, usize>>>,
        check: Arc<Mutex<Option<ConstructionCheck>>>,
    }

    /// Serves a receiver on a loopback port and registers it for every event type.
    pub async fn listen(client: &Client) -> Result<Listening> {
        let receiver: Arc<OnceLock<Receiver>> = Arc::default();
        let secret: Arc<OnceLock<WebhookSecret>> = Arc::default();
        let check: Arc<Mutex<Option<ConstructionCheck>>> = Arc::default();
        let (slot, key, checked) = (receiver.clone(), secret.clone(), check.clone());
        // Until create_webhook has answered, the secret is unknown: answer 503 and the
        // delivery (the PING) is resent.
        let route =
            axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
                let (slot, key, checked) = (slot.clone(), key.clone(), checked.clone());
                async move {
                    let (Some(receiver), Some(secret)) = (slot.get(), key.get()) else {
                        return (http::StatusCode::SERVICE_UNAVAILABLE, String::new());
                    };
                    if body.windows(6).any(|w| w == b"\"PING\"") {
                        let found = check_construction(secret, &headers, &body);
                        checked
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(found);
                    }
                    let outcome = receiver.receive(&headers, &body).await;
                    (outcome.status(), outcome.message())
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/ci-webhook", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, axum::Router::new().route("/ci-webhook", route)).await;
        });
        let created = client
            .create_webhook()
            .body(types::CreateWebhookDto {
                url,
                events: vec![types::WebhookEventTypeDto::X],
                description: Some("quickstart".into()),
            })
            .send()
            .await?
            .into_inner();
        let events: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let seen = events.clone();
        let handler = move |event: WebhookEvent| {
            let seen = seen.clone();
            async move {
                *seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(event.event_type().to_string())
                    .or_default() += 1;
                Ok::<(), std::io::Error>(())
            }
        };
        let _ = secret.set(WebhookSecret::new(created.secret.clone()));
        let _ = receiver.set(Receiver::new(Verifier::new(created.secret), handler));
        Ok(Listening {
            id: created.id,
            events,
            check,
        })
    }

    impl Listening {
        /// Waits until the sandbox has delivered everything; reports what arrived.
        pub async fn settle(self, sandbox: &Sandbox) -> Result<Vec<String>> {
            let status_url = format!(
                "{}/sandbox/webhooks/{}/deliveries",
                sandbox.url("consumer_intelligence"),
                self.id
            );
            let http = customer_data::runtime::http::default_client()?;
            for _ in 0..200 {
                let status: serde_json::Value = http
                    .get(&status_url)
                    .header(
                        customer_data_sandbox::sandbox_only::KEY_HEADER,
                        sandbox.sandbox_key(),
                    )
                    .send()
                    .await?
                    .json()
                    .await?;
                if status["queued"] == 0 && status["inFlight"] == false {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let check = self.check.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let events = self
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if check != Some(ConstructionCheck::Default) {
                return Err(format!("the PING did not verify as expected: {check:?}").into());
            }
            let summary: Vec<String> = events.iter().map(|(t, n)| format!("{t} x{n}")).collect();
            Ok(vec![
                "webhook: PING received, signature verified (default construction)".to_string(),
                format!("webhook events, each handled once: {}", summary.join(", ")),
            ])
        }
    }
}

async fn biq(sandbox: &Sandbox) -> Result<Report> {
    use customer_data::biq::{Environment, Session};
    use customer_data::biq_alert_changes::{EventPayload, TypedPayload};
    // Real endpoint when BIQ_API_KEY is set, else the local twins.
    let session = if env("BIQ_API_KEY").is_some() {
        Session::from_env()?
    } else {
        Session::new(
            Environment::Custom {
                auth: sandbox.url("biq_auth"),
                customer_shadow: sandbox.url("biq_customer_shadow"),
                alert_changes: sandbox.url("biq_alert_changes"),
            },
            credentials::BIQ_API_KEY,
        )?
    };
    let environment = session.environment().clone();
    let mut report = Report::new("BiQ Alert", environment.customer_shadow_url());
    // The api key is exchanged for a JWT on first use; the tenant comes from its claims.
    let tenant = session.tenant_id().await?;
    report.line(format!("login: JWT received for tenant {tenant}"));
    let shadow = session.customer_shadow()?;
    let sources = shadow
        .list_shadow_sources()
        .tenant_id(&tenant)
        .send()
        .await?;
    let source = sources
        .first()
        .and_then(|s| s.id)
        .ok_or("no shadow source")?;
    report.line(format!(
        "{} shadow source(s); using {source}",
        sources.len()
    ));
    let customer: customer_data::biq_customer_shadow::types::Customer = serde_json::from_value(
        serde_json::json!({
            "customerNumber": "QS-0001",
            "customerCategoryText": "Residential",
            "contact1": {"name": "Ingrid Solberg", "address": {"street": "Storgata", "houseNumber": "12", "postalCode": "0155", "postalCity": "Oslo", "countryCode": "NO"}}
        }),
    )?;
    shadow
        .create_customer()
        .tenant_id(&tenant)
        .shadow_source_id(source)
        .body(customer)
        .send()
        .await?;
    report.line("created shadow customer QS-0001");

    let changes = session.alert_changes()?;
    if matches!(environment, Environment::Custom { .. }) {
        // Sandbox only: script a few changes so the feed has something to say (sent through
        // the session's layer, so it carries the same JWT).
        let mut request = reqwest::Request::new(
            reqwest::Method::POST,
            format!(
                "{}/sandbox/tenants/{tenant}/script",
                environment.alert_changes_url()
            )
            .parse()?,
        );
        *request.body_mut() = Some(r#"{"count": 3}"#.into());
        request.headers_mut().insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        // The sandbox's own routes take its key, besides the vendor's JWT.
        request.headers_mut().insert(
            customer_data_sandbox::sandbox_only::KEY_HEADER,
            reqwest::header::HeaderValue::from_str(sandbox.sandbox_key())?,
        );
        let info = customer_data::runtime::layer::OperationInfo {
            operation_id: "sandbox_script",
        };
        session
            .layer(&customer_data::biq_alert_changes::SERVICE_RULES)
            .send::<()>(session.http(), request, &info)
            .await?
            .error_for_status()?;
    }
    let mut from: chrono::DateTime<chrono::Utc> = chrono::DateTime::UNIX_EPOCH;
    let mut seen = 0;
    loop {
        let batch = changes
            .next_approved_changes()
            .tenant_id(&tenant)
            .shadow_source_id(source)
            .body(customer_data::biq_alert_changes::types::NextRequest { from })
            .send()
            .await?;
        for change in batch.approved_changes.iter().flatten() {
            seen += 1;
            let kind = match change.typed_payload() {
                EventPayload::Unknown { event_type, .. } => format!("unknown event {event_type}"),
                typed => format!("{:?}", typed)
                    .split('(')
                    .next()
                    .unwrap_or("")
                    .to_string(),
            };
            report.line(format!(
                "approved change for {}: {kind}",
                change.customer_number.as_deref().unwrap_or("?")
            ));
            if let Some(committed) = change.committed {
                from = committed;
            }
        }
        if !batch.more {
            break;
        }
    }
    report.line(format!(
        "feed read to the end: {seen} change(s); next run resumes from {from}"
    ));
    Ok(report)
}

async fn carmachain(sandbox: &Sandbox) -> Result<Report> {
    use customer_data::carmachain::types;
    let base = env("CARMACHAIN_BASE_URL").unwrap_or_else(|| sandbox.url("carmachain"));
    let mut report = Report::new("CarmaChain", &base);
    // The peer module hands out the token itself; the client fetches and renews it.
    let client = customer_data::carmachain::connect(&base)?;
    let created = client
        .create_request()
        .body(types::CreateRequest {
            type_request: types::TypeRequest::Array(vec![
                types::DataCategory::Name,
                types::DataCategory::Address,
            ]),
            value: vec![types::PersonQuery {
                phone_number: Some("+380990000001".into()),
                ..Default::default()
            }],
        })
        .send()
        .await?;
    let ids: Vec<String> = created
        .parametr_request
        .iter()
        .filter_map(|r| r.id_request.clone())
        .collect();
    report.line(format!("request(s) created: {}", ids.join(", ")));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = client
            .respond()
            .body(types::RespondRequest {
                id_request: ids.clone(),
                type_request: None,
                period: None,
            })
            .send()
            .await?;
        let done = answer
            .parametr_request
            .iter()
            .all(|r| r.status == Some(types::RequestStatus::Done));
        if done {
            for detail in answer
                .parametr_request
                .iter()
                .flat_map(|r| &r.request_details)
            {
                report.line(format!(
                    "{}: {}",
                    detail.field_name.as_deref().unwrap_or("?"),
                    detail.field_value.as_deref().unwrap_or("")
                ));
            }
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err("CarmaChain answers did not arrive in time".into());
        }
        report.line("still Panding; polling again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(report)
}

async fn accountsiq_v1_1(sandbox: &Sandbox) -> Result<Report> {
    use customer_data::accountsiq_v1_1::{Credentials, Endpoint, Session, types};
    // Real endpoint when AIQ_REGION and the three Login keys are set, else the local twin.
    let session = if env("AIQ_PARTNER_KEY").is_some() {
        Session::from_env()?
    } else {
        Session::new(
            &Endpoint::Custom(sandbox.url("accountsiq_v1_1")),
            Credentials::new(
                credentials::ACCOUNTSIQ_COMPANY_ID,
                credentials::ACCOUNTSIQ_PARTNER_KEY,
                credentials::ACCOUNTSIQ_USER_KEY,
            ),
        )?
    };
    let mut report = Report::new("AccountsIQ v1.1 (SOAP)", session.client().endpoint());
    // Login happens on the first call; HasExpired logs in again and replays the call.
    let customers = session
        .call(async |client, token| {
            client
                .get_customer_list(&types::GetCustomerList {
                    token: Some(token.into()),
                })
                .await
        })
        .await?;
    report.line("Login: session token received (20 minutes), renewed by the session");
    let list = customers.map(|c| c.customer).unwrap_or_default();
    report.line(format!("{} customer(s)", list.len()));
    if let Some(mut first) = list.into_iter().next() {
        first.phone = Some("+41 44 000 00 00".into());
        session
            .call(async |client, token| {
                client
                    .update_customer(&types::UpdateCustomer {
                        token: Some(token.into()),
                        customer: Some(first.clone()),
                        create: false,
                    })
                    .await
            })
            .await?;
        let read = session
            .call(async |client, token| {
                client
                    .get_customer(&types::GetCustomer {
                        token: Some(token.into()),
                        customer_code: first.code.clone(),
                    })
                    .await
            })
            .await?;
        report.line(format!(
            "updated {} and read it back: phone {}",
            first.code.as_deref().unwrap_or("?"),
            read.and_then(|c| c.phone).unwrap_or_default()
        ));
    }
    Ok(report)
}

async fn accountsiq_v2_0(sandbox: &Sandbox) -> Result<Report> {
    use customer_data::accountsiq_v2_0::{Credentials, Endpoint, Session, types};
    // Real endpoint when AIQ_CLIENT_ID / AIQ_CLIENT_SECRET are set, else the local twin.
    let session = if env("AIQ_CLIENT_ID").is_some() {
        Session::from_env()?
    } else {
        Session::new(
            &Endpoint::Custom(sandbox.url("accountsiq_v2_0")),
            Credentials::new(
                credentials::ACCOUNTSIQ_CLIENT_ID,
                credentials::ACCOUNTSIQ_CLIENT_SECRET,
                credentials::ACCOUNTSIQ_COMPANY_ID,
            ),
        )?
    };
    let mut report = Report::new("AccountsIQ v2.0 (SOAP)", session.client().endpoint());
    // TokenGet on first use, TokenRefresh before expiry; the AiqSoapHeader is set per call.
    let customers = session
        .call(async |client| {
            client
                .get_active_customer_list(&types::GetActiveCustomerList { token: None })
                .await
        })
        .await?;
    report.line(format!(
        "{} active customer(s), read with the AiqSoapHeader",
        customers.map(|c| c.customer.len()).unwrap_or(0)
    ));
    Ok(report)
}

async fn blink(sandbox: &Sandbox) -> Result<Report> {
    use customer_data::blink_customer_management::{Config, Grant, connect, next_cursor};
    // Real bLink when BLINK_BASE_URL is set (with a consent code, a client certificate and
    // the other BLINK_* variables), else the local twin.
    let config = if env("BLINK_BASE_URL").is_some() {
        Config::from_env()?
    } else {
        Config::new(
            sandbox.url("blink_customer_management"),
            credentials::BLINK_CLIENT_ID,
            "quickstart",
            credentials::BLINK_TARGET_ID,
            Grant::AuthorizationCode(credentials::BLINK_AUTHORIZATION_CODE.into()),
        )
    };
    let mut report = Report::new("SIX bLink Customer Management", &config.base_url);
    // The consent code is exchanged on first use; every call gets the bLink headers and a
    // fresh X-Correlation-ID from the client.
    let client = connect(config)?;
    let mut cursor: Option<String> = None;
    let mut customers = 0;
    let mut pages = 0;
    loop {
        let mut call = client.get_customers();
        if let Some(c) = cursor.take() {
            call = call.cursor(c);
        }
        let page = call.send().await?;
        pages += 1;
        customers += page.len();
        match next_cursor(&page) {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    report.line(format!(
        "{customers} customer(s) in {pages} page(s), followed by cursor"
    ));
    let health = client.get_healthcheck().send().await?;
    report.line(format!("healthcheck: {:?}", health.timestamp));
    Ok(report)
}
