//! SIX bLink Customer Management: upstream OpenWealth 1.2.1 kept byte for byte, the bLink
//! overlay applied in full, every operation of the bLink page generated, the upstream payload
//! examples through the types, and the bLink headers and cursor paging on the wire.
#![cfg(feature = "blink")]

mod common;

use std::path::Path;

use customer_data::blink_customer_management::{Client, Error, next_cursor, types};
use sha2::{Digest, Sha256};

const SLUG: &str = "blink_customer_management";
/// sha256 of OpenWealth's CustomerManagementAPI_1.2.1.yaml (commit 612da2d8).
const UPSTREAM_SHA256: &str = "96e42f4de7a376474a36725667c38e022d0fbfe7dfadc352f0e4443a5846cf2e";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_upstream_document_is_kept_byte_for_byte() {
    let bytes = std::fs::read(root().join("specs/blink_customer_management.yaml")).unwrap();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest, UPSTREAM_SHA256,
        "edit the overlay, never the upstream file"
    );
    assert!(
        root()
            .join("specs/blink_customer_management.LICENSE.md")
            .exists()
    );
}

#[test]
fn every_overlay_action_applies() {
    let service = customer_data_codegen::services::by_slug(SLUG).unwrap();
    let generated = customer_data_codegen::run(root(), service).unwrap();
    assert!(generated.overlay_actions.len() > 10);
    let stale: Vec<String> = generated
        .overlay_actions
        .iter()
        .filter(|a| a.matched == 0)
        .map(|a| a.summary())
        .collect();
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}

/// A new upstream version: the user replaces the file, regenerates, and the surface says
/// which overlay actions no longer apply.
#[test]
fn a_changed_upstream_shows_the_actions_that_no_longer_apply() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("specs")).unwrap();
    for file in [
        "blink_customer_management.yaml",
        "blink_customer_management.overlay.yaml",
    ] {
        std::fs::copy(
            root().join("specs").join(file),
            repo.path().join("specs").join(file),
        )
        .unwrap();
    }
    // Upstream "fixes" the postalAddress defect the overlay works around.
    let upstream = repo.path().join("specs/blink_customer_management.yaml");
    let mut document = customer_data_codegen::load::load(&upstream)
        .unwrap()
        .document;
    document["components"]["schemas"]["postalAddress"]
        .as_object_mut()
        .unwrap()
        .remove("required")
        .expect("upstream has the defect");
    std::fs::write(&upstream, serde_json::to_string_pretty(&document).unwrap()).unwrap();

    let service = customer_data_codegen::services::by_slug(SLUG).unwrap();
    let generated = customer_data_codegen::run(repo.path(), service).unwrap();
    let stale: Vec<&str> = generated
        .surface
        .lines()
        .filter(|l| l.contains("NO LONGER APPLIES"))
        .collect();
    assert_eq!(stale.len(), 1, "{}", generated.surface);
    assert!(stale[0].contains("postalAddress"), "{}", stale[0]);
}

#[test]
fn every_operation_of_the_blink_page_is_generated() {
    common::assert_seed_operations(
        SLUG,
        &[
            (
                "Retrieve a list of customers (GET/customers)",
                "GET /customers -> get_customers(",
            ),
            (
                "Retrieve the full client record of a specific customer (GET/customers/{customerId})",
                "GET /customers/{customerId} -> get_customer_by_customer_id(",
            ),
            (
                "Retrieve the KYC record of a specific customer (GET/customers/{customerId}/kyc)",
                "GET /customers/{customerId}/kyc -> get_kyc_by_customer_id(",
            ),
            (
                "Retrieve a list of full person records (GET/persons)",
                "GET /persons -> get_persons(",
            ),
            (
                "Retrieve a full person record for a specific person (GET/persons/{personId})",
                "GET /persons/{personId} -> get_person_by_person_id(",
            ),
            (
                "Retrieve contact details for a specific person id (GET/persons/{personId}/contactdetails)",
                "GET /persons/{personId}/contactdetails -> get_contact_details_by_person_id(",
            ),
            (
                "Create new contact details for a specific person (POST/persons/{personId}/contactdetails)",
                "POST /persons/{personId}/contactdetails -> post_contact_details_by_person_id(",
            ),
            (
                "Create a new address object for a specific customer (POST/customers/{customerId}/addresses)",
                "POST /customers/{customerId}/addresses -> post_address_by_customer_id(",
            ),
            (
                "Retrieve an address record for a specific address id (GET/customer/{customerId}/addresses)",
                "GET /customers/{customerId}/addresses -> get_address_by_customer_id(",
            ),
            (
                "Update an existing address object for a specific customer (PUT/customer/{customerId}/addresses)",
                "PUT /customers/{customerId}/addresses -> put_address_by_customer_id(",
            ),
            (
                "Health check of the Customer Management Module (/healthcheck)",
                "GET /healthcheck -> get_healthcheck(",
            ),
            (
                "Health check of the Customer Management Module (/healthcheck)",
                "POST /healthcheck -> post_healthcheck(",
            ),
        ],
    );
}

