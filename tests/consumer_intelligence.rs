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
