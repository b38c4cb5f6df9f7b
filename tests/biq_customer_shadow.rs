//! BiQ Alert CustomerShadow: the seed's operations, the customer payload, and the customer
//! number sent as one URL-encoded path segment.
#![cfg(feature = "biq")]

mod common;

use customer_data::biq_auth::Environment;
use customer_data::biq_customer_shadow::types;

const SLUG: &str = "biq_customer_shadow";

#[test]
fn every_seed_operation_is_generated() {
    common::assert_seed_operations(
        SLUG,
        &[
            (
                "GET /tenants/{tenantid}/shadowsources",
                "GET /tenants/{tenantId}/shadowsources -> list_shadow_sources(",
            ),
            (
                "POST /tenants/{tenantid}/shadowsources/{shadowsourceid}/customers",
                "POST /tenants/{tenantId}/shadowsources/{shadowSourceId}/customers -> create_customer(",
            ),
            (
                "PUT /tenants/{tenantid}/shadowsources/{shadowsourceid}/customers",
                "PUT /tenants/{tenantId}/shadowsources/{shadowSourceId}/customers/{customerNumber} -> update_customer(",
            ),
        ],
    );
}

#[test]
fn the_customer_round_trips() {
    common::assert_round_trip::<types::Customer>(SLUG, "customer.synthetic.json");
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
    use customer_data::biq_auth::Environment;
    use customer_data::biq_customer_shadow::{Client, types};
    use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};
    use serde_json::Value;

    const TENANT: &str = credentials::BIQ_TENANT_ID;

    async fn token(sandbox: &Sandbox) -> String {
        let auth = customer_data::biq_auth::connect(&Environment::Custom {
            auth: sandbox.url("biq_auth"),
            customer_shadow: String::new(),
            alert_changes: String::new(),
        })
        .unwrap();
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
        let client = Client::new_with_client(
            &sandbox.url("biq_customer_shadow"),
            bearer_http(&token),
            customer_data::runtime::Layer::new("biq_customer_shadow"),
        );

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
}
