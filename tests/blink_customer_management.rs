//! SIX bLink Customer Management: upstream OpenWealth 1.2.1 kept byte for byte, the bLink
//! overlay applied in full, every operation of the bLink page generated, the upstream payload
//! examples through the types, and the bLink headers and cursor paging on the wire.
#![cfg(feature = "blink-customer-management")]

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
    assert!(generated.overlay_actions().len() > 10);
    let stale: Vec<String> = generated
        .overlay_actions()
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
                "get_customers: GET /customers (",
            ),
            (
                "Retrieve the full client record of a specific customer (GET/customers/{customerId})",
                "get_customer_by_customer_id: GET /customers/{customerId} (",
            ),
            (
                "Retrieve the KYC record of a specific customer (GET/customers/{customerId}/kyc)",
                "get_kyc_by_customer_id: GET /customers/{customerId}/kyc (",
            ),
            (
                "Retrieve a list of full person records (GET/persons)",
                "get_persons: GET /persons (",
            ),
            (
                "Retrieve a full person record for a specific person (GET/persons/{personId})",
                "get_person_by_person_id: GET /persons/{personId} (",
            ),
            (
                "Retrieve contact details for a specific person id (GET/persons/{personId}/contactdetails)",
                "get_contact_details_by_person_id: GET /persons/{personId}/contactdetails (",
            ),
            (
                "Create new contact details for a specific person (POST/persons/{personId}/contactdetails)",
                "post_contact_details_by_person_id: POST /persons/{personId}/contactdetails (",
            ),
            (
                "Create a new address object for a specific customer (POST/customers/{customerId}/addresses)",
                "post_address_by_customer_id: POST /customers/{customerId}/addresses (",
            ),
            (
                "Retrieve an address record for a specific address id (GET/customer/{customerId}/addresses)",
                "get_address_by_customer_id: GET /customers/{customerId}/addresses (",
            ),
            (
                "Update an existing address object for a specific customer (PUT/customer/{customerId}/addresses)",
                "put_address_by_customer_id: PUT /customers/{customerId}/addresses (",
            ),
            (
                "Health check of the Customer Management Module (/healthcheck)",
                "get_healthcheck: GET /healthcheck (",
            ),
            (
                "Health check of the Customer Management Module (/healthcheck)",
                "post_healthcheck: POST /healthcheck (",
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
    let client = customer_data::blink_customer_management::connect_anonymous(&url).unwrap();
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

/// The bLink headers are optional parameters (the runtime layer of `connect` fills them; see
/// tests/auth.rs), but a value a call does set is still checked before anything is sent.
#[tokio::test]
async fn a_too_long_correlation_id_is_refused_before_sending() {
    let server = common::NoTraffic::new();
    let client = Client::new_with_client(
        &server.url(),
        customer_data::runtime::http::default_client().unwrap(),
        customer_data::runtime::Layer::new(
            &customer_data::blink_customer_management::SERVICE_RULES,
        ),
    );
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

// ---- against the sandbox twin ----------------------------------------------------------------

mod twin {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use customer_data::blink_customer_management::{Client, Error, next_cursor, types};
    use customer_data_sandbox::credentials::{
        BLINK_AUTHORIZATION_CODE, BLINK_CLIENT_ID, BLINK_TARGET_ID,
    };
    use customer_data_sandbox::{Lifetimes, Sandbox, SandboxConfig};
    use serde_json::Value;

    use super::SLUG;

    const CORRELATION_ID: &str = "twin-corr-0001";

    /// The five bLink headers on any generated call.
    macro_rules! blink {
        ($call:expr) => {
            $call
                .x_correlation_id(CORRELATION_ID)
                .user_agent("customer-data-test/1")
                .x_cor_api_target_id(BLINK_TARGET_ID)
                .x_psu_ip_address("AUTO")
                .x_psu_user_agent("AUTO")
        };
    }

    async fn start(access_lifetime: Option<Duration>) -> Sandbox {
        let mut lifetimes = Lifetimes::default();
        if let Some(lifetime) = access_lifetime {
            lifetimes.blink_access = lifetime;
        }
        Sandbox::start(SandboxConfig {
            lifetimes,
            ..SandboxConfig::default()
        })
        .await
        .unwrap()
    }

    fn percent(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// The bLink headers as a plain reqwest request carries them.
    fn with_blink_headers(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header("X-Correlation-ID", CORRELATION_ID)
            .header("User-Agent", "customer-data-test/1")
            .header("X-CorAPI-Target-ID", BLINK_TARGET_ID)
            .header("X-PSU-IP-Address", "AUTO")
            .header("X-PSU-User-Agent", "AUTO")
    }

    /// `POST /oauth/token` with `pairs` form-urlencoded: status and JSON body.
    async fn token_call(base: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
            .collect::<Vec<_>>()
            .join("&");
        let response = with_blink_headers(
            customer_data::runtime::http::default_client()
                .unwrap()
                .post(format!("{base}/oauth/token")),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
        assert_eq!(
            response.headers()["x-correlation-id"],
            CORRELATION_ID,
            "the token endpoint echoes X-Correlation-ID"
        );
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn exchange_code(base: &str) -> (u16, Value) {
        token_call(
            base,
            &[
                ("grant_type", "authorization_code"),
                ("code", BLINK_AUTHORIZATION_CODE),
                ("client_id", BLINK_CLIENT_ID),
                ("username", "ingrid.lindqvist"),
                ("redirect_uri", "https://app.example.invalid/consent/done"),
            ],
        )
        .await
    }

    async fn refresh(base: &str, refresh_token: &str) -> (u16, Value) {
        token_call(
            base,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", BLINK_CLIENT_ID),
                ("username", "ingrid.lindqvist"),
            ],
        )
        .await
    }

    /// An access token from the single-use authorization code.
    async fn access_token(base: &str) -> String {
        let (status, tokens) = exchange_code(base).await;
        assert_eq!(status, 200, "{tokens}");
        tokens["access_token"].as_str().unwrap().to_string()
    }

    /// The generated client with `Authorization: Bearer <token>` on every call.
    fn client(base: &str, token: &str) -> Client {
        let http = crate::common::bearer_http(token);
        Client::new_with_client(
            base,
            http,
            customer_data::runtime::Layer::new(
                &customer_data::blink_customer_management::SERVICE_RULES,
            ),
        )
    }

    /// The `commonErrorResponse` of a refused call, with its status.
    fn refusal<T: std::fmt::Debug>(
        result: Result<T, Error<types::CommonErrorResponse>>,
    ) -> (u16, types::CommonErrorResponse) {
        match result {
            Err(Error::ErrorResponse(response)) => {
                let status = response.status().as_u16();
                (status, response.into_inner())
            }
            other => panic!("expected a commonErrorResponse, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_code_is_exchanged_once_and_refresh_tokens_rotate() {
        let sandbox = start(None).await;
        let base = sandbox.url(SLUG);

        let (status, first) = exchange_code(&base).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["token_type"], "bearer");
        assert_eq!(first["expires_in"], 3600);
        assert!(first["scope"].is_string(), "{first}");
        let access = first["access_token"].as_str().unwrap();
        let old_refresh = first["refresh_token"].as_str().unwrap();

        // The authorization code is single-use.
        let (status, again) = exchange_code(&base).await;
        assert_eq!(
            (status, again["error"].as_str()),
            (400, Some("invalid_grant"))
        );

        // Refresh: a new pair; the presented refresh token is revoked.
        let (status, second) = refresh(&base, old_refresh).await;
        assert_eq!(status, 200, "{second}");
        let new_refresh = second["refresh_token"].as_str().unwrap();
        let new_access = second["access_token"].as_str().unwrap();
        assert_ne!(new_refresh, old_refresh);
        assert_ne!(new_access, access);
        let (status, refused) = refresh(&base, old_refresh).await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (400, Some("invalid_grant")),
            "{refused}"
        );
        assert!(refused["error_description"].is_string());
        // The new refresh token works (once).
        let (status, third) = refresh(&base, new_refresh).await;
        assert_eq!(status, 200, "{third}");

        // Both access tokens are accepted.
        for token in [access, new_access] {
            let health = blink!(client(&base, token).get_healthcheck())
                .send()
                .await
                .unwrap();
            assert!(health.timestamp.is_some());
        }

        // The other OAuth errors.
        let (status, body) = token_call(
            &base,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", third["refresh_token"].as_str().unwrap()),
                ("client_id", "someone-else"),
                ("username", "ingrid.lindqvist"),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        let (status, body) = token_call(
            &base,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", BLINK_CLIENT_ID),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unsupported_grant_type"))
        );
        let long_name = "u".repeat(65);
        let (status, body) = token_call(
            &base,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", third["refresh_token"].as_str().unwrap()),
                ("client_id", BLINK_CLIENT_ID),
                ("username", &long_name),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("username")
        );
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn every_generated_operation_works_against_the_twin() {
        let sandbox = start(None).await;
        let base = sandbox.url(SLUG);
        let token = access_token(&base).await;
        let client = client(&base, &token);
        let limit = |n| std::num::NonZeroU32::new(n).unwrap();

        // GET /customers
        let customers = blink!(client.get_customers())
            .limit(limit(5))
            .send()
            .await
            .unwrap();
        assert_eq!(customers.status().as_u16(), 200);
        assert_eq!(customers.headers()["x-correlation-id"], CORRELATION_ID);
        assert_eq!(customers.len(), 5);
        assert!(next_cursor(&customers).is_some());
        let first = customers[0].clone();
        let customer_id = first.customer_identification.to_string();

        // GET /customers/{customerId}
        let customer = blink!(client.get_customer_by_customer_id())
            .customer_id(&customer_id)
            .send()
            .await
            .unwrap();
        assert_eq!(customer.headers()["x-correlation-id"], CORRELATION_ID);
        assert_eq!(*customer, first);
        assert!(!customer.person_list.is_empty() && !customer.address_list.is_empty());

        // GET /customers/{customerId}/kyc
        let kyc = blink!(client.get_kyc_by_customer_id())
            .customer_id(&customer_id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(kyc.customer.as_ref(), Some(&first));
        let kyc = kyc.kyc.unwrap();
        assert!(kyc.financial_situation.is_some() && kyc.non_financial_situation.is_some());

        // GET /persons
        let persons = blink!(client.get_persons()).send().await.unwrap();
        assert_eq!(persons.len(), 20, "default limit");
        assert!(next_cursor(&persons).is_some());
        let person_id = customer.person_list[0]
            .person_identification
            .as_ref()
            .unwrap()
            .to_string();

        // GET /persons/{personId}
        let person = blink!(client.get_person_by_person_id())
            .person_id(&person_id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(person.person_identification.to_string(), person_id);
        assert!(person.customer_list.iter().any(|c| {
            c.customer_identification.as_ref().map(|i| i.to_string()) == Some(customer_id.clone())
        }));
        assert!(!person.contact_information.is_empty());

        // GET /persons/{personId}/contactdetails
        let contacts = blink!(client.get_contact_details_by_person_id())
            .person_id(&person_id)
            .send()
            .await
            .unwrap();
        assert_eq!(*contacts, person.contact_information);
        assert_eq!(next_cursor(&contacts), None);

        // POST /persons/{personId}/contactdetails
        let created = blink!(client.post_contact_details_by_person_id())
            .person_id(&person_id)
            .body(types::ContactDetails {
                additional_contact_information: None,
                contact_content: "+41 44 000 00 00".parse().unwrap(),
                contact_identification: None,
                contact_medium_type: Some(types::ContactMediumType::Business),
                medium: types::ContactMedium::Phone,
                extra: Default::default(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
        assert!(created.contact_identification.is_some());

        // POST /customers/{customerId}/addresses
        let new_address = blink!(client.post_address_by_customer_id())
            .customer_id(&customer_id)
            .body(types::AddressNew {
                address_name: Some("Holiday home".parse().unwrap()),
                mailing_instruction: None,
                postal_address: None,
                extra: Default::default(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(new_address.status().as_u16(), 201);
        assert!(new_address.address_identification.is_some());

        // GET /customers/{customerId}/addresses: the domicile address.
        let address = blink!(client.get_address_by_customer_id())
            .customer_id(&customer_id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(address.is_domicile, Some(true));

        // PUT /customers/{customerId}/addresses
        let put = blink!(client.put_address_by_customer_id())
            .customer_id(&customer_id)
            .body(address.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status().as_u16(), 204);
        assert_eq!(put.headers()["x-correlation-id"], CORRELATION_ID);

        // GET and POST /healthcheck
        let get_health = blink!(client.get_healthcheck()).send().await.unwrap();
        let post_health = blink!(client.post_healthcheck()).send().await.unwrap();
        assert!(get_health.timestamp.is_some() && post_health.timestamp.is_some());
        assert_eq!(post_health.headers()["x-correlation-id"], CORRELATION_ID);

        // Unknown ids: 404 resourceDoesNotExist.
        let (status, error) = refusal(
            blink!(client.get_customer_by_customer_id())
                .customer_id("no-such-customer")
                .send()
                .await,
        );
        assert_eq!(status, 404);
        assert_eq!(
            error.type_,
            Some(types::CommonErrorType::ResourceDoesNotExist)
        );
        let (status, _) = refusal(
            blink!(client.post_contact_details_by_person_id())
                .person_id("no-such-person")
                .body(types::ContactDetails {
                    additional_contact_information: None,
                    contact_content: "x@example.invalid".parse().unwrap(),
                    contact_identification: None,
                    contact_medium_type: None,
                    medium: types::ContactMedium::Email,
                    extra: Default::default(),
                })
                .send()
                .await,
        );
        assert_eq!(status, 404);
        // A provider other than the twin's: 404 resourceDoesNotExist.
        let (status, error) = refusal(
            blink!(client.get_healthcheck())
                .x_cor_api_target_id("another-bank")
                .send()
                .await,
        );
        assert_eq!(status, 404);
        assert!(error.detail.unwrap().contains("another-bank"));

        // A body that is not a contactDetails: 400 invalidPayload naming the member.
        let raw = with_blink_headers(
            customer_data::runtime::http::default_client()
                .unwrap()
                .post(format!("{base}/persons/{person_id}/contactdetails")),
        )
        .bearer_auth(&token)
        .json(&serde_json::json!({"medium": "pigeon", "contactContent": "loft 3"}))
        .send()
        .await
        .unwrap();
        assert_eq!(raw.status().as_u16(), 400);
        let error: types::CommonErrorResponse = raw.json().await.unwrap();
        assert_eq!(error.type_, Some(types::CommonErrorType::InvalidPayload));
        assert!(error.detail.unwrap().contains("medium"));

        // Address ids are whole JSON numbers on the wire, as in the upstream examples.
        let raw: Value = with_blink_headers(
            customer_data::runtime::http::default_client()
                .unwrap()
                .get(format!("{base}/customers/{customer_id}/addresses")),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert!(raw["addressIdentification"].is_u64(), "{raw}");
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn paging_with_next_cursor_collects_every_customer_exactly_once() {
        let sandbox = start(None).await;
        let base = sandbox.url(SLUG);
        let client = client(&base, &access_token(&base).await);

        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut call =
                blink!(client.get_customers()).limit(std::num::NonZeroU32::new(7).unwrap());
            if let Some(cursor) = cursor.take() {
                call = call.cursor(cursor);
            }
            let page = call.send().await.unwrap();
            pages += 1;
            assert!(page.len() <= 7);
            seen.extend(page.iter().map(|c| c.customer_identification.to_string()));
            cursor = next_cursor(&page);
            if cursor.is_none() {
                break;
            }
            assert!(pages < 100, "paging does not end");
        }
        let distinct: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            distinct.len(),
            seen.len(),
            "a customer came twice: {seen:?}"
        );
        // Every customer: the same set as one page big enough for all of them.
        let all = blink!(client.get_customers())
            .limit(std::num::NonZeroU32::new(100).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(next_cursor(&all), None);
        let everyone: BTreeSet<String> = all
            .iter()
            .map(|c| c.customer_identification.to_string())
            .collect();
        assert_eq!(distinct, everyone.iter().collect());
        assert!(seen.len() > 7 * 2, "{} customers", seen.len());
        assert_eq!(pages, seen.len().div_ceil(7));

        // A cursor of another list is refused.
        let persons = blink!(client.get_persons())
            .limit(std::num::NonZeroU32::new(1).unwrap())
            .send()
            .await
            .unwrap();
        let (status, error) = refusal(
            blink!(client.get_customers())
                .cursor(next_cursor(&persons).unwrap())
                .send()
                .await,
        );
        assert_eq!(status, 400);
        assert_eq!(error.type_, Some(types::CommonErrorType::InvalidPayload));
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn a_call_without_x_correlation_id_gets_the_documented_400() {
        let sandbox = start(None).await;
        let base = sandbox.url(SLUG);
        let token = access_token(&base).await;

        // The generated client refuses to send it, so plain reqwest does.
        let response = customer_data::runtime::http::default_client()
            .unwrap()
            .get(format!("{base}/customers"))
            .bearer_auth(&token)
            .header("User-Agent", "customer-data-test/1")
            .header("X-CorAPI-Target-ID", BLINK_TARGET_ID)
            .header("X-PSU-IP-Address", "AUTO")
            .header("X-PSU-User-Agent", "AUTO")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json"),
            "{:?}",
            response.headers()
        );
        assert!(response.headers().get("x-correlation-id").is_none());
        let error: types::CommonErrorResponse = response.json().await.unwrap();
        assert_eq!(error.type_, Some(types::CommonErrorType::InvalidPayload));
        assert!(error.detail.unwrap().contains("X-Correlation-ID"));
        assert_eq!(
            error.instance.as_deref(),
            Some("/blink_customer_management/customers")
        );

        // Another required header missing: the same shape, naming that header; the valid
        // correlation id is echoed.
        let response = customer_data::runtime::http::default_client()
            .unwrap()
            .get(format!("{base}/customers"))
            .bearer_auth(&token)
            .header("X-Correlation-ID", CORRELATION_ID)
            .header("User-Agent", "customer-data-test/1")
            .header("X-CorAPI-Target-ID", BLINK_TARGET_ID)
            .header("X-PSU-IP-Address", "AUTO")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        assert_eq!(response.headers()["x-correlation-id"], CORRELATION_ID);
        let error: types::CommonErrorResponse = response.json().await.unwrap();
        assert_eq!(error.type_, Some(types::CommonErrorType::InvalidPayload));
        assert!(error.detail.unwrap().contains("X-PSU-User-Agent"));
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn an_expired_access_token_gets_401_and_a_refresh_helps() {
        let sandbox = start(Some(Duration::from_secs(1))).await;
        let base = sandbox.url(SLUG);
        let (status, tokens) = exchange_code(&base).await;
        assert_eq!(status, 200);
        assert_eq!(tokens["expires_in"], 1);
        let client = client(&base, tokens["access_token"].as_str().unwrap());
        blink!(client.get_healthcheck()).send().await.unwrap();

        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (status, error) = refusal(blink!(client.get_customers()).send().await);
        assert_eq!(status, 401);
        assert_eq!(error.type_, Some(types::CommonErrorType::ExpiredToken));

        // An unknown token, and none at all: invalidToken.
        let (status, error) = refusal(
            blink!(self::client(&base, "forged").get_customers())
                .send()
                .await,
        );
        assert_eq!(status, 401);
        assert_eq!(error.type_, Some(types::CommonErrorType::InvalidToken));
        let anonymous = customer_data::blink_customer_management::connect_anonymous(&base).unwrap();
        let (status, error) = refusal(blink!(anonymous.get_healthcheck()).send().await);
        assert_eq!(status, 401);
        assert_eq!(error.type_, Some(types::CommonErrorType::InvalidToken));

        // The refresh token outlives the access token.
        let (status, renewed) = refresh(&base, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{renewed}");
        let client = self::client(&base, renewed["access_token"].as_str().unwrap());
        blink!(client.get_customers()).send().await.unwrap();
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn a_created_contact_detail_and_an_updated_address_read_back() {
        let sandbox = start(None).await;
        let base = sandbox.url(SLUG);
        let client = client(&base, &access_token(&base).await);

        // Contact details: created, then in the list and in the person record.
        let persons = blink!(client.get_persons()).send().await.unwrap();
        let person_id = persons[3].person_identification.to_string();
        let before = blink!(client.get_contact_details_by_person_id())
            .person_id(&person_id)
            .send()
            .await
            .unwrap()
            .into_inner();
        let created = blink!(client.post_contact_details_by_person_id())
            .person_id(&person_id)
            .body(types::ContactDetails {
                additional_contact_information: Some("Weekdays only".parse().unwrap()),
                contact_content: "office@sandbox.example.invalid".parse().unwrap(),
                // Read-only in the spec: a client SHOULD NOT send it (OpenAPI 3.0.3), and the
                // bank assigns it.
                contact_identification: None,
                contact_medium_type: Some(types::ContactMediumType::Business),
                medium: types::ContactMedium::Email,
                extra: Default::default(),
            })
            .send()
            .await
            .unwrap()
            .into_inner();
        let new_id = created.contact_identification.clone().unwrap();
        assert!(!new_id.as_str().is_empty(), "the bank assigns the id");
        assert!(
            !before
                .iter()
                .any(|c| c.contact_identification.as_ref() == Some(&new_id))
        );
        let after = blink!(client.get_contact_details_by_person_id())
            .person_id(&person_id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(after.len(), before.len() + 1);
        assert_eq!(after.last(), Some(&created));
        assert_eq!(
            created.contact_content.as_str(),
            "office@sandbox.example.invalid"
        );
        let person = blink!(client.get_person_by_person_id())
            .person_id(&person_id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(person.contact_information.contains(&created));
        // Paging the contact list one by one ends with the new one.
        let first = blink!(client.get_contact_details_by_person_id())
            .person_id(&person_id)
            .limit(std::num::NonZeroU32::new(1).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        assert!(next_cursor(&first).is_some());

        // Addresses: update the domicile address, read it back.
        let customers = blink!(client.get_customers()).send().await.unwrap();
        let customer_id = customers[2].customer_identification.to_string();
        let mut domicile = blink!(client.get_address_by_customer_id())
            .customer_id(&customer_id)
            .send()
            .await
            .unwrap()
            .into_inner();
        let postal = domicile.postal_address.as_mut().unwrap();
        let physical = postal.physical_address.as_mut().unwrap();
        physical.street_name = Some("Sandbox Street".parse().unwrap());
        physical.building_number = Some("7b".parse().unwrap());
        domicile.mailing_instruction = Some("Leave at reception".parse().unwrap());
        let put = blink!(client.put_address_by_customer_id())
            .customer_id(&customer_id)
            .body(domicile.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status().as_u16(), 204);
        let read = blink!(client.get_address_by_customer_id())
            .customer_id(&customer_id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read, domicile);

        // A new address, then made the domicile by an update: the GET returns it.
        let created = blink!(client.post_address_by_customer_id())
            .customer_id(&customer_id)
            .body(types::AddressNew {
                address_name: Some("New home".parse().unwrap()),
                mailing_instruction: None,
                postal_address: domicile.postal_address.clone(),
                extra: Default::default(),
            })
            .send()
            .await
            .unwrap()
            .into_inner();
        let new_id: f64 = created.address_identification.unwrap().parse().unwrap();
        let customer = blink!(client.get_customer_by_customer_id())
            .customer_id(&customer_id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(
            customer
                .address_list
                .iter()
                .any(|a| a.address_identification == Some(new_id))
        );
        let moved = types::Address {
            address_identification: new_id,
            address_name: Some("New home".parse().unwrap()),
            dispatch_type: types::DispatchType::Electronical,
            is_domicile: Some(true),
            is_mailing_address: Some(true),
            language: Some("German".parse().unwrap()),
            mailing_instruction: None,
            postal_address: domicile.postal_address.clone(),
            extra: Default::default(),
        };
        blink!(client.put_address_by_customer_id())
            .customer_id(&customer_id)
            .body(moved.clone())
            .send()
            .await
            .unwrap();
        let read = blink!(client.get_address_by_customer_id())
            .customer_id(&customer_id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read, moved);

        // An address the customer does not have: 404.
        let (status, error) = refusal(
            blink!(client.put_address_by_customer_id())
                .customer_id(&customer_id)
                .body(types::Address {
                    address_identification: 1.0,
                    ..moved
                })
                .send()
                .await,
        );
        assert_eq!(status, 404);
        assert_eq!(
            error.type_,
            Some(types::CommonErrorType::ResourceDoesNotExist)
        );
        sandbox.shutdown().await;
    }
}
