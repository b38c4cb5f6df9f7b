//! Issue 7, forward-compatible enums: a value a vendor adds decodes to `UnknownValue(<value>)`,
//! not an error. One test per service against its sandbox twin with
//! `SandboxConfig::send_unlisted_enum_values` on (each twin then answers one enum field with
//! its `UNLISTED_*` value), plus what a generated open enum does with serde, `FromStr` and a
//! query string.
//!
//! BiQ: `biq_auth` and `biq_alert_changes` have no enum at all (AlertChanges keeps event types
//! and customer categories as plain strings on purpose), and the one BiQ enum,
//! `biq_customer_shadow`'s `CustomerCategoryText`, is only in request bodies: no CustomerShadow
//! answer carries it. So the BiQ test reads a new category where BiQ sends it, in an
//! AlertChanges customer-category-change, and parses it into that enum as a client applying
//! the change to its shadow customer does.

mod common;

use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};

/// A sandbox whose twins answer with values their specs do not list.
async fn sandbox_sending_unlisted_values() -> Sandbox {
    Sandbox::start(SandboxConfig {
        send_unlisted_enum_values: true,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts")
}

#[cfg(feature = "consumer-intelligence")]
mod consumer_intelligence {
    use std::collections::BTreeMap;

    use super::*;
    use customer_data::consumer_intelligence::types::ConsumerStateTypeDto as State;
    use customer_data::consumer_intelligence::{
        Client, Credentials, Environment, SLUG, connect, types,
    };
    use customer_data_sandbox::twins::consumer_intelligence::UNLISTED_CONSUMER_STATE;
    use serde_json::json;

    #[tokio::test]
    async fn a_consumer_state_the_spec_does_not_list_decodes_as_unknown_value() {
        let sandbox = sandbox_sending_unlisted_values().await;
        let base_url = sandbox.url(SLUG);
        let client = connect(
            Environment::Custom {
                token_url: format!("{base_url}/oauth/token"),
                base_url,
            },
            Credentials::new(
                credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
                credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
            ),
        )
        .unwrap();
        client
            .upload_consumers()
            .body(vec![types::UploadConsumerDto {
                consumer_id: "open-enum-1".parse().unwrap(),
                market: "SE".parse().unwrap(),
                data: types::ConsumerDataDto {
                    family_name: Some("Nobody".parse().unwrap()),
                    ..Default::default()
                },
            }])
            .send()
            .await
            .unwrap();
        let page = client.list_consumers().send().await.unwrap().into_inner();
        let states: Vec<_> = page.data.iter().map(|c| c.state.clone()).collect();
        assert_eq!(
            states,
            [Some(State::UnknownValue(UNLISTED_CONSUMER_STATE.into()))]
        );
        sandbox.shutdown().await;
    }

    #[test]
    fn unknown_values_round_trip_as_json_alone_and_in_option_vec_and_map_values() {
        let unknown = State::UnknownValue("ARCHIVED".into());
        // Alone: a listed value is its variant, any other string is kept.
        assert_eq!(
            serde_json::from_value::<State>(json!("IDENTIFIED")).unwrap(),
            State::Identified
        );
        assert_eq!(
            serde_json::from_value::<State>(json!("ARCHIVED")).unwrap(),
            unknown
        );
        assert_eq!(serde_json::to_value(&unknown).unwrap(), json!("ARCHIVED"));
        assert_eq!(
            serde_json::to_value(State::NotIdentified).unwrap(),
            json!("NOT_IDENTIFIED")
        );
        // In an Option, a Vec and as map values.
        let option: Option<State> = serde_json::from_value(json!("ARCHIVED")).unwrap();
        assert_eq!(option, Some(unknown.clone()));
        assert_eq!(
            serde_json::from_value::<Option<State>>(json!(null)).unwrap(),
            None
        );
        let list = json!(["UPLOADED", "ARCHIVED", "archived"]);
        let decoded: Vec<State> = serde_json::from_value(list.clone()).unwrap();
        assert_eq!(
            decoded,
            [
                State::Uploaded,
                unknown.clone(),
                State::UnknownValue("archived".into())
            ]
        );
        assert_eq!(serde_json::to_value(&decoded).unwrap(), list);
        let map = json!({"a": "ARCHIVED", "b": "IDENTIFYING"});
        let decoded: BTreeMap<String, State> = serde_json::from_value(map.clone()).unwrap();
        assert_eq!(decoded["a"], unknown);
        assert_eq!(decoded["b"], State::Identifying);
        assert_eq!(serde_json::to_value(&decoded).unwrap(), map);
        // As a member of a generated struct.
        let consumer = json!({"consumerId": "c-1", "state": "ARCHIVED"});
        let decoded: types::ConsumerDto = serde_json::from_value(consumer.clone()).unwrap();
        assert_eq!(decoded.state, Some(unknown));
        assert_eq!(serde_json::to_value(&decoded).unwrap(), consumer);
        // What is not a string at all is still a typed decode error.
        let err = serde_json::from_value::<State>(json!(7)).unwrap_err();
        assert!(err.to_string().contains("ConsumerStateTypeDto"), "{err}");
    }

    #[test]
    fn from_str_and_try_from_keep_unknown_values_and_display_writes_them_back() {
        assert_eq!("IDENTIFIED".parse::<State>().unwrap(), State::Identified);
        assert_eq!(
            "ARCHIVED".parse::<State>().unwrap(),
            State::UnknownValue("ARCHIVED".into())
        );
        assert_eq!(
            State::try_from("").unwrap(),
            State::UnknownValue(String::new())
        );
        assert_eq!(
            State::try_from(String::from("ARCHIVED")).unwrap(),
            State::UnknownValue("ARCHIVED".into())
        );
        assert_eq!(
            State::UnknownValue("ARCHIVED".into()).to_string(),
            "ARCHIVED"
        );
        assert_eq!(State::NotIdentified.to_string(), "NOT_IDENTIFIED");
    }

    /// progenitor writes query parameters from `Serialize`: a listed value is its wire
    /// spelling, an unknown one the string it keeps.
    #[tokio::test]
    async fn an_enum_query_parameter_is_sent_as_its_wire_value() {
        let page = r#"{"data": [], "nextPageToken": null}"#;
        let (url, seen) = common::serve(vec![
            common::http("200 OK", "application/json", page),
            common::http("200 OK", "application/json", page),
        ])
        .await;
        let client = Client::new_with_client(
            &url,
            customer_data::runtime::http::default_client().unwrap(),
            customer_data::runtime::Layer::new(
                &customer_data::consumer_intelligence::SERVICE_RULES,
            ),
        );
        for state in [State::NotIdentified, State::UnknownValue("ARCHIVED".into())] {
            client.list_consumers().state(state).send().await.unwrap();
        }
        let requests = seen.await.unwrap();
        let request_lines: Vec<&str> = requests
            .iter()
            .map(|r| r.lines().next().unwrap_or_default())
            .collect();
        assert_eq!(
            request_lines,
            [
                "GET /consumers?state=NOT_IDENTIFIED HTTP/1.1",
                "GET /consumers?state=ARCHIVED HTTP/1.1"
            ]
        );
    }
}

#[cfg(feature = "blink")]
mod blink_customer_management {
    use super::*;
    use customer_data::blink_customer_management::types::CustomerStatus;
    use customer_data::blink_customer_management::{Config, Grant, SLUG, connect};
    use customer_data_sandbox::twins::blink_customer_management::UNLISTED_CUSTOMER_STATUS;

    #[tokio::test]
    async fn a_customer_status_the_spec_does_not_list_decodes_as_unknown_value() {
        let sandbox = sandbox_sending_unlisted_values().await;
        let client = connect(Config::new(
            sandbox.url(SLUG),
            credentials::BLINK_CLIENT_ID,
            "open-enums-test",
            credentials::BLINK_TARGET_ID,
            Grant::AuthorizationCode(credentials::BLINK_AUTHORIZATION_CODE.into()),
        ))
        .unwrap();
        let customers = client.get_customers().send().await.unwrap().into_inner();
        assert!(!customers.is_empty());
        let expected = CustomerStatus::UnknownValue(UNLISTED_CUSTOMER_STATUS.into());
        for customer in &customers {
            assert_eq!(customer.status, expected, "{customer:?}");
        }
        let id = customers[0].customer_identification.to_string();
        let one = client
            .get_customer_by_customer_id()
            .customer_id(id)
            .send()
            .await
            .unwrap();
        assert_eq!(one.status, expected);
        sandbox.shutdown().await;
    }
}

#[cfg(feature = "carmachain")]
mod carmachain {
    use super::*;
    use customer_data::carmachain::{SLUG, connect, types};
    use customer_data_sandbox::twins::carmachain::UNLISTED_REQUEST_STATUS;

    #[tokio::test]
    async fn a_request_status_the_spec_does_not_list_decodes_as_unknown_value() {
        let sandbox = sandbox_sending_unlisted_values().await;
        let client = connect(&sandbox.url(SLUG)).unwrap();
        let created = client
            .create_request()
            .body(types::CreateRequest {
                type_request: types::TypeRequest::DataCategory(types::DataCategory::Name),
                value: vec![types::PersonQuery {
                    phone_number: Some("+380990000001".into()),
                    ..Default::default()
                }],
            })
            .send()
            .await
            .unwrap();
        let id = created.parametr_request[0].id_request.clone().unwrap();
        let answer = client
            .respond()
            .body(types::RespondRequest {
                id_request: vec![id],
                type_request: None,
                period: None,
            })
            .send()
            .await
            .unwrap();
        let statuses: Vec<_> = answer
            .parametr_request
            .iter()
            .map(|r| r.status.clone())
            .collect();
        assert_eq!(
            statuses,
            [Some(types::RequestStatus::UnknownValue(
                UNLISTED_REQUEST_STATUS.into()
            ))]
        );
        sandbox.shutdown().await;
    }
}

#[cfg(feature = "biq")]
mod biq {
    use super::*;
    use customer_data::biq::{Environment, Session};
    use customer_data::biq_alert_changes::{EventPayload, TypedPayload};
    use customer_data::biq_customer_shadow::types::CustomerCategoryText;
    use customer_data_sandbox::twins::biq_alert_changes::UNLISTED_CUSTOMER_CATEGORY;

    /// See the file's docs: the category arrives as a plain string in an AlertChanges payload
    /// and becomes CustomerShadow's `CustomerCategoryText`, the one BiQ enum.
    #[tokio::test]
    async fn a_customer_category_the_spec_does_not_list_decodes_as_unknown_value() {
        let sandbox = sandbox_sending_unlisted_values().await;
        let session = Session::new(
            Environment::Custom {
                auth: sandbox.url("biq_auth"),
                customer_shadow: sandbox.url("biq_customer_shadow"),
                alert_changes: sandbox.url("biq_alert_changes"),
            },
            credentials::BIQ_API_KEY,
        )
        .unwrap();
        let tenant = session.tenant_id().await.unwrap();
        // The sandbox-only script route (the sandbox key, no vendor auth) emits the change.
        let scripted = customer_data::runtime::http::default_client()
            .unwrap()
            .post(format!(
                "{}/sandbox/tenants/{tenant}/script",
                sandbox.url("biq_alert_changes")
            ))
            .header(
                customer_data_sandbox::sandbox_only::KEY_HEADER,
                sandbox.sandbox_key(),
            )
            .json(&serde_json::json!({"count": 1, "eventType": "customer-category-change"}))
            .send()
            .await
            .unwrap();
        assert_eq!(scripted.status().as_u16(), 200);

        let changes = session
            .alert_changes()
            .unwrap()
            .list_approved_changes()
            .tenant_id(&tenant)
            .send()
            .await
            .unwrap()
            .into_inner();
        let [change] = changes.as_slice() else {
            panic!("one scripted change expected: {changes:?}");
        };
        let EventPayload::CustomerCategoryChange(payload) = change.typed_payload() else {
            panic!("{change:?}");
        };
        let existing: CustomerCategoryText = payload
            .existing_customer_category
            .expect("the customer's category")
            .parse()
            .unwrap();
        let proposed: CustomerCategoryText = payload
            .proposed_customer_category
            .expect("a proposed category")
            .parse()
            .unwrap();
        assert!(
            matches!(
                existing,
                CustomerCategoryText::Residential | CustomerCategoryText::Enterprise
            ),
            "{existing:?}"
        );
        assert_eq!(
            proposed,
            CustomerCategoryText::UnknownValue(UNLISTED_CUSTOMER_CATEGORY.into())
        );
        sandbox.shutdown().await;
    }
}

#[cfg(feature = "accountsiq")]
mod accountsiq {
    use super::*;
    use customer_data::accountsiq_v1_1::Endpoint;
    use customer_data::{accountsiq_v1_1 as v1_1, accountsiq_v2_0 as v2_0};
    use customer_data_sandbox::twins::accountsiq_shared::{SEEDED_CUSTOMERS, UNLISTED_LEDGER_TYPE};

    #[tokio::test]
    async fn v1_1_a_ledger_type_the_wsdl_does_not_list_decodes_as_unknown_value() {
        let sandbox = sandbox_sending_unlisted_values().await;
        let session = v1_1::Session::new(
            &Endpoint::Custom(sandbox.url(v1_1::SLUG)),
            v1_1::Credentials::new(
                credentials::ACCOUNTSIQ_COMPANY_ID,
                credentials::ACCOUNTSIQ_PARTNER_KEY,
                credentials::ACCOUNTSIQ_USER_KEY,
            ),
        )
        .unwrap();
        let customers = session
            .call(async |client, token| {
                client
                    .get_customer_list(&v1_1::types::GetCustomerList {
                        token: Some(token.into()),
                    })
                    .await
            })
            .await
            .unwrap()
            .expect("customers")
            .customer;
        assert_eq!(customers.len(), SEEDED_CUSTOMERS);
        for customer in &customers {
            assert_eq!(
                customer.ledger_type,
                v1_1::types::LedgerType::UnknownValue(UNLISTED_LEDGER_TYPE.into())
            );
        }
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn v2_0_a_ledger_type_the_wsdl_does_not_list_decodes_as_unknown_value() {
        let sandbox = sandbox_sending_unlisted_values().await;
        let session = v2_0::Session::new(
            &Endpoint::Custom(sandbox.url(v2_0::SLUG)),
            v2_0::Credentials::new(
                credentials::ACCOUNTSIQ_CLIENT_ID,
                credentials::ACCOUNTSIQ_CLIENT_SECRET,
                credentials::ACCOUNTSIQ_COMPANY_ID,
            ),
        )
        .unwrap();
        let customers = session
            .call(async |client| {
                client
                    .get_customer_list(&v2_0::types::GetCustomerList { token: None })
                    .await
            })
            .await
            .unwrap()
            .expect("customers")
            .customer;
        assert_eq!(customers.len(), SEEDED_CUSTOMERS);
        for customer in &customers {
            assert_eq!(
                customer.ledger_type,
                v2_0::types::LedgerType::UnknownValue(UNLISTED_LEDGER_TYPE.into())
            );
        }
        sandbox.shutdown().await;
    }
}
