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

/// A reqwest client from the shared builder with extra default headers.
fn http_with(headers: &[(&str, String)]) -> Result<reqwest::Client> {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes())?,
            value.parse()?,
        );
    }
    Ok(customer_data::runtime::http::client_builder()
        .default_headers(map)
        .build()?)
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
    use customer_data::consumer_intelligence::{Client, types};
    let (base, token_url, id, secret) = match (env("CI_CLIENT_ID"), env("CI_CLIENT_SECRET")) {
        (Some(id), Some(secret)) => (
            customer_data::consumer_intelligence::SANDBOX_URL.to_string(),
            customer_data::consumer_intelligence::SANDBOX_TOKEN_URL.to_string(),
            id,
            secret,
        ),
        _ => {
            let base = sandbox.url("consumer_intelligence");
            let token_url = format!("{base}/oauth/token");
            (
                base,
                token_url,
                credentials::CONSUMER_INTELLIGENCE_CLIENT_ID.into(),
                credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET.into(),
            )
        }
    };
    let mut report = Report::new("Consumer Intelligence V3", &base);
    let token: serde_json::Value = customer_data::runtime::http::default_client()?
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "bci")])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let access = token["access_token"].as_str().ok_or("no access_token")?;
    report.line(format!(
        "token: client credentials, expires in {}s",
        token["expires_in"]
    ));
    let client = Client::new_with_client(
        &base,
        http_with(&[("authorization", format!("Bearer {access}"))])?,
    );

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
            consumer.state.map(|s| s.to_string())
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
    Ok(report)
}

