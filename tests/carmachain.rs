//! CarmaChain: coverage of the seed's operations, the page's and synthetic payloads through
//! the generated types (including the documented discrepancies), and a create -> poll flow
//! against a local one-shot server.
#![cfg(feature = "carmachain")]

mod common;

use common::{http, serve};
use customer_data::carmachain::{Client, types};

const SLUG: &str = "carmachain";

fn round_trip<T>(name: &str)
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    common::assert_round_trip::<T>(SLUG, name);
}

/// Every operation the seed page names exists in the generated client, by name.
#[test]
fn every_seed_operation_is_generated() {
    common::assert_seed_operations(
        SLUG,
        &[
            ("GET /auth/getToken", "get_token: GET /auth/getToken ("),
            (
                "POST /api/createrequest (Send request)",
                "create_request: POST /api/createrequest (",
            ),
            (
                "POST /api/respond (Get Respond)",
                "respond: POST /api/respond (",
            ),
        ],
    );
    // And the methods are callable (compile-time proof).
    let client = Client::new(
        customer_data::carmachain::DEMO_PEER_URL,
        customer_data::runtime::Layer::new(&customer_data::carmachain::SERVICE_RULES),
    );
    let _ = (
        client.get_token(),
        client.create_request(),
        client.respond(),
    );
}

#[test]
fn every_payload_round_trips() {
    round_trip::<types::TokenResponse>("token_response.json");
    round_trip::<types::CreateRequest>("create_request.page.json");
    round_trip::<types::CreateRequest>("create_request_array.json");
    round_trip::<types::CreateRequest>("create_request_single.json");
    round_trip::<types::CreateRequestResponse>("create_response.json");
    round_trip::<types::RespondRequest>("respond_request_ids.json");
    round_trip::<types::RespondRequest>("respond_request_period.json");
    round_trip::<types::RespondResponse>("respond_response_done.json");
    round_trip::<types::RespondResponse>("respond_response_panding.json");
}

#[test]
fn type_request_is_accepted_as_a_string_or_an_array() {
    let single: types::CreateRequest =
        serde_json::from_value(common::fixture(SLUG, "create_request_single.json")).unwrap();
    assert!(
        matches!(single.type_request, types::TypeRequest::DataCategory(_)),
        "{single:?}"
    );
    let array: types::CreateRequest =
        serde_json::from_value(common::fixture(SLUG, "create_request_array.json")).unwrap();
    assert!(
        matches!(array.type_request, types::TypeRequest::Array(ref v) if !v.is_empty()),
        "{array:?}"
    );
    assert_eq!(
        serde_json::to_value(types::DataCategory::SocioDemographicProfile).unwrap(),
        "Socio-Demographic Profile"
    );
}

#[test]
fn panding_stays_on_the_wire_and_is_pending_in_rust() {
    let status: types::RequestStatus = serde_json::from_str("\"Panding\"").unwrap();
    assert_eq!(status, types::RequestStatus::Pending);
    assert_eq!(
        serde_json::to_string(&types::RequestStatus::Pending).unwrap(),
        "\"Panding\""
    );
    assert_eq!(types::RequestStatus::Pending.to_string(), "Panding");
    assert_eq!(
        "Panding".parse::<types::RequestStatus>().unwrap(),
        types::RequestStatus::Pending
    );
    // The Rust name is not a wire value: the open enum keeps it as one it does not know.
    assert_eq!(
        serde_json::from_str::<types::RequestStatus>("\"Pending\"").unwrap(),
        types::RequestStatus::UnknownValue("Pending".into())
    );
}

#[test]
fn request_and_response_keep_their_documented_casing() {
    let query = types::PersonQuery {
        id_document: Some("AB123456".into()),
        phone_number: Some("+380990000001".into()),
    };
    assert_eq!(
        serde_json::to_value(&query).unwrap(),
        serde_json::json!({"IdDocument": "AB123456", "PhoneNumber": "+380990000001"})
    );
    let done: types::RespondResponse =
        serde_json::from_value(common::fixture(SLUG, "respond_response_done.json")).unwrap();
    let first = &done.parametr_request[0];
    assert_eq!(first.status, Some(types::RequestStatus::Done));
    assert!(!first.request_details.is_empty());
}

/// The guide spells the same members two ways, so answers decode in either casing (the
/// spec declares `x-customer-data-decoding`): the respond answer in the createRequest spelling
/// (`IdDocument`, `PhoneNumber`, PascalCase throughout) and with `null` members reads the same.
#[test]
fn answers_decode_in_either_casing_and_nulls_read_as_absent() {
    let documented: types::RespondResponse =
        serde_json::from_value(common::fixture(SLUG, "respond_response_done.json")).unwrap();
    let pascal = pascal_case_keys(common::fixture(SLUG, "respond_response_done.json"));
    assert_ne!(pascal, common::fixture(SLUG, "respond_response_done.json"));
    let decoded: types::RespondResponse = serde_json::from_value(pascal).unwrap();
    assert_eq!(decoded, documented);

    let with_nulls: types::RespondResponse = serde_json::from_value(serde_json::json!({
        "Response": null,
        "ParametrRequest": [{"IdDocument": "AB123456", "PhoneNumber": null, "IdRequest": "r-1",
                             "Status": "Done", "RequestDetails": null}]
    }))
    .unwrap();
    let first = &with_nulls.parametr_request[0];
    assert_eq!(first.id_document.as_deref(), Some("AB123456"));
    assert_eq!(first.phone_number, None);
    assert!(first.request_details.is_empty());
}

