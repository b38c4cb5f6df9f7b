//! Consumer Intelligence V3: every sample payload of the vendor's pages against the generated
//! types, constraint checks that stop a request before it is sent, and the response handling
//! (204 no match, typed RFC 7807 problems) against a local one-shot HTTP server.
#![cfg(feature = "consumer-intelligence")]

mod common;

use common::{NoTraffic, http, serve};
use customer_data::consumer_intelligence::{Client, Error, types};
use customer_data::runtime::OptionalResponse;
use serde_json::Value;

const SLUG: &str = "consumer_intelligence";

fn fixture(name: &str) -> Value {
    common::fixture(SLUG, name)
}

fn assert_round_trip<T>(name: &str)
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    common::assert_round_trip::<T>(SLUG, name);
}

#[test]
fn every_seed_payload_round_trips_through_the_generated_types() {
    assert_round_trip::<types::ConsumerDataDto>("find_person_request.json");
    assert_round_trip::<types::ConsumerDataDto>("full_address_query.json");
    assert_round_trip::<types::ConsumerDataDto>("full_address_parsed.json");
    assert_round_trip::<types::ConsumerDataDto>("full_address_unparsed_entrance.json");
    assert_round_trip::<types::ConsumerDataDto>("full_address_unparsed_result.json");
    assert_round_trip::<types::PersonDto>("person.json");
    assert_round_trip::<types::SubscribedPersonPage>("subscribed_person_page.json");
    assert_round_trip::<types::ConsumerPage>("consumer_page.json");
    assert_round_trip::<types::AuditEventPage>("audit_event_page.json");
    assert_round_trip::<types::Problem>("constraint_violation_problem.json");
    assert_round_trip::<types::WebhookList>("webhook_list.json");
    assert_round_trip::<types::CreateWebhookDto>("create_webhook_request.json");
    assert_round_trip::<types::CreatedWebhook>("create_webhook_response.json");
    assert_round_trip::<types::Webhook>("delete_webhook_response.json");
    assert_round_trip::<types::DeleteConsumersDto>("delete_consumers_request.json");
    assert_round_trip::<types::PingEvent>("event_ping.json");
    assert_round_trip::<types::ConsumerUploadedEvent>("event_consumer_uploaded.json");
    assert_round_trip::<types::ConsumerDeletedEvent>("event_consumer_deleted.json");
    assert_round_trip::<types::ConsumerIdentifiedEvent>("event_consumer_identified.json");
    assert_round_trip::<types::ConsumerNotIdentifiedEvent>("event_consumer_not_identified.json");
    assert_round_trip::<types::PersonReidentifiedEvent>("event_person_reidentified.json");
    assert_round_trip::<types::PersonChangedEvent>("event_person_changed.json");
    assert_round_trip::<types::EnrichmentChangedEvent>("event_enrichment_changed.json");
    assert_round_trip::<types::LifeEventEvent>("event_life_event.json");
}

#[test]
fn decoded_samples_carry_their_values() {
    let event: types::LifeEventEvent =
        serde_json::from_value(fixture("event_life_event.json")).unwrap();
    assert_eq!(event.type_, types::WebhookEventTypeDto::LifeEvent);
    assert_eq!(event.trigger, types::LifeEventTrigger::HouseholdMove);
    assert_eq!(event.market, types::EventMarket::Se);
    assert_eq!(
        (event.probability, event.within_estimated_days),
        (Some(75), Some(120))
    );

    let problem: types::Problem =
        serde_json::from_value(fixture("constraint_violation_problem.json")).unwrap();
    assert_eq!(problem.title.as_deref(), Some("Constraint Violation"));
    assert_eq!(problem.status, Some(400));

    let page: types::SubscribedPersonPage = serde_json::from_value(serde_json::json!({
        "data": [], "nextPageToken": null
    }))
    .unwrap();
    assert_eq!(page.next_page_token, None, "the last page's token is null");
}

#[test]
fn the_seed_find_person_sample_with_numbers_for_strings_is_rejected_naming_the_field() {
    let err = serde_path_to_error::deserialize::<_, types::ConsumerDataDto>(fixture(
        "find_person_request.seed.json",
    ))
    .unwrap_err();
    assert_eq!(err.path().to_string(), "legalId");
    assert!(
        err.inner().to_string().contains("expected a string"),
        "{err}"
    );
}

