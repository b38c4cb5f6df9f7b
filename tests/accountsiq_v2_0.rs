//! AccountsIQ v2.0 (SOAP): every WSDL operation generated; TokenGet / TokenRefresh and the
//! customer operations send envelopes XML-equivalent to the vendor's Postman samples, with the
//! `AiqSoapHeader` (entity, access token) on every call that declares it.
#![cfg(feature = "accountsiq-v2-0")]

mod common;

use common::soap::{envelope, soap_response};
use customer_data::accountsiq_v2_0::{Endpoint, connect, types};

const SLUG: &str = "accountsiq_v2_0";
const NS: &str = customer_data::accountsiq_v2_0::NAMESPACE;

/// The header values the vendor's samples use.
fn sample_header() -> types::AiqSoapHeader {
    types::AiqSoapHeader {
        entity: Some("{{aiq_entity}}".into()),
        access_token: Some("{{aiq_token}}".into()),
    }
}

macro_rules! samples {
    ($($op:ident => $resp:ident),* $(,)?) => {{
        let header = sample_header();
        $(
            common::soap::request_round_trip::<types::$op, _>(SLUG, NS, stringify!($op), Some(("AiqSoapHeader", &header)));
            common::soap::response_decodes::<types::$resp>(SLUG, stringify!($op));
        )*
        vec![$(stringify!($op)),*]
    }};
}

#[test]
fn our_envelopes_match_the_vendors_samples_and_sample_responses_decode() {
    let covered = samples!(
        DeleteCustomerByCode => DeleteCustomerByCodeResponse,
        DeleteCustomerById => DeleteCustomerByIdResponse,
        GetInvoicesByCustomerCode => GetInvoicesByCustomerCodeResponse,
        GetOrdersByCustomerCode => GetOrdersByCustomerCodeResponse,
        GetCustomerDefaults => GetCustomerDefaultsResponse,
        SaveCustomerDefaults => SaveCustomerDefaultsResponse,
        CheckCustomerDefaultsValidity => CheckCustomerDefaultsValidityResponse,
        GetCreditNotesByCustomerCode => GetCreditNotesByCustomerCodeResponse,
        GetActiveCustomerList => GetActiveCustomerListResponse,
        GetCustomerList => GetCustomerListResponse,
        GetCustomer => GetCustomerResponse,
        UpdateCustomer => UpdateCustomerResponse,
        UpdateCustomerGetbackCustomerCode => UpdateCustomerGetbackCustomerCodeResponse,
        GetCustomersStatement => GetCustomersStatementResponse,
        GetNewCustomerFromDefaults => GetNewCustomerFromDefaultsResponse,
        GetCustomerBalanceInformation => GetCustomerBalanceInformationResponse,
        GetCustomersBy => GetCustomersByResponse,
        GetAllCustomerContacts => GetAllCustomerContactsResponse,
        GetCustomerContacts => GetCustomerContactsResponse,
        TokenGet => TokenGetResponseElement,
        TokenRefresh => TokenRefreshResponseElement,
    );
    let listed = common::soap::listed_actions(SLUG);
    assert_eq!(
        listed.iter().map(|(op, _)| op.as_str()).collect::<Vec<_>>(),
        covered
    );
    for (op, action) in listed {
        assert_eq!(action, format!("{NS}{op}"), "SOAPAction of {op}");
    }
}

#[test]
fn every_wsdl_operation_is_generated_and_calls_carry_the_header() {
    let operations = common::soap::wsdl_operations(SLUG);
    assert_eq!(operations.len(), 219);
    let surface = common::surface_operations(SLUG);
    assert_eq!(surface.len(), 219);
    for op in &operations {
        assert!(
            surface.iter().any(|l| l.contains(&format!(": {op} ("))),
            "{op} missing"
        );
    }
    // Every operation but the token operations themselves sends AiqSoapHeader (the header
    // note precedes the operation's rule marks, e.g. ` {retry-safe}`).
    let without: Vec<&String> = surface
        .iter()
        .filter(|l| !l.contains(" [header AiqSoapHeader]"))
        .collect();
    assert_eq!(without.len(), 2, "{without:?}");
    assert!(
        without
            .iter()
            .all(|l| l.starts_with("token_get: TokenGet (")
                || l.starts_with("token_refresh: TokenRefresh (")),
        "{without:?}"
    );
}