#[test]
fn the_upstream_examples_round_trip() {
    common::assert_round_trip::<types::Address>(SLUG, "address.upstream.json");
    common::assert_round_trip::<types::AddressIdentificationResponse>(
        SLUG,
        "address_identification_response.upstream.json",
    );
    common::assert_round_trip::<types::AddressNew>(SLUG, "address_new.upstream.json");
    common::assert_round_trip::<types::CommonErrorResponse>(
        SLUG,
        "common_error_response.upstream.json",
    );
    common::assert_round_trip::<types::ContactDetails>(SLUG, "contact_details.upstream.json");
    common::assert_round_trip::<types::ContactDetails>(
        SLUG,
        "contact_details_request.upstream.json",
    );
    common::assert_round_trip::<types::Customer>(SLUG, "customer.upstream.json");
    common::assert_round_trip::<types::CustomerAndKycResponse>(
        SLUG,
        "customer_and_kyc_response.upstream.json",
    );
    common::assert_round_trip::<types::Kyc>(SLUG, "kyc.upstream.json");
    common::assert_round_trip::<types::LegalPerson>(SLUG, "legal_person.upstream.json");
    common::assert_round_trip::<types::NaturalPerson>(SLUG, "natural_person.upstream.json");
    common::assert_round_trip::<types::Person>(SLUG, "person.upstream.json");
    common::assert_round_trip::<types::PersonAssociation>(SLUG, "person_association.upstream.json");
    common::assert_round_trip::<types::SoleProprietorship>(
        SLUG,
        "sole_proprietorship.upstream.json",
    );
    common::assert_round_trip::<types::Trust>(SLUG, "trust.upstream.json");
}

#[tokio::test]
async fn list_calls_carry_the_blink_headers_and_page_by_cursor() {
    let customers =
        serde_json::json!([common::fixture(SLUG, "customer.upstream.json")]).to_string();
    let first = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nnextCursor: page-2\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{customers}",
        customers.len()
    );
    let (url, server) = common::serve(vec![
        first,
        common::http("200 OK", "application/json", "[]"),
    ])
    .await;
    let client = customer_data::blink_customer_management::connect(&url).unwrap();
    let list = |cursor: Option<String>| {
        let mut call = client
            .get_customers()
            .x_correlation_id("corr-1")
            .user_agent("customer-data-test/1")
            .x_cor_api_target_id("bank-42")
            .x_psu_ip_address("AUTO")
            .x_psu_user_agent("AUTO")
            .limit(std::num::NonZeroU32::new(1).unwrap());
        if let Some(cursor) = cursor {
            call = call.cursor(cursor);
        }
        call.send()
    };
    let page = list(None).await.unwrap();
    assert_eq!(page.len(), 1);
    let cursor = next_cursor(&page);
    assert_eq!(cursor.as_deref(), Some("page-2"));
    let last = list(cursor).await.unwrap();
    assert!(last.is_empty());
    assert_eq!(next_cursor(&last), None);

    let requests = server.await.unwrap();
    let first = requests[0].to_ascii_lowercase();
    assert!(
        first.starts_with("get /customers?limit=1 http/1.1"),
        "{first}"
    );
    for header in [
        "x-correlation-id: corr-1",
        "user-agent: customer-data-test/1",
        "x-corapi-target-id: bank-42",
        "x-psu-ip-address: auto",
        "x-psu-user-agent: auto",
    ] {
        assert!(first.contains(header), "missing `{header}` in {first}");
    }
    assert!(requests[1].contains("cursor=page-2"), "{}", requests[1]);
}

#[tokio::test]
async fn a_call_without_a_required_blink_header_is_refused_before_sending() {
    let server = common::NoTraffic::new();
    let client = Client::new_with_client(
        &server.url(),
        customer_data::runtime::http::default_client().unwrap(),
    );
    let result = client
        .get_customers()
        .x_correlation_id("corr-1")
        .user_agent("customer-data-test/1")
        .x_psu_ip_address("AUTO")
        .x_psu_user_agent("AUTO")
        .send()
        .await;
    match result {
        Err(Error::InvalidRequest(message)) => {
            assert!(message.contains("x_cor_api_target_id"), "{message}")
        }
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
    let too_long = client
        .get_healthcheck()
        .x_correlation_id("x".repeat(65))
        .user_agent("ua")
        .x_cor_api_target_id("bank-42")
        .x_psu_ip_address("AUTO")
        .x_psu_user_agent("AUTO")
        .send()
        .await;
    assert!(
        matches!(too_long, Err(Error::InvalidRequest(ref m)) if m.contains("x_correlation_id")),
        "{too_long:?}"
    );
    server.assert_untouched();
}
