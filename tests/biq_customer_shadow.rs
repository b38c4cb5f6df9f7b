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
    let client = customer_data::biq_customer_shadow::connect(&environment).unwrap();
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