async fn biq(sandbox: &Sandbox) -> Result<Report> {
    use customer_data::biq_alert_changes::{EventPayload, TypedPayload};
    use customer_data::biq_auth::Environment;
    let (environment, api_key, tenant) = match (env("BIQ_API_KEY"), env("BIQ_TENANT_ID")) {
        (Some(key), Some(tenant)) => (Environment::Production, key, tenant),
        _ => (
            Environment::Custom {
                auth: sandbox.url("biq_auth"),
                customer_shadow: sandbox.url("biq_customer_shadow"),
                alert_changes: sandbox.url("biq_alert_changes"),
            },
            credentials::BIQ_API_KEY.to_string(),
            credentials::BIQ_TENANT_ID.to_string(),
        ),
    };
    let mut report = Report::new("BiQ Alert", environment.customer_shadow_url());
    let login = customer_data::biq_auth::connect(&environment)?
        .login()
        .body(customer_data::biq_auth::types::LoginRequest { apikey: api_key })
        .send()
        .await?;
    report.line("login: JWT received");
    let auth = [("authorization", format!("Bearer {}", login.access_token))];
    let shadow = customer_data::biq_customer_shadow::Client::new_with_client(
        environment.customer_shadow_url(),
        http_with(&auth)?,
    );
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

    if matches!(environment, Environment::Custom { .. }) {
        // Sandbox only: script a few changes so the feed has something to say.
        customer_data::runtime::http::default_client()?
            .post(format!(
                "{}/sandbox/tenants/{tenant}/script",
                environment.alert_changes_url()
            ))
            .header("authorization", format!("Bearer {}", login.access_token))
            .json(&serde_json::json!({"count": 3}))
            .send()
            .await?
            .error_for_status()?;
    }
    let changes = customer_data::biq_alert_changes::Client::new_with_client(
        environment.alert_changes_url(),
        http_with(&auth)?,
    );
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
        for change in &batch.approved_changes {
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
    use customer_data::carmachain::{Client, types};
    let base = env("CARMACHAIN_BASE_URL").unwrap_or_else(|| sandbox.url("carmachain"));
    let mut report = Report::new("CarmaChain", &base);
    let token = customer_data::carmachain::connect(&base)?
        .get_token()
        .send()
        .await?
        .into_inner()
        .token;
    report.line("token received (valid 24 h)");
    let client = Client::new_with_client(&base, http_with(&[("authorization", token)])?);
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
    use customer_data::accountsiq_v1_1::{Endpoint, Region, connect, types};
    let (endpoint, company, partner, user) = match (
        env("AIQ_REGION"),
        env("AIQ_COMPANY_ID"),
        env("AIQ_PARTNER_KEY"),
        env("AIQ_USER_KEY"),
    ) {
        (Some(region), Some(company), Some(partner), Some(user)) => {
            let region = match region.as_str() {
                "us1" => Region::Us1,
                "eu2" => Region::Eu2,
                "uk1" => Region::Uk1,
                _ => Region::Eu1,
            };
            (Endpoint::Region(region), company, partner, user)
        }
        _ => (
            Endpoint::Custom(sandbox.url("accountsiq_v1_1")),
            credentials::ACCOUNTSIQ_COMPANY_ID.into(),
            credentials::ACCOUNTSIQ_PARTNER_KEY.into(),
            credentials::ACCOUNTSIQ_USER_KEY.into(),
        ),
    };
    let client = connect(&endpoint)?;
    let mut report = Report::new("AccountsIQ v1.1 (SOAP)", client.endpoint());
    let token = client
        .login(&types::Login {
            company_id: Some(company),
            partner_key: Some(partner),
            user_key: Some(user),
        })
        .await?
        .ok_or("Login returned no token")?;
    report.line("Login: session token received (20 minutes)");
    let customers = client
        .get_customer_list(&types::GetCustomerList {
            token: Some(token.clone()),
        })
        .await?;
    let list = customers.map(|c| c.customer).unwrap_or_default();
    report.line(format!("{} customer(s)", list.len()));
    if let Some(mut first) = list.into_iter().next() {
        first.phone = Some("+41 44 000 00 00".into());
        client
            .update_customer(&types::UpdateCustomer {
                token: Some(token.clone()),
                customer: Some(first.clone()),
                create: false,
            })
            .await?;
        let read = client
            .get_customer(&types::GetCustomer {
                token: Some(token),
                customer_code: first.code.clone(),
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
    use customer_data::accountsiq_v2_0::{Endpoint, connect, types};
    let (endpoint, id, secret, entity) = match (
        env("AIQ_CLIENT_ID"),
        env("AIQ_CLIENT_SECRET"),
        env("AIQ_COMPANY_ID"),
    ) {
        (Some(id), Some(secret), Some(entity)) => (
            Endpoint::Region(customer_data::accountsiq_v2_0::Region::Eu1),
            id,
            secret,
            entity,
        ),
        _ => (
            Endpoint::Custom(sandbox.url("accountsiq_v2_0")),
            credentials::ACCOUNTSIQ_CLIENT_ID.into(),
            credentials::ACCOUNTSIQ_CLIENT_SECRET.into(),
            credentials::ACCOUNTSIQ_COMPANY_ID.into(),
        ),
    };
    let mut client = connect(&endpoint)?;
    let mut report = Report::new("AccountsIQ v2.0 (SOAP)", client.endpoint());
    let tokens = client
        .token_get(&types::TokenGet {
            client_id: Some(id),
            client_secret: Some(secret),
        })
        .await?
        .ok_or("TokenGet returned no tokens")?;
    report.line("TokenGet: access and refresh token received");
    client.set_soap_header(Some(types::AiqSoapHeader {
        entity: Some(entity),
        access_token: tokens.access_token.clone(),
    }));
    let customers = client
        .get_active_customer_list(&types::GetActiveCustomerList { token: None })
        .await?;
    report.line(format!(
        "{} active customer(s), read with the AiqSoapHeader",
        customers.map(|c| c.customer.len()).unwrap_or(0)
    ));
    Ok(report)
}

async fn blink(sandbox: &Sandbox) -> Result<Report> {
    use customer_data::blink_customer_management::{Client, next_cursor};
    let base = env("BLINK_BASE_URL").unwrap_or_else(|| sandbox.url("blink_customer_management"));
    let mut report = Report::new("SIX bLink Customer Management", &base);
    if env("BLINK_BASE_URL").is_some() {
        report.line("real bLink needs mutual TLS and a consent code: run against the sandbox, or see issue 6's auth layer");
        return Ok(report);
    }
    // The token endpoint takes the bLink headers too.
    let token: serde_json::Value = customer_data::runtime::http::default_client()?
        .post(format!("{base}/oauth/token"))
        .header("X-Correlation-ID", "quickstart-token")
        .header("User-Agent", "customer-data-quickstart/0.1")
        .header("X-CorAPI-Target-ID", credentials::BLINK_TARGET_ID)
        .header("X-PSU-IP-Address", "AUTO")
        .header("X-PSU-User-Agent", "AUTO")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", credentials::BLINK_AUTHORIZATION_CODE),
            ("client_id", credentials::BLINK_CLIENT_ID),
            ("username", "quickstart"),
            ("redirect_uri", "http://localhost/callback"),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let access = token["access_token"].as_str().ok_or("no access_token")?;
    report.line("consent code exchanged for access and refresh tokens");
    let client = Client::new_with_client(
        &base,
        http_with(&[("authorization", format!("Bearer {access}"))])?,
    );
    let mut cursor: Option<String> = None;
    let mut customers = 0;
    let mut pages = 0;
    loop {
        let mut call = client
            .get_customers()
            .x_correlation_id(format!("quickstart-{pages}"))
            .user_agent("customer-data-quickstart/0.1")
            .x_cor_api_target_id(credentials::BLINK_TARGET_ID)
            .x_psu_ip_address("AUTO")
            .x_psu_user_agent("AUTO");
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
    let health = client
        .get_healthcheck()
        .x_correlation_id("quickstart-health")
        .user_agent("customer-data-quickstart/0.1")
        .x_cor_api_target_id(credentials::BLINK_TARGET_ID)
        .x_psu_ip_address("AUTO")
        .x_psu_user_agent("AUTO")
        .send()
        .await?;
    report.line(format!("healthcheck: {:?}", health.timestamp));
    Ok(report)
}