#[test]
fn the_collapsed_upload_sample_is_rejected_for_its_missing_consumer_id() {
    let err = serde_json::from_value::<Vec<types::UploadConsumerDto>>(fixture(
        "upload_consumers_request.json",
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("missing field `consumerId`"),
        "{err}"
    );
}

#[test]
fn unknown_members_are_kept_not_dropped() {
    let person: types::PersonDto = serde_json::from_value(serde_json::json!({
        "familyName": "Lindqvist",
        "someFutureField": {"a": 1}
    }))
    .unwrap();
    assert_eq!(person.extra["someFutureField"], serde_json::json!({"a": 1}));
    let back = serde_json::to_value(&person).unwrap();
    assert_eq!(back["someFutureField"], serde_json::json!({"a": 1}));
}

#[test]
fn constrained_values_are_refused_by_the_types_naming_the_rule() {
    let err = "_starts-with-underscore"
        .parse::<types::ConsumerId>()
        .unwrap_err();
    assert!(err.to_string().contains("doesn't match pattern"), "{err}");
    assert!("".parse::<types::ConsumerId>().is_err());
    assert!("x".repeat(251).parse::<types::ConsumerId>().is_err());
    assert!("customer-42@shop_1".parse::<types::ConsumerId>().is_ok());

    let err = "se".parse::<types::Market>().unwrap_err();
    assert!(err.to_string().contains("doesn't match pattern"), "{err}");
    assert!("SWE".parse::<types::Market>().is_err());
    assert!("SE".parse::<types::Market>().is_ok());

    // Builders name the field.
    let err = types::UploadConsumerDto::try_from(
        types::UploadConsumerDto::builder()
            .consumer_id("_bad")
            .market("SE")
            .data(types::ConsumerDataDto::default()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("consumer_id"), "{err}");

    // Optional members take the validated type, so a bad value cannot reach a builder;
    // decoding names the member by its JSON path.
    let err = types::ConsumerDataDtoFamilyName::try_from("x".repeat(251)).unwrap_err();
    assert!(
        err.to_string().contains("longer than 250 characters"),
        "{err}"
    );
    for (member, value) in [
        ("yearOfBirth", serde_json::json!(10_000)),
        ("familyName", serde_json::json!("x".repeat(251))),
    ] {
        let err = serde_path_to_error::deserialize::<_, types::ConsumerDataDto>(
            serde_json::json!({ member: value }),
        )
        .unwrap_err();
        assert_eq!(err.path().to_string(), member);
    }

    // A decoded server payload is held to the same rules.
    let err = serde_json::from_value::<types::UploadConsumerDto>(serde_json::json!({
        "consumerId": "_x", "market": "SE", "data": {}
    }))
    .unwrap_err();
    assert!(err.to_string().contains("doesn't match pattern"), "{err}");
}

fn invalid_request<T: std::fmt::Debug>(result: Result<T, Error<types::Problem>>) -> String {
    match result {
        Err(Error::InvalidRequest(message)) => message,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_parameters_fail_before_any_request_naming_the_field() {
    let server = NoTraffic::new();
    let client = Client::new_with_client(
        &server.url(),
        customer_data::runtime::http::default_client().unwrap(),
        customer_data::runtime::Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES),
    );

    for size in [0, 1001] {
        let message = invalid_request(client.list_consumers().page_size(size).send().await);
        assert!(message.contains("page_size"), "{message}");
        let message = invalid_request(client.list_audit_events().page_size(size).send().await);
        assert!(message.contains("page_size"), "{message}");
        let message = invalid_request(
            client
                .list_subscribed_persons()
                .page_size(size)
                .send()
                .await,
        );
        assert!(message.contains("page_size"), "{message}");
    }

    let message = invalid_request(
        client
            .find_person()
            .market("se")
            .body(types::ConsumerDataDto::default())
            .send()
            .await,
    );
    assert!(message.contains("market"), "{message}");

    server.assert_untouched();
}

#[tokio::test]
async fn find_person_reads_200_as_some_204_as_none_and_problems_as_typed_errors() {
    let person = fixture("person.json").to_string();
    let problem = serde_json::json!({
        "type": "about:blank", "title": "Constraint Violation", "status": 400,
        "detail": "Request body contains one or more errors",
        "violations": [{"field": "legalId", "message": "size must be between 0 and 250"}]
    })
    .to_string();
    let (url, server) = serve(vec![
        http("200 OK", "application/json", &person),
        "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_string(),
        http("400 Bad Request", "application/problem+json", &problem),
    ])
    .await;
    let client = Client::new_with_client(
        &url,
        customer_data::runtime::http::default_client().unwrap(),
        customer_data::runtime::Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES),
    );
    let find = || {
        client.find_person().market("SE").body(
            types::ConsumerDataDto::builder()
                .legal_id(Some("198001022386".parse().unwrap()))
                .family_name(Some("Lindqvist".parse().unwrap())),
        )
    };

    let found = find()
        .send()
        .await
        .optional()
        .unwrap()
        .expect("200 is Some");
    assert_eq!(found.family_name.as_deref(), Some("string"));
    assert_eq!(
        found.birth_date,
        Some(chrono::NaiveDate::from_ymd_opt(2019, 8, 24).unwrap())
    );

    assert!(
        find().send().await.optional().unwrap().is_none(),
        "204 is None"
    );

    match find().send().await.optional() {
        Err(Error::ErrorResponse(problem)) => {
            assert_eq!(problem.status().as_u16(), 400);
            assert_eq!(problem.title.as_deref(), Some("Constraint Violation"));
            assert_eq!(problem.violations[0].field.as_deref(), Some("legalId"));
        }
        other => panic!("expected a typed problem, got {other:?}"),
    }

    let requests = server.await.unwrap();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[0].starts_with("POST /markets/SE/persons/_find HTTP/1.1"),
        "{}",
        requests[0]
    );
    assert!(
        !requests[0].to_ascii_lowercase().contains("api-version"),
        "no undocumented api-version header: {}",
        requests[0]
    );
    let body = &requests[0][requests[0].find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        serde_json::json!({"legalId": "198001022386", "familyName": "Lindqvist"})
    );
}

/// The two paths the vendor's migration guide named: the wire carries `GET
/// /subscriptions/persons` and `DELETE /consumers` with the ids as a JSON body; each of the
/// three success statuses the spec accepts for the delete (the guide states none) is a success,
/// and a documented 503 comes back as a typed, transient problem.
#[tokio::test]
async fn the_vendor_paths_are_on_the_wire_and_the_delete_sends_its_body() {
    let page = r#"{"data":[],"nextPageToken":"t-1"}"#;
    let problem = r#"{"type":"about:blank","title":"Service Unavailable","status":503}"#;
    let (url, server) = serve(vec![
        http("200 OK", "application/json", page),
        "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_string(),
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string(),
        "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string(),
        http(
            "503 Service Unavailable",
            "application/problem+json",
            problem,
        ),
    ])
    .await;
    let client = Client::new_with_client(
        &url,
        customer_data::runtime::http::default_client().unwrap(),
        customer_data::runtime::Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES)
            .with_retry(customer_data::runtime::retry::RetryPolicy::none()),
    );
    let listed = client
        .list_subscribed_persons()
        .page_size(10)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.next_page_token.as_deref(), Some("t-1"));
    let delete = || {
        client.delete_consumers().body(types::DeleteConsumersDto {
            consumer_ids: vec!["crm-1".parse().unwrap(), "crm-2".parse().unwrap()],
        })
    };
    for expected in [204, 200, 202] {
        let answer = delete().send().await.unwrap();
        assert_eq!(answer.status().as_u16(), expected);
    }
    let error = delete().send().await.unwrap_err();
    assert!(
        matches!(error, Error::ErrorResponse(_)),
        "documented: {error}"
    );
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(
        error.error_body().unwrap().title.as_deref(),
        Some("Service Unavailable")
    );
    assert!(error.is_transient());

    let requests = server.await.unwrap();
    assert!(
        requests[0].starts_with("GET /subscriptions/persons?pageSize=10 HTTP/1.1"),
        "{}",
        requests[0]
    );
    for request in &requests[1..] {
        assert!(
            request.starts_with("DELETE /consumers HTTP/1.1"),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{request}"
        );
        let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            serde_json::json!({"consumerIds": ["crm-1", "crm-2"]})
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Against the sandbox twin: token endpoint, identification, the resumable feeds, errors.

use customer_data::consumer_intelligence::ResponseValue;
use customer_data_sandbox::credentials::{
    CONSUMER_INTELLIGENCE_CLIENT_ID, CONSUMER_INTELLIGENCE_CLIENT_SECRET,
};
use customer_data_sandbox::synthetic::{Person, population};
use customer_data_sandbox::twins::consumer_intelligence as twin;
use customer_data_sandbox::{Lifetimes, Sandbox, SandboxConfig};
use std::time::Duration;

async fn start_twin(config: SandboxConfig) -> (Sandbox, String) {
    let sandbox = Sandbox::start(config).await.unwrap();
    let base = sandbox.url(SLUG);
    (sandbox, base)
}

fn plain_http() -> reqwest::Client {
    customer_data::runtime::http::default_client().unwrap()
}

fn token_request(base: &str, id: &str, secret: &str, form: &str) -> reqwest::RequestBuilder {
    plain_http()
        .post(format!("{base}{}", twin::TOKEN_PATH))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
}

async fn access_token(base: &str) -> String {
    let answer: Value = token_request(
        base,
        CONSUMER_INTELLIGENCE_CLIENT_ID,
        CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        "grant_type=client_credentials&scope=bci",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

fn authed(base: &str, token: &str) -> Client {
    let http = crate::common::bearer_http(token);
    Client::new_with_client(
        base,
        http,
        customer_data::runtime::Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES),
    )
}

fn register(seed: u64) -> Vec<Person> {
    population(seed, twin::POPULATION)
}

fn by_legal_id(id: &str, person: &Person) -> types::UploadConsumerDto {
    types::UploadConsumerDto {
        consumer_id: id.parse().unwrap(),
        market: person.market.parse().unwrap(),
        data: types::ConsumerDataDto {
            legal_id: Some(person.legal_id.parse().unwrap()),
            ..Default::default()
        },
    }
}

fn problem_of<T: std::fmt::Debug>(
    result: Result<ResponseValue<T>, Error<types::Problem>>,
) -> (u16, types::Problem) {
    match result {
        Err(Error::ErrorResponse(problem)) => (problem.status().as_u16(), problem.into_inner()),
        other => panic!("expected a problem, got {other:?}"),
    }
}

fn event_types(page: &types::AuditEventPage) -> Vec<types::WebhookEventTypeDto> {
    page.data.iter().map(|e| e.type_.clone()).collect()
}

/// Raw request whose answer must be a 400 Constraint Violation; returns its violations.
async fn violations(request: reqwest::RequestBuilder) -> Vec<types::Violation> {
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    assert_eq!(answer.headers()["content-type"], "application/problem+json");
    let problem: types::Problem = answer.json().await.unwrap();
    assert_eq!(problem.title.as_deref(), Some("Constraint Violation"));
    assert_eq!(problem.status, Some(400));
    assert!(
        problem
            .instance
            .as_deref()
            .is_some_and(|i| i.starts_with("urn:sandbox:traceid:")),
        "{problem:?}"
    );
    problem.violations
}

#[tokio::test]
async fn twin_token_endpoint_issues_bearer_tokens_and_refuses_bad_clients_and_grants() {
    let (sandbox, base) = start_twin(SandboxConfig::default()).await;

    let answer = token_request(
        &base,
        CONSUMER_INTELLIGENCE_CLIENT_ID,
        CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        "grant_type=client_credentials&scope=bci",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "bci");
    assert_eq!(body["expires_in"], 3600);
    assert!(!body["access_token"].as_str().unwrap().is_empty());

    let answer = token_request(
        &base,
        CONSUMER_INTELLIGENCE_CLIENT_ID,
        "wrong-secret",
        "grant_type=client_credentials&scope=bci",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let answer = token_request(
        &base,
        CONSUMER_INTELLIGENCE_CLIENT_ID,
        CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        "grant_type=password&scope=bci",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    // No token, and an unknown one: typed 401 problems.
    let anonymous = Client::new_with_client(
        &base,
        plain_http(),
        customer_data::runtime::Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES),
    );
    let (status, problem) = problem_of(anonymous.list_webhooks().send().await);
    assert_eq!(status, 401);
    assert_eq!(problem.title.as_deref(), Some("Unauthorized"));
    assert!(problem.detail.unwrap().contains("Missing"));
    let (status, problem) = problem_of(authed(&base, "ci-made-up").list_consumers().send().await);
    assert_eq!(status, 401);
    assert!(problem.detail.unwrap().contains("not valid"));
    let raw = plain_http()
        .get(format!("{base}/subscriptions/persons"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 401);
    assert_eq!(raw.headers()["content-type"], "application/problem+json");

    // A good token works.
    let client = authed(&base, &access_token(&base).await);
    assert!(
        client
            .list_webhooks()
            .send()
            .await
            .unwrap()
            .webhooks
            .is_empty()
    );
    sandbox.shutdown().await;
}

/// Every operation of the generated client against the twin: upload -> UPLOADED/IDENTIFYING ->
/// IDENTIFIED (two consumers, one person: one subscription) and NOT_IDENTIFIED; the feeds and
/// the audit events follow; find/get person; delete unsubscribes; webhook CRUD.
#[tokio::test]
async fn twin_identifies_uploaded_consumers_and_the_feeds_follow() {
    let config = SandboxConfig {
        consumer_intelligence_identify_delay: Duration::from_millis(400),
        ..SandboxConfig::default()
    };
    let people = register(config.seed);
    let (sandbox, base) = start_twin(config).await;
    let client = authed(&base, &access_token(&base).await);
    let a = &people[1];
    let by_names = types::UploadConsumerDto {
        consumer_id: "crm-2".parse().unwrap(),
        market: a.market.parse().unwrap(),
        data: types::ConsumerDataDto {
            first_name: Some(a.first_name.to_lowercase().parse().unwrap()),
            family_name: Some(a.family_name.parse().unwrap()),
            date_of_birth: Some(a.birth_date),
            ..Default::default()
        },
    };
    let nobody = types::UploadConsumerDto {
        consumer_id: "crm-3".parse().unwrap(),
        market: "SE".parse().unwrap(),
        data: types::ConsumerDataDto {
            legal_id: Some("000000000000".parse().unwrap()),
            family_name: Some("Nobody".parse().unwrap()),
            ..Default::default()
        },
    };
    client
        .upload_consumers()
        .body(vec![by_legal_id("crm-1", a), by_names.clone(), nobody])
        .send()
        .await
        .unwrap();

    let early = client.list_consumers().send().await.unwrap().into_inner();
    assert_eq!(early.data.len(), 3);
    for consumer in &early.data {
        assert!(
            matches!(
                consumer.state,
                Some(
                    types::ConsumerStateTypeDto::Uploaded
                        | types::ConsumerStateTypeDto::Identifying
                )
            ),
            "{consumer:?}"
        );
        assert_eq!(consumer.gedi, None);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let gedi = "gedi-1";
    let consumers = client.list_consumers().send().await.unwrap().into_inner();
    let states: Vec<_> = consumers
        .data
        .iter()
        .map(|c| (c.consumer_id.as_str(), c.state.clone(), c.gedi.as_deref()))
        .collect();
    use types::ConsumerStateTypeDto as S;
    assert_eq!(
        states,
        vec![
            ("crm-1", Some(S::Identified), Some(gedi)),
            ("crm-2", Some(S::Identified), Some(gedi)),
            ("crm-3", Some(S::NotIdentified), None),
        ]
    );
    assert_eq!(
        consumers.next_page_token, None,
        "the last consumer page has no token"
    );
    let not_identified = client
        .list_consumers()
        .state(S::NotIdentified)
        .send()
        .await
        .unwrap();
    assert_eq!(not_identified.data.len(), 1);
    assert_eq!(not_identified.data[0].consumer_id, "crm-3");
    let first = client.list_consumers().page_size(2).send().await.unwrap();
    assert_eq!(first.data.len(), 2);
    let rest = client
        .list_consumers()
        .page_size(2)
        .page_token(first.next_page_token.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.data.len(), 1);
    assert_eq!(rest.data[0].consumer_id, "crm-3");
    assert_eq!(rest.next_page_token, None);

    // One subscribed person for the two consumers.
    let feed = client
        .list_subscribed_persons()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(feed.data.len(), 1);
    assert_eq!(feed.data[0].gedi.as_deref(), Some(gedi));
    assert_eq!(
        feed.data[0].extra["consumerIds"],
        serde_json::json!(["crm-1", "crm-2"])
    );
    assert_eq!(feed.data[0].extra["familyName"], a.family_name.as_str());
    assert!(feed.next_page_token.is_some());

    // The audit events, typed as their webhook payloads.
    let audit = client
        .list_audit_events()
        .send()
        .await
        .unwrap()
        .into_inner();
    use types::WebhookEventTypeDto as E;
    assert_eq!(
        event_types(&audit),
        vec![
            E::ConsumerUploaded,
            E::ConsumerUploaded,
            E::ConsumerUploaded,
            E::ConsumerIdentified,
            E::PersonSubscribed,
            E::ConsumerIdentified,
            E::ConsumerNotIdentified,
        ]
    );
    let identified: types::ConsumerIdentifiedEvent =
        serde_json::from_value(serde_json::to_value(&audit.data[3]).unwrap()).unwrap();
    assert_eq!(
        (identified.consumer_id.as_str(), identified.gedi.as_str()),
        ("crm-1", gedi)
    );
    assert_eq!(audit.data[4].extra["gedi"], gedi);
    assert_eq!(audit.data[6].extra["consumerId"], "crm-3");

    // Re-uploading the same consumer is idempotent: no new events, same state.
    let position = audit.next_page_token.clone().unwrap();
    client
        .upload_consumers()
        .body(vec![by_names])
        .send()
        .await
        .unwrap();
    let since = client
        .list_audit_events()
        .page_token(position)
        .send()
        .await
        .unwrap();
    assert!(since.data.is_empty(), "{:?}", since.data);

    // Get and find person.
    let person = client
        .get_person()
        .gedi(gedi)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        person.legal_id.and_then(|l| l.identity_number).as_deref(),
        Some(a.legal_id.as_str())
    );
    assert_eq!(person.family_name.as_deref(), Some(a.family_name.as_str()));
    let (status, problem) = problem_of(client.get_person().gedi("gedi-99999").send().await);
    assert_eq!((status, problem.title.as_deref()), (404, Some("Not Found")));
    let found = client
        .find_person()
        .market(a.market)
        .body(types::ConsumerDataDto {
            legal_id: Some(a.legal_id.parse().unwrap()),
            ..Default::default()
        })
        .send()
        .await
        .optional()
        .unwrap()
        .expect("a match is 200");
    assert_eq!(found.extra["gedi"], gedi);
    let none = client
        .find_person()
        .market(a.market)
        .body(types::ConsumerDataDto {
            legal_id: Some("000000000000".parse().unwrap()),
            ..Default::default()
        })
        .send()
        .await
        .optional()
        .unwrap();
    assert!(none.is_none(), "no match is 204");

    // Deleting one consumer keeps the person; deleting the last unsubscribes it.
    let position = since.next_page_token.clone().unwrap();
    client
        .delete_consumers()
        .body(types::DeleteConsumersDto {
            consumer_ids: vec!["crm-1".parse().unwrap()],
        })
        .send()
        .await
        .unwrap();
    let feed = client.list_subscribed_persons().send().await.unwrap();
    assert_eq!(
        feed.data[0].extra["consumerIds"],
        serde_json::json!(["crm-2"])
    );
    client
        .delete_consumers()
        .body(types::DeleteConsumersDto {
            consumer_ids: vec!["crm-2".parse().unwrap(), "never-uploaded".parse().unwrap()],
        })
        .send()
        .await
        .unwrap();
    assert!(
        client
            .list_subscribed_persons()
            .send()
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let remaining = client.list_consumers().send().await.unwrap();
    assert_eq!(remaining.data.len(), 1);
    let since = client
        .list_audit_events()
        .page_token(position)
        .send()
        .await
        .unwrap();
    assert_eq!(
        event_types(&since),
        vec![
            E::ConsumerDeleted,
            E::ConsumerDeleted,
            E::PersonUnsubscribed
        ]
    );
    assert_eq!(since.data[2].extra["gedi"], gedi);

    // Webhooks: create (with a secret, shown once), list, delete.
    let created = client
        .create_webhook()
        .body(types::CreateWebhookDto {
            url: "http://127.0.0.1:9/ci-hook".into(),
            events: vec![E::X],
            description: Some("all events".into()),
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(created.secret.len() >= 32);
    let listed = client.list_webhooks().send().await.unwrap().into_inner();
    assert_eq!(listed.webhooks.len(), 1);
    assert_eq!(listed.webhooks[0].id, created.id);
    assert_eq!(listed.webhooks[0].events, vec![E::X]);
    let deleted = client
        .delete_webhook()
        .id(&created.id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.url, "http://127.0.0.1:9/ci-hook");
    let (status, _) = problem_of(client.delete_webhook().id(&created.id).send().await);
    assert_eq!(status, 404);
    assert!(
        client
            .list_webhooks()
            .send()
            .await
            .unwrap()
            .webhooks
            .is_empty()
    );
    sandbox.shutdown().await;
}

/// The subscribed-person and audit feeds are resumable: an empty last page still carries a
/// token, and a scripted change appears exactly once when resuming from the persisted token.
#[tokio::test]
async fn twin_feeds_resume_from_a_persisted_token_and_show_a_change_once() {
    let config = SandboxConfig {
        consumer_intelligence_identify_delay: Duration::from_millis(50),
        ..SandboxConfig::default()
    };
    let people = register(config.seed);
    let (sandbox, base) = start_twin(config).await;
    let token = access_token(&base).await;
    let client = authed(&base, &token);
    client
        .upload_consumers()
        .body(vec![
            by_legal_id("c-3", &people[3]),
            by_legal_id("c-4", &people[4]),
            by_legal_id("c-5", &people[5]),
        ])
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Drain the feed one person per page, to the empty page at its end.
    let mut gedis = Vec::new();
    let mut page_token: Option<String> = None;
    let persisted = loop {
        let mut request = client.list_subscribed_persons().page_size(1);
        if let Some(t) = &page_token {
            request = request.page_token(t.clone());
        }
        let page = request.send().await.unwrap().into_inner();
        let next = page
            .next_page_token
            .expect("the feed always returns a token");
        if page.data.is_empty() {
            break next;
        }
        gedis.extend(page.data.into_iter().filter_map(|p| p.gedi));
        page_token = Some(next);
    };
    assert_eq!(gedis, vec!["gedi-3", "gedi-4", "gedi-5"]);
    let audit_end = client
        .list_audit_events()
        .page_size(1000)
        .send()
        .await
        .unwrap()
        .into_inner()
        .next_page_token
        .unwrap();

    // Nothing new yet: an empty page, still with a token.
    let idle = client
        .list_subscribed_persons()
        .page_token(persisted.clone())
        .send()
        .await
        .unwrap();
    assert!(idle.data.is_empty());
    assert!(idle.next_page_token.is_some());

    // A scripted change (sandbox-only route) to person 4.
    let before = client
        .get_person()
        .gedi("gedi-4")
        .send()
        .await
        .unwrap()
        .into_inner();
    let changed = plain_http()
        .post(format!("{base}/sandbox/persons/gedi-4/change"))
        .header(
            customer_data_sandbox::sandbox_only::KEY_HEADER,
            sandbox.sandbox_key(),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status().as_u16(), 200);
    let changed: types::PersonDto = changed.json().await.unwrap();
    assert_ne!(changed.addresses, before.addresses);
    let after = client
        .get_person()
        .gedi("gedi-4")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.addresses, changed.addresses);

    // Resuming from the persisted token: exactly that person, once.
    let resumed = client
        .list_subscribed_persons()
        .page_token(persisted.clone())
        .send()
        .await
        .unwrap()
        .into_inner();
    let gedis: Vec<_> = resumed.data.iter().filter_map(|p| p.gedi.clone()).collect();
    assert_eq!(gedis, vec!["gedi-4"]);
    assert_eq!(
        serde_json::Value::Array(
            changed
                .addresses
                .iter()
                .cloned()
                .map(serde_json::Value::Object)
                .collect()
        ),
        resumed.data[0].extra["addresses"]
    );
    let again = client
        .list_subscribed_persons()
        .page_token(resumed.next_page_token.unwrap())
        .send()
        .await
        .unwrap();
    assert!(again.data.is_empty(), "the change is not repeated");
    assert!(again.next_page_token.is_some());

    // The audit feed, resumed, holds the change once.
    let audit = client
        .list_audit_events()
        .page_token(audit_end)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        event_types(&audit),
        vec![types::WebhookEventTypeDto::PersonChanged]
    );
    let event: types::PersonChangedEvent =
        serde_json::from_value(serde_json::to_value(&audit.data[0]).unwrap()).unwrap();
    assert_eq!(event.gedi, "gedi-4");
    assert_eq!(event.consumer_ids, vec!["c-4"]);

    // A change to a person nobody subscribes to moves no feed.
    let unrelated = plain_http()
        .post(format!("{base}/sandbox/persons/gedi-150/change"))
        .header(
            customer_data_sandbox::sandbox_only::KEY_HEADER,
            sandbox.sandbox_key(),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(unrelated.status().as_u16(), 200);
    let quiet = client
        .list_audit_events()
        .page_token(audit.next_page_token.unwrap())
        .send()
        .await
        .unwrap();
    assert!(quiet.data.is_empty());

    // fromDate: everything changed since today; it cannot be combined with a token.
    let today = chrono::Utc::now().date_naive();
    let from_today = client
        .list_subscribed_persons()
        .from_date(today)
        .send()
        .await
        .unwrap();
    let mut gedis: Vec<_> = from_today
        .data
        .iter()
        .filter_map(|p| p.gedi.clone())
        .collect();
    gedis.sort();
    assert_eq!(gedis, vec!["gedi-3", "gedi-4", "gedi-5"]);
    let (status, problem) = problem_of(
        client
            .list_subscribed_persons()
            .from_date(today)
            .page_token(persisted)
            .send()
            .await,
    );
    assert_eq!(status, 400);
    assert_eq!(problem.violations[0].field.as_deref(), Some("fromDate"));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn twin_refuses_an_expired_token_with_an_unauthorized_problem() {
    let (sandbox, base) = start_twin(SandboxConfig {
        lifetimes: Lifetimes {
            consumer_intelligence: Duration::from_secs(1),
            ..Lifetimes::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let answer: Value = token_request(
        &base,
        CONSUMER_INTELLIGENCE_CLIENT_ID,
        CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        "grant_type=client_credentials&scope=bci",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(answer["expires_in"], 1);
    let client = authed(&base, answer["access_token"].as_str().unwrap());
    client.list_webhooks().send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, problem) = problem_of(client.list_webhooks().send().await);
    assert_eq!(status, 401);
    assert_eq!(problem.title.as_deref(), Some("Unauthorized"));
    assert!(problem.detail.unwrap().contains("expired"));
    // A new token works again.
    let client = authed(&base, &access_token(&base).await);
    client.list_webhooks().send().await.unwrap();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn twin_rate_limit_answers_429_with_retry_after() {
    let (sandbox, base) = start_twin(SandboxConfig {
        consumer_intelligence_rate_limit: Some(3),
        ..SandboxConfig::default()
    })
    .await;
    let token = access_token(&base).await;
    let client = authed(&base, &token);
    for _ in 0..3 {
        client.list_webhooks().send().await.unwrap();
    }
    let raw = plain_http()
        .get(format!("{base}/webhooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 429);
    assert_eq!(raw.headers()["retry-after"], "1");
    assert_eq!(raw.headers()["content-type"], "application/problem+json");
    // Without retries the caller gets the problem...
    let once = Client::new_with_client(
        &base,
        crate::common::bearer_http(&token),
        customer_data::runtime::Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES)
            .with_retry(customer_data::runtime::retry::RetryPolicy::none()),
    );
    let (status, problem) = problem_of(once.list_consumers().send().await);
    assert_eq!(status, 429);
    assert_eq!(problem.title.as_deref(), Some("Too Many Requests"));
    // ...with the default policy the layer waits the Retry-After second and tries again.
    let started = std::time::Instant::now();
    let answer = client.list_webhooks().send().await.unwrap();
    assert_eq!(
        answer.headers()[customer_data::runtime::layer::ATTEMPTS_HEADER],
        "2"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn twin_answers_malformed_requests_with_constraint_violations_naming_the_member() {
    let (sandbox, base) = start_twin(SandboxConfig::default()).await;
    let token = access_token(&base).await;
    let http = plain_http();
    let upload = |body: Value| {
        http.post(format!("{base}/consumers"))
            .bearer_auth(&token)
            .json(&body)
    };

    let found = violations(upload(serde_json::json!([
        {"consumerId": "ok-1", "market": "SE", "data": {}},
        {"consumerId": "_bad", "market": "SE", "data": {}}
    ])))
    .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].field.as_deref(), Some("[1].consumerId"));
    assert!(
        found[0]
            .message
            .as_deref()
            .unwrap()
            .contains("doesn't match pattern"),
        "{found:?}"
    );
    let found = violations(upload(serde_json::json!([{"market": "SE", "data": {}}]))).await;
    assert_eq!(found[0].field.as_deref(), Some("[0].consumerId"));
    assert!(
        found[0]
            .message
            .as_deref()
            .unwrap()
            .contains("missing field")
    );
    let found = violations(upload(serde_json::json!([
        {"consumerId": "ok-1", "market": "SE", "data": {"legalId": 198001022386u64}}
    ])))
    .await;
    assert_eq!(found[0].field.as_deref(), Some("[0].data.legalId"));
    let found = violations(upload(serde_json::json!({"consumerId": "not-an-array"}))).await;
    assert_eq!(found[0].field.as_deref(), Some("body"));
    let too_many: Vec<Value> = (0..101)
        .map(|i| serde_json::json!({"consumerId": format!("c{i}"), "market": "SE", "data": {}}))
        .collect();
    let found = violations(upload(Value::Array(too_many))).await;
    assert_eq!(found[0].field.as_deref(), Some("body"));
    // Nothing of the refused batches was stored.
    let client = authed(&base, &token);
    assert!(
        client
            .list_consumers()
            .send()
            .await
            .unwrap()
            .data
            .is_empty()
    );

    // Query and path parameters the client would refuse before sending.
    let get = |path: &str| http.get(format!("{base}{path}")).bearer_auth(&token);
    for path in [
        "/consumers?pageSize=0",
        "/audit-events?pageSize=1001",
        "/subscriptions/persons?pageSize=x",
    ] {
        let found = violations(get(path)).await;
        assert_eq!(found[0].field.as_deref(), Some("pageSize"), "{path}");
    }
    let found = violations(get("/consumers?state=SLEEPING")).await;
    assert_eq!(found[0].field.as_deref(), Some("state"));
    let found = violations(get("/audit-events?pageToken=not-a-token")).await;
    assert_eq!(found[0].field.as_deref(), Some("pageToken"));
    let found = violations(
        http.post(format!("{base}/markets/se/persons/_find"))
            .bearer_auth(&token)
            .json(&serde_json::json!({})),
    )
    .await;
    assert_eq!(found[0].field.as_deref(), Some("market"));

    // A delete without its body: the ids are read from the body only.
    let found = violations(http.delete(format!("{base}/consumers")).bearer_auth(&token)).await;
    assert_eq!(found[0].field.as_deref(), Some("body"));

    // Unknown paths and methods are problems too; so are the routes we used to guess for
    // listSubscribedPersons and deleteConsumers (the vendor's migration guide named others).
    for (request, status, title) in [
        (get("/no-such-thing"), 404, "Not Found"),
        (get("/persons"), 404, "Not Found"),
        (
            http.post(format!("{base}/consumers/_delete"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"consumerIds": ["c1"]})),
            404,
            "Not Found",
        ),
        (
            http.put(format!("{base}/consumers")).bearer_auth(&token),
            405,
            "Method Not Allowed",
        ),
    ] {
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status);
        let problem: types::Problem = answer.json().await.unwrap();
        assert_eq!(problem.title.as_deref(), Some(title));
    }

    // Through the generated client: typed Constraint Violation problems.
    let (status, problem) = problem_of(
        client
            .delete_consumers()
            .body(types::DeleteConsumersDto {
                consumer_ids: vec![],
            })
            .send()
            .await,
    );
    assert_eq!(status, 400);
    assert_eq!(problem.title.as_deref(), Some("Constraint Violation"));
    assert_eq!(problem.violations[0].field.as_deref(), Some("consumerIds"));
    let (status, problem) = problem_of(
        client
            .create_webhook()
            .body(types::CreateWebhookDto {
                url: "ftp://example.invalid".into(),
                events: vec![],
                description: None,
            })
            .send()
            .await,
    );
    assert_eq!(status, 400);
    let fields: Vec<_> = problem
        .violations
        .iter()
        .filter_map(|v| v.field.as_deref())
        .collect();
    assert_eq!(fields, vec!["url", "events"]);
    sandbox.shutdown().await;
}
