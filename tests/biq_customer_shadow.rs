//! BiQ Alert CustomerShadow: the seed's operations, the customer payload, and the customer
//! number sent as one URL-encoded path segment.
#![cfg(feature = "biq-customer-shadow")]

mod common;

use customer_data::biq::Environment;
use customer_data::biq_customer_shadow::types;

const SLUG: &str = "biq_customer_shadow";

#[test]
fn every_seed_operation_is_generated() {
    common::assert_seed_operations(
        SLUG,
        &[
            (
                "GET /tenants/{tenantid}/shadowsources",
                "list_shadow_sources: GET /tenants/{tenantId}/shadowsources (",
            ),
            (
                "POST /tenants/{tenantid}/shadowsources/{shadowsourceid}/customers",
                "create_customer: POST /tenants/{tenantId}/shadowsources/{shadowSourceId}/customers (",
            ),
            (
                "PUT /tenants/{tenantid}/shadowsources/{shadowsourceid}/customers",
                "update_customer: PUT /tenants/{tenantId}/shadowsources/{shadowSourceId}/customers/{customerNumber} (",
            ),
        ],
    );
}

#[test]
fn the_customer_round_trips() {
    common::assert_round_trip::<types::Customer>(SLUG, "customer.synthetic.json");
}

/// The demo's shadow bodies (hand-written from the notes: PascalCase, nulls, culture-formatted
/// `Created`/`Changed`, `Active` as a string, the all-zero `DarAddressId`) decode with every
/// member typed, and are sent back in the spec's camelCase.
#[test]
fn demo_style_bodies_decode_and_are_sent_in_the_specs_casing() {
    let customer: types::Customer =
        serde_json::from_value(common::fixture(SLUG, "demo_customer.pascal.json")).unwrap();
    assert!(customer.extra.is_empty(), "{:?}", customer.extra);
    assert_eq!(customer.customer_number.as_deref(), Some("K-3001"));
    assert_eq!(customer.created.as_deref(), Some("04-12-2026 17:25:42"));
    assert_eq!(customer.active.as_deref(), Some("True"));
    assert_eq!(customer.changed_by, None);
    let contact = customer.contact1.as_ref().unwrap();
    assert!(contact.extra.is_empty());
    assert_eq!(
        contact.date_of_birth.as_deref(),
        Some("23-04-1998 00:00:00")
    );
    let address = contact.address.as_ref().unwrap();
    assert!(address.extra.is_empty());
    assert_eq!(address.dar_address_id, Some(uuid::Uuid::nil()));
    let sent = serde_json::to_value(&customer).unwrap();
    assert_eq!(sent["customerNumber"], "K-3001");
    assert_eq!(sent["contact1"]["address"]["postalCode"], "9999");
    assert!(sent.get("CustomerNumber").is_none());

    let us: types::Customer = serde_json::from_value(common::fixture(
        SLUG,
        "demo_customer_us_culture.pascal.json",
    ))
    .unwrap();
    assert_eq!(us.created.as_deref(), Some("12/4/2026 5:25:42 PM"));
    assert_eq!(
        us.contact1.as_ref().and_then(|c| c.p_nr.as_deref()),
        Some("0000000001")
    );

    for file in [
        "shadow_customers_page.pascal.json",
        "shadow_customers_page.camel.json",
    ] {
        let page: types::ShadowCustomersPage =
            serde_json::from_value(common::fixture(SLUG, file)).unwrap();
        assert_eq!(page.total_items, 3, "{file}");
        let customers = page.customers.unwrap();
        assert_eq!(customers.len(), 2);
        assert_eq!(customers[1].shadow_source_id, Some(102));
        assert!(customers.iter().all(|c| c.extra.is_empty()));
    }
}

#[tokio::test]
async fn update_sends_the_customer_number_as_one_encoded_segment() {
    let (url, server) = common::serve(vec![
        "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_string(),
    ])
    .await;
    let environment = Environment::Custom {
        auth: String::new(),
        customer_shadow: url,
        alert_changes: String::new(),
    };
    let client = customer_data::biq_customer_shadow::connect_anonymous(&environment).unwrap();
    let customer: types::Customer =
        serde_json::from_value(common::fixture(SLUG, "customer.synthetic.json")).unwrap();
    client
        .update_customer()
        .tenant_id("tenant-1")
        .shadow_source_id(7)
        .customer_number("K-0001/ØST 2")
        .body(customer.clone())
        .send()
        .await
        .unwrap();
    let request = &server.await.unwrap()[0];
    assert!(
        request.starts_with(
            "PUT /tenants/tenant-1/shadowsources/7/customers/K-0001%2F%C3%98ST%202 HTTP/1.1"
        ),
        "{request}"
    );
    let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
    let sent: types::Customer = serde_json::from_str(body).unwrap();
    assert_eq!(sent, customer);
}