/// `value` with every object key's first letter upper-cased (the fixtures are the vendor's
/// spelling; this is the other one the guide uses).
fn pascal_case_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(key, value)| {
                let mut chars = key.chars();
                let pascal = chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default();
                (pascal, pascal_case_keys(value))
            })
            .collect(),
        serde_json::Value::Array(items) => items.into_iter().map(pascal_case_keys).collect(),
        other => other,
    }
}

#[tokio::test]
async fn create_then_poll_against_a_local_peer() {
    let create_response = common::fixture(SLUG, "create_response.json").to_string();
    let pending = common::fixture(SLUG, "respond_response_panding.json").to_string();
    let done = common::fixture(SLUG, "respond_response_done.json").to_string();
    let (url, server) = serve(vec![
        http("200 OK", "application/json", &create_response),
        http("200 OK", "application/json", &pending),
        http("200 OK", "application/json", &done),
    ])
    .await;
    let client = customer_data::carmachain::connect_anonymous(&url).unwrap();
    let created = client
        .create_request()
        .body(types::CreateRequest {
            type_request: types::TypeRequest::Array(vec![
                types::DataCategory::Address,
                types::DataCategory::Name,
            ]),
            value: vec![types::PersonQuery {
                phone_number: Some("+380990000001".into()),
                ..Default::default()
            }],
        })
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = created
        .parametr_request
        .iter()
        .filter_map(|r| r.id_request.clone())
        .collect();
    assert!(!ids.is_empty());

    let poll = || {
        client.respond().body(types::RespondRequest {
            id_request: ids.clone(),
            type_request: None,
            period: None,
        })
    };
    let first = poll().send().await.unwrap();
    assert_eq!(
        first.parametr_request[0].status,
        Some(types::RequestStatus::Pending)
    );
    let second = poll().send().await.unwrap();
    assert_eq!(
        second.parametr_request[0].status,
        Some(types::RequestStatus::Done)
    );

    let requests = server.await.unwrap();
    assert!(
        requests[0].starts_with("POST /api/createrequest HTTP/1.1"),
        "{}",
        requests[0]
    );
    let body = &requests[0][requests[0].find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(body).unwrap(),
        serde_json::json!({"type_request": ["Address", "Name"], "value": [{"PhoneNumber": "+380990000001"}]})
    );
    assert!(
        requests[1].starts_with("POST /api/respond HTTP/1.1"),
        "{}",
        requests[1]
    );
}

/// Against the sandbox twin: a request is `Panding` until the configured delay, then `Done`
/// with details for the requested categories; a bad token is refused; a malformed body is a
/// 400 naming the member.
#[tokio::test]
async fn the_twin_answers_pending_then_done() {
    use customer_data_sandbox::{Sandbox, SandboxConfig};
    let sandbox = Sandbox::start(SandboxConfig {
        carmachain_answer_delay: std::time::Duration::from_millis(300),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let base = sandbox.url(SLUG);
    let anonymous = customer_data::carmachain::connect_anonymous(&base).unwrap();
    let token = anonymous
        .get_token()
        .send()
        .await
        .unwrap()
        .into_inner()
        .token;

    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, token.parse().unwrap());
    let http = customer_data::runtime::http::client_builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let client = Client::new_with_client(
        &base,
        http,
        customer_data::runtime::Layer::new(&customer_data::carmachain::SERVICE_RULES),
    );

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
        .await
        .unwrap();
    let id = created.parametr_request[0].id_request.clone().unwrap();
    let poll = || {
        client
            .respond()
            .body(types::RespondRequest {
                id_request: vec![id.clone()],
                type_request: None,
                period: None,
            })
            .send()
    };
    let first = poll().await.unwrap();
    assert_eq!(
        first.parametr_request[0].status,
        Some(types::RequestStatus::Pending)
    );
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    let done = poll().await.unwrap();
    let result = &done.parametr_request[0];
    assert_eq!(result.status, Some(types::RequestStatus::Done));
    let groups: Vec<_> = result
        .request_details
        .iter()
        .filter_map(|d| d.group_data.clone())
        .collect();
    assert!(
        groups.contains(&types::DataCategory::Name)
            && groups.contains(&types::DataCategory::Address),
        "{groups:?}"
    );
    // Everything a peer answered within the last minute, by period.
    let by_period = client
        .respond()
        .body(types::RespondRequest {
            id_request: vec![],
            type_request: None,
            period: Some(1.0),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(by_period.parametr_request.len(), 1);

    // No token: refused.
    let refused = anonymous
        .respond()
        .body(types::RespondRequest {
            id_request: vec![id],
            type_request: None,
            period: None,
        })
        .send()
        .await;
    assert_eq!(refused.unwrap_err().status().map(|s| s.as_u16()), Some(401));
    // A body that is not a CreateRequest: 400 with the reason.
    let raw = customer_data::runtime::http::default_client()
        .unwrap()
        .post(format!("{base}/api/createrequest"))
        .header("authorization", token)
        .json(&serde_json::json!({"type_request": "Unheard Of", "value": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    assert!(raw.text().await.unwrap().contains("type_request"));
    sandbox.shutdown().await;
}