#[tokio::test]
async fn token_get_then_a_call_with_the_header() {
    let token_answer = envelope(&format!(
        r#"<TokenGetResponse xmlns="{NS}"><TokenGetResult><Result><AccessToken>access-1</AccessToken><RefreshToken>refresh-1</RefreshToken></Result><Status>Success</Status><ErrorCode>SUCCESS</ErrorCode></TokenGetResult></TokenGetResponse>"#
    ));
    let customer_answer = common::soap::sample(SLUG, "GetCustomer.response.xml").replace(
        "<HasExpired>true</HasExpired>",
        "<HasExpired>false</HasExpired>",
    );
    let (url, server) = common::serve(vec![
        soap_response("200 OK", &token_answer),
        soap_response("200 OK", &customer_answer),
    ])
    .await;
    // One canned answer per test: a retry would find the server gone.
    let mut client = connect(&Endpoint::Custom(url)).unwrap().with_layer(
        customer_data::runtime::Layer::new(&customer_data::accountsiq_v2_0::SERVICE_RULES)
            .with_retry(customer_data::runtime::retry::RetryPolicy::none()),
    );
    let tokens = client
        .token_get(&types::TokenGet {
            client_id: Some("client".into()),
            client_secret: Some("shh-secret".into()),
        })
        .await
        .unwrap()
        .expect("tokens");
    assert_eq!(tokens.access_token.as_deref(), Some("access-1"));
    assert!(
        !format!("{tokens:?}").contains("access-1"),
        "tokens are redacted in Debug"
    );

    client.set_soap_header(Some(types::AiqSoapHeader {
        entity: Some("ENTITY1".into()),
        access_token: tokens.access_token.clone(),
    }));
    assert!(!format!("{client:?}").contains("access-1"));
    let customer = client
        .get_customer(&types::GetCustomer {
            token: None,
            customer_code: Some("C1".into()),
        })
        .await
        .unwrap();
    assert!(customer.is_some());

    let requests = server.await.unwrap();
    let body = |r: &str| r[r.find("\r\n\r\n").unwrap() + 4..].to_string();
    assert!(
        !requests[0].contains("<soap:Header>"),
        "TokenGet sends no header"
    );
    common::xml::assert_equivalent(
        &body(&requests[1]),
        &envelope(&format!(r#"<GetCustomer xmlns="{NS}"><customerCode>C1</customerCode></GetCustomer>"#)).replace(
            "<soap:Body>",
            &format!(r#"<soap:Header><AiqSoapHeader xmlns="{NS}"><Entity>ENTITY1</Entity><AccessToken>access-1</AccessToken></AiqSoapHeader></soap:Header><soap:Body>"#),
        ),
        "GetCustomer with the header",
    );
    assert!(requests[1].to_ascii_lowercase().contains(&format!(
        "soapaction: \"{}getcustomer\"",
        NS.to_ascii_lowercase()
    )));
}

// ---------------------------------------------------------------------------------------------
// Against the sandbox twin (`customer_data_sandbox`, slug `accountsiq_v2_0`).
// ---------------------------------------------------------------------------------------------

mod twin {
    use super::*;
    use customer_data::accountsiq_v2_0::Client;
    use customer_data::runtime::soap::{ResultFailure, SoapError};
    use customer_data_sandbox::credentials::{
        ACCOUNTSIQ_CLIENT_ID, ACCOUNTSIQ_CLIENT_SECRET, ACCOUNTSIQ_COMPANY_ID,
    };
    use customer_data_sandbox::{Lifetimes, Sandbox, SandboxConfig};
    use std::time::Duration;

    fn client(sandbox: &Sandbox) -> Client {
        connect(&Endpoint::Custom(sandbox.url(SLUG))).unwrap()
    }

    async fn token_get(client: &Client) -> types::TokenGetResponse {
        client
            .token_get(&types::TokenGet {
                client_id: Some(ACCOUNTSIQ_CLIENT_ID.into()),
                client_secret: Some(ACCOUNTSIQ_CLIENT_SECRET.into()),
            })
            .await
            .unwrap()
            .expect("tokens")
    }

    async fn token_refresh(
        client: &Client,
        refresh_token: Option<String>,
    ) -> Result<Option<types::TokenRefreshResponse>, SoapError> {
        client
            .token_refresh(&types::TokenRefresh {
                client_id: Some(ACCOUNTSIQ_CLIENT_ID.into()),
                client_secret: Some(ACCOUNTSIQ_CLIENT_SECRET.into()),
                refresh_token,
            })
            .await
    }

    fn authorise(client: &mut Client, entity: &str, access_token: Option<String>) {
        client.set_soap_header(Some(types::AiqSoapHeader {
            entity: Some(entity.into()),
            access_token,
        }));
    }

    fn failure(err: SoapError) -> ResultFailure {
        match err {
            SoapError::Failed(f) => f,
            other => panic!("expected a result failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn sandbox_token_get_then_every_simulated_customer_operation() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let mut client = client(&sandbox);
        let tokens = token_get(&client).await;
        assert!(tokens.refresh_token.is_some());
        authorise(
            &mut client,
            ACCOUNTSIQ_COMPANY_ID,
            tokens.access_token.clone(),
        );

        let all = client
            .get_customer_list(&types::GetCustomerList { token: None })
            .await
            .unwrap()
            .expect("customers")
            .customer;
        assert_eq!(
            all.len(),
            customer_data_sandbox::twins::accountsiq_shared::SEEDED_CUSTOMERS
        );
        let active = client
            .get_active_customer_list(&types::GetActiveCustomerList { token: None })
            .await
            .unwrap()
            .expect("customers")
            .customer;
        assert!(!active.is_empty() && active.len() < all.len());
        let code = all[0].code.clone().unwrap();
        let read = client
            .get_customer(&types::GetCustomer {
                token: None,
                customer_code: Some(code.clone()),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, all[0]);
        let contacts = client
            .get_customer_contacts(&types::GetCustomerContacts {
                token: None,
                customer_code: Some(code.clone()),
            })
            .await
            .unwrap()
            .unwrap()
            .ws_account_contact;
        assert!(
            contacts
                .iter()
                .any(|c| c.is_primary && c.email == read.email)
        );
        let every_contact = client
            .get_all_customer_contacts(&types::GetAllCustomerContacts { token: None })
            .await
            .unwrap()
            .unwrap()
            .ws_account_contact;
        assert!(every_contact.len() > all.len());

        let mut shell = client
            .get_new_customer_from_defaults(&types::GetNewCustomerFromDefaults { token: None })
            .await
            .unwrap()
            .unwrap();
        shell.code = Some("SBXV2".into());
        shell.name = Some("Sandbox Versjon To AS".into());
        shell.email = Some("v2@example.invalid".into());
        assert!(
            client
                .update_customer(&types::UpdateCustomer {
                    token: None,
                    customer: Some(shell),
                    create: true,
                })
                .await
                .unwrap()
        );
        let since = chrono::Utc::now();
        let mut stored = client
            .get_customer(&types::GetCustomer {
                token: None,
                customer_code: Some("SBXV2".into()),
            })
            .await
            .unwrap()
            .unwrap();
        stored.city = Some("Bergen".into());
        let code_back = client
            .update_customer_getback_customer_code(&types::UpdateCustomerGetbackCustomerCode {
                token: None,
                customer: Some(stored.clone()),
                create: false,
            })
            .await
            .unwrap();
        assert_eq!(code_back.as_deref(), Some("SBXV2"));
        let updated = client
            .get_customer(&types::GetCustomer {
                token: None,
                customer_code: Some("SBXV2".into()),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(updated.city.as_deref(), Some("Bergen"));
        let changed = client
            .get_customers_by(&types::GetCustomersBy {
                token: None,
                query: Some(types::WSGetCustomersByQuery {
                    emails: None,
                    from_last_modified_date_in_utc: Some(since.into()),
                }),
            })
            .await
            .unwrap()
            .unwrap()
            .customer;
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].code.as_deref(), Some("SBXV2"));

        // Both versions serve the one sandbox entity: v1.1 sees what v2.0 wrote.
        let v1 = customer_data::accountsiq_v1_1::connect(&Endpoint::Custom(
            sandbox.url("accountsiq_v1_1"),
        ))
        .unwrap();
        let session = v1
            .login(&customer_data::accountsiq_v1_1::types::Login {
                company_id: Some(ACCOUNTSIQ_COMPANY_ID.into()),
                partner_key: Some(
                    customer_data_sandbox::credentials::ACCOUNTSIQ_PARTNER_KEY.into(),
                ),
                user_key: Some(customer_data_sandbox::credentials::ACCOUNTSIQ_USER_KEY.into()),
            })
            .await
            .unwrap();
        let seen = v1
            .get_customer(&customer_data::accountsiq_v1_1::types::GetCustomer {
                token: session,
                customer_code: Some("SBXV2".into()),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.city.as_deref(), Some("Bergen"));

        client
            .delete_customer_by_code(&types::DeleteCustomerByCode {
                token: None,
                customer_code: Some("SBXV2".into()),
            })
            .await
            .unwrap();
        let gone = client
            .get_customer(&types::GetCustomer {
                token: None,
                customer_code: Some("SBXV2".into()),
            })
            .await
            .unwrap_err();
        assert_eq!(gone.error_code(), Some("CUSTOMER_CODE_DOES_NOT_EXIST"));
        client
            .delete_customer_by_id(&types::DeleteCustomerById {
                token: None,
                customer_id: Some(all[1].account_id.to_string()),
            })
            .await
            .unwrap();
        let fewer = client
            .get_customer_list(&types::GetCustomerList { token: None })
            .await
            .unwrap()
            .unwrap()
            .customer;
        assert_eq!(fewer.len(), all.len() - 1);
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn sandbox_refresh_rotates_and_expired_or_wrong_headers_are_refused() {
        let sandbox = Sandbox::start(SandboxConfig {
            lifetimes: Lifetimes {
                accountsiq_access: Duration::from_secs(1),
                ..Lifetimes::default()
            },
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let mut client = client(&sandbox);
        let list = types::GetCustomerList { token: None };

        // Wrong client credentials.
        let wrong = client
            .token_get(&types::TokenGet {
                client_id: Some(ACCOUNTSIQ_CLIENT_ID.into()),
                client_secret: Some("not-the-secret".into()),
            })
            .await
            .unwrap_err();
        assert_eq!(wrong.error_code(), Some("CANNOT_LOGIN_INVALID_CREDENTIALS"));

        // Rotation: the new refresh token works once; the old one is revoked.
        let first = token_get(&client).await;
        let second = token_refresh(&client, first.refresh_token.clone())
            .await
            .unwrap()
            .expect("tokens");
        assert_ne!(second.refresh_token, first.refresh_token);
        assert_ne!(second.access_token, first.access_token);
        let reused = token_refresh(&client, first.refresh_token.clone())
            .await
            .unwrap_err();
        let f = failure(reused);
        assert_eq!(f.error_code, "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID");
        assert_eq!(f.status, "Failure");
        let third = token_refresh(&client, second.refresh_token.clone())
            .await
            .unwrap()
            .expect("tokens");

        // The header: no header, another entity, an unknown token.
        let no_header = client.get_customer_list(&list).await.unwrap_err();
        assert_eq!(
            no_header.error_code(),
            Some("OAUTH_INTEGRATION_APPS_TOKEN_NOT_PROVIDED_IN_AUTHORIZATION_HEADER")
        );
        authorise(&mut client, "OTHER-ENTITY", third.access_token.clone());
        assert_eq!(
            client
                .get_customer_list(&list)
                .await
                .unwrap_err()
                .error_code(),
            Some("OAUTH_INTEGRATION_APPS_AIQ_SOAP_HEADER_MISMATCH")
        );
        authorise(&mut client, ACCOUNTSIQ_COMPANY_ID, Some("made-up".into()));
        let unknown = failure(client.get_customer_list(&list).await.unwrap_err());
        assert_eq!(
            unknown.error_code,
            "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID"
        );
        assert!(!unknown.has_expired);

        // Access tokens issued before a refresh stay valid until they expire.
        authorise(
            &mut client,
            ACCOUNTSIQ_COMPANY_ID,
            first.access_token.clone(),
        );
        assert!(client.get_customer_list(&list).await.is_ok());
        authorise(
            &mut client,
            ACCOUNTSIQ_COMPANY_ID,
            third.access_token.clone(),
        );
        assert!(client.get_customer_list(&list).await.is_ok());
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let expired = client.get_customer_list(&list).await.unwrap_err();
        assert!(expired.is_expired(), "{expired}");
        assert_eq!(
            expired.error_code(),
            Some("OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED")
        );
        for code in [
            "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED",
            "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID",
            "OAUTH_INTEGRATION_APPS_AIQ_SOAP_HEADER_MISMATCH",
            "OAUTH_INTEGRATION_APPS_TOKEN_NOT_PROVIDED_IN_AUTHORIZATION_HEADER",
            "CANNOT_LOGIN_INVALID_CREDENTIALS",
        ] {
            assert!(types::VisorExceptionCodes::KNOWN.contains(&code), "{code}");
        }

        // Refresh after expiry: a working access token again.
        let fourth = token_refresh(&client, third.refresh_token.clone())
            .await
            .unwrap()
            .expect("tokens");
        authorise(&mut client, ACCOUNTSIQ_COMPANY_ID, fourth.access_token);
        assert!(client.get_customer_list(&list).await.is_ok());
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn sandbox_faults_for_what_it_does_not_simulate() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let mut client = client(&sandbox);
        let tokens = token_get(&client).await;
        authorise(&mut client, ACCOUNTSIQ_COMPANY_ID, tokens.access_token);
        let err = client
            .check_customer_defaults_validity(&types::CheckCustomerDefaultsValidity { token: None })
            .await
            .unwrap_err();
        match err {
            SoapError::Fault(f) => {
                assert_eq!(f.code, "soap:Server");
                assert_eq!(
                    f.string,
                    "CheckCustomerDefaultsValidity is not simulated by the sandbox"
                );
            }
            other => panic!("{other:?}"),
        }
        // Every operation of the WSDL answers a SOAP envelope (on the vendor's path too).
        let simulated = customer_data_sandbox::twins::accountsiq_shared::CUSTOMER_OPERATIONS;
        let http = customer_data::runtime::http::default_client().unwrap();
        let asmx = format!(
            "{}/system/dashboard/integration/integration_2_0.asmx",
            sandbox.url(SLUG)
        );
        // Each request is the smallest schema-valid one the WSDL allows.
        let wsdl = common::soap::wsdl_model(SLUG);
        for (op, action) in customer_data::accountsiq_v2_0::OPERATIONS {
            let request = common::soap::minimal_instance(&wsdl, op, &[]);
            let response = http
                .post(&asmx)
                .header("content-type", "text/xml; charset=utf-8")
                .header("SOAPAction", format!("\"{action}\""))
                .body(common::soap::envelope_with_xsi(&request.xml))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            if op.starts_with("Token") || simulated.contains(op) {
                assert!(
                    body.contains(&format!("<{op}Response"))
                        || body.contains("<faultcode>soap:Client</faultcode>"),
                    "{op}: {status} {body}"
                );
            } else {
                assert_eq!(status, 500, "{op}");
                assert!(
                    body.contains(&format!("{op} is not simulated by the sandbox")),
                    "{op}: {body}"
                );
            }
        }
        // A v1.1-only operation is not one of v2.0's.
        let response = http
            .post(sandbox.url(SLUG))
            .header("SOAPAction", format!("{NS}Login"))
            .body(envelope(&format!("<Login xmlns=\"{NS}\"/>")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 500);
        let body = response.text().await.unwrap();
        assert!(
            body.contains("soap:Client") && body.contains("SOAPAction"),
            "{body}"
        );
        sandbox.shutdown().await;
    }
}