/// Against the sandbox twins: log in with `biq_auth`, then drive CustomerShadow.
mod twin {
    use customer_data::biq_customer_shadow::{Client, types};
    use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};
    use serde_json::Value;

    const TENANT: &str = credentials::BIQ_TENANT_ID;

    async fn token(sandbox: &Sandbox) -> String {
        let auth = customer_data::biq_auth::connect(&sandbox.url("biq_auth")).unwrap();
        auth.login()
            .body(customer_data::biq_auth::types::LoginRequest {
                apikey: credentials::BIQ_API_KEY.into(),
            })
            .send()
            .await
            .unwrap()
            .into_inner()
            .access_token
    }

    /// A CustomerShadow client of the twin that sends `token`.
    fn twin_client(sandbox: &Sandbox, token: &str) -> Client {
        Client::new_with_client(
            &sandbox.url("biq_customer_shadow"),
            bearer_http(token),
            customer_data::runtime::Layer::new(&customer_data::biq_customer_shadow::SERVICE_RULES),
        )
    }

    fn bearer_http(token: &str) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        customer_data::runtime::http::client_builder()
            .default_headers(headers)
            .build()
            .unwrap()
    }

    fn customer(number: &str, name: &str) -> types::Customer {
        serde_json::from_value(serde_json::json!({
            "customerNumber": number,
            "customerCategoryText": "Residential",
            "active": "true",
            "contact1": {
                "name": name,
                "address": {
                    "street": "Nørregade",
                    "houseNumber": "7",
                    "postalCode": "1165",
                    "postalCity": "København K",
                    "countryCode": "DK"
                }
            }
        }))
        .unwrap()
    }

    fn status<E: std::fmt::Debug>(error: customer_data::biq_customer_shadow::Error<E>) -> u16 {
        error.status().map(|s| s.as_u16()).unwrap_or_default()
    }

    /// Every CustomerShadow operation against the twin: list the shadow sources, create a
    /// customer (201; again: 409), update it (204) under a customer number with `/`, a space
    /// and non-ASCII (one encoded segment, decoded by the twin), update an absent one (404);
    /// the update is what the change generator of AlertChanges then reports as existing.
    #[tokio::test]
    async fn create_then_update_a_customer_against_the_twin() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let token = token(&sandbox).await;
        let client = twin_client(&sandbox, &token);

        let sources = client
            .list_shadow_sources()
            .tenant_id(TENANT)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sources.len(), 2, "{sources:?}");
        let source = sources[0].id.expect("a shadow source id");
        assert!(sources.iter().all(|s| s.name.is_some()));

        let number = "K-0001/ØST 2";
        let created = client
            .create_customer()
            .tenant_id(TENANT)
            .shadow_source_id(source)
            .body(customer(number, "Astrid Lindqvist"))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);

        let again = client
            .create_customer()
            .tenant_id(TENANT)
            .shadow_source_id(source)
            .body(customer(number, "Astrid Lindqvist"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(again), 409);

        let updated = client
            .update_customer()
            .tenant_id(TENANT)
            .shadow_source_id(source)
            .customer_number(number)
            .body(customer(number, "Astrid Lindqvist Holm"))
            .send()
            .await
            .unwrap();
        assert_eq!(updated.status().as_u16(), 204);

        let absent = client
            .update_customer()
            .tenant_id(TENANT)
            .shadow_source_id(source)
            .customer_number("K-9999")
            .body(customer("K-9999", "Nobody"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(absent), 404);

        // The body's customer number must be the path's.
        let mismatch = client
            .update_customer()
            .tenant_id(TENANT)
            .shadow_source_id(source)
            .customer_number(number)
            .body(customer("K-0002", "Astrid Lindqvist Holm"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(mismatch), 400);

        // An unknown shadow source.
        let unknown_source = client
            .create_customer()
            .tenant_id(TENANT)
            .shadow_source_id(source + 1000)
            .body(customer("K-0003", "Nils Dahl"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(unknown_source), 404);

        // A body that is not a Customer: a validation problem naming the member.
        let raw = bearer_http(&token)
            .post(format!(
                "{}/tenants/{TENANT}/shadowsources/{source}/customers",
                sandbox.url("biq_customer_shadow")
            ))
            .json(&serde_json::json!({"customerNumber": 17}))
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status().as_u16(), 400);
        let problem: Value = raw.json().await.unwrap();
        assert!(
            problem["errors"]["$.customerNumber"].is_array(),
            "{problem}"
        );

        // The generator reports on the stored (updated) customer.
        let scripted: Value = customer_data::runtime::http::default_client().unwrap()
            .post(format!(
                "{}/sandbox/tenants/{TENANT}/script",
                sandbox.url("biq_alert_changes")
            ))
            .header(customer_data_sandbox::sandbox_only::KEY_HEADER, sandbox.sandbox_key())
            .json(&serde_json::json!({"count": 1, "eventType": "name-change", "customerNumber": number}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let change = &scripted["approvedChanges"][0];
        assert_eq!(change["customerNumber"], number);
        assert_eq!(change["shadowSourceId"], source);
        assert_eq!(
            change["payload"]["NameChangePayload"]["existingName"], "Astrid Lindqvist Holm",
            "{change}"
        );
        sandbox.shutdown().await;
    }

    /// The demo's own request bodies, sent raw: PascalCase, nulls everywhere, culture-formatted
    /// dates. The twin binds them as the vendor does (201 / 204), stores them, and the feed's
    /// generator reports on them.
    #[tokio::test]
    async fn the_twin_accepts_the_demos_own_bodies() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let token = token(&sandbox).await;
        let http = bearer_http(&token);
        let base = sandbox.url("biq_customer_shadow");
        let source = Client::new_with_client(
            &base,
            http.clone(),
            customer_data::runtime::Layer::new(&customer_data::biq_customer_shadow::SERVICE_RULES),
        )
        .list_shadow_sources()
        .tenant_id(TENANT)
        .send()
        .await
        .unwrap()[0]
            .id
            .unwrap();
        for file in [
            "demo_customer.pascal.json",
            "demo_customer_us_culture.pascal.json",
        ] {
            let body =
                std::fs::read_to_string(crate::common::fixture_path("biq_customer_shadow", file))
                    .unwrap();
            let created = http
                .post(format!(
                    "{base}/tenants/{TENANT}/shadowsources/{source}/customers"
                ))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(
                created.status().as_u16(),
                201,
                "{file}: {:?}",
                created.text().await
            );
            let number: Value = serde_json::from_str(&body).unwrap();
            let number = number["CustomerNumber"].as_str().unwrap().to_string();
            let updated = http
                .put(format!(
                    "{base}/tenants/{TENANT}/shadowsources/{source}/customers/{number}"
                ))
                .header("content-type", "application/json")
                .body(body.replace("\"Active\": \"True\"", "\"Active\": \"False\""))
                .send()
                .await
                .unwrap();
            assert_eq!(updated.status().as_u16(), 204, "{file}");
        }
        // The generator reads the stored PascalCase customer like any other.
        let scripted: Value = customer_data::runtime::http::default_client()
            .unwrap()
            .post(format!(
                "{}/sandbox/tenants/{TENANT}/script",
                sandbox.url("biq_alert_changes")
            ))
            .header(customer_data_sandbox::sandbox_only::KEY_HEADER, sandbox.sandbox_key())
            .json(&serde_json::json!({"count": 1, "eventType": "name-change", "customerNumber": "K-3001"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            scripted["approvedChanges"][0]["payload"]["NameChangePayload"]["existingName"],
            "Jens Prøvesen"
        );
        // A body without a customer number is still refused.
        let refused = http
            .post(format!(
                "{base}/tenants/{TENANT}/shadowsources/{source}/customers"
            ))
            .json(&serde_json::json!({"CustomerNumber": null, "Active": "True"}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 400);
        sandbox.shutdown().await;
    }

    /// The demo's daily reconciliation against the twin: list every shadow customer of the
    /// tenant page by page (the stream reads until `totalItems`), delete one (204; again:
    /// 404), and the list no longer has it.
    #[tokio::test]
    async fn list_and_delete_keep_the_shadow_complete() {
        use futures_util::TryStreamExt;

        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let token = token(&sandbox).await;
        let client = twin_client(&sandbox, &token);
        let listed: Vec<types::CustomerInfo> =
            customer_data::biq_customer_shadow::stream::customers(&client, TENANT, 4)
                .items()
                .try_collect()
                .await
                .unwrap();
        // The seeded customers: three per shadow source, both sources.
        assert_eq!(listed.len(), 6, "{listed:?}");
        let victim = &listed[0];
        let (number, source) = (
            victim.customer_number.clone().unwrap(),
            victim.shadow_source_id.unwrap(),
        );
        let deleted = client
            .delete_customer()
            .tenant_id(TENANT)
            .shadow_source_id(source)
            .customer_number(&number)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status().as_u16(), 204);
        let again = client
            .delete_customer()
            .tenant_id(TENANT)
            .shadow_source_id(source)
            .customer_number(&number)
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(again), 404);
        let page = client
            .list_customers()
            .tenant_id(TENANT)
            .page(0)
            .page_size(std::num::NonZeroU32::new(100).unwrap())
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_items, 5);
        let remaining = page.customers.unwrap();
        assert!(
            remaining
                .iter()
                .all(|c| c.customer_number.as_deref() != Some(number.as_str()))
        );
        // A page size below 1 is refused.
        let raw = bearer_http(&token)
            .get(format!(
                "{}/tenants/{TENANT}/customers?page=0&pageSize=0",
                sandbox.url("biq_customer_shadow")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status().as_u16(), 400);
        sandbox.shutdown().await;
    }
}
