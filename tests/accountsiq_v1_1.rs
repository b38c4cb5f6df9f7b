//! AccountsIQ v1.1 (SOAP): every WSDL operation generated; for the customer operations and
//! Login the envelope we send is XML-equivalent to the vendor's Postman sample; sample and
//! failure responses decode; faults, failures and expiry become typed errors.
#![cfg(feature = "accountsiq-v1-1")]

mod common;

use customer_data::accountsiq_v1_1::{AccountsIqError, Client, Endpoint, connect, types};
use customer_data::runtime::soap::SoapError;

const SLUG: &str = "accountsiq_v1_1";
const NS: &str = customer_data::accountsiq_v1_1::NAMESPACE;

fn sample(name: &str) -> String {
    common::soap::sample(SLUG, name)
}

macro_rules! samples {
    ($($op:ident),* $(,)?) => {{
        $(
            common::soap::request_round_trip::<types::$op, ()>(SLUG, NS, stringify!($op), None);
            paste_response!($op);
        )*
        vec![$(stringify!($op)),*]
    }};
}

macro_rules! paste_response {
    ($op:ident) => {
        common::soap::response_decodes::<<types::$op as ResponseOf>::Response>(
            SLUG,
            stringify!($op),
        )
    };
}

/// Maps a request type to its response type (the WSDL pairs `X` with `XResponse`).
trait ResponseOf {
    type Response: serde::de::DeserializeOwned;
}

macro_rules! response_of {
    ($($op:ident => $resp:ident),* $(,)?) => {
        $(impl ResponseOf for types::$op { type Response = types::$resp; })*
    };
}

response_of! {
    GetCustomerDefaults => GetCustomerDefaultsResponse,
    SaveCustomerDefaults => SaveCustomerDefaultsResponse,
    CheckCustomerDefaultsValidity => CheckCustomerDefaultsValidityResponse,
    GetCustomerContacts => GetCustomerContactsResponse,
    GetAllCustomerContacts => GetAllCustomerContactsResponse,
    Login => LoginResponse,
    GetActiveCustomerList => GetActiveCustomerListResponse,
    GetCustomerList => GetCustomerListResponse,
    GetCustomer => GetCustomerResponse,
    DeleteCustomerByCode => DeleteCustomerByCodeResponse,
    DeleteCustomerById => DeleteCustomerByIdResponse,
    UpdateCustomer => UpdateCustomerResponse,
    UpdateCustomerGetbackCustomerCode => UpdateCustomerGetbackCustomerCodeResponse,
    GetCustomersStatement => GetCustomersStatementResponse,
    GetNewCustomerFromDefaults => GetNewCustomerFromDefaultsResponse,
    GetCustomerBalanceInformation => GetCustomerBalanceInformationResponse,
    GetCustomersBy => GetCustomersByResponse,
    GetOrdersByCustomerCode => GetOrdersByCustomerCodeResponse,
    GetInvoicesByCustomerCode => GetInvoicesByCustomerCodeResponse,
    GetCreditNotesByCustomerCode => GetCreditNotesByCustomerCodeResponse,
}

#[test]
fn our_envelopes_match_the_vendors_samples_and_sample_responses_decode() {
    let covered = samples!(
        GetCustomerDefaults,
        SaveCustomerDefaults,
        CheckCustomerDefaultsValidity,
        GetCustomerContacts,
        GetAllCustomerContacts,
        Login,
        GetActiveCustomerList,
        GetCustomerList,
        GetCustomer,
        DeleteCustomerByCode,
        DeleteCustomerById,
        UpdateCustomer,
        UpdateCustomerGetbackCustomerCode,
        GetCustomersStatement,
        GetNewCustomerFromDefaults,
        GetCustomerBalanceInformation,
        GetCustomersBy,
        GetOrdersByCustomerCode,
        GetInvoicesByCustomerCode,
        GetCreditNotesByCustomerCode,
    );
    // Every extracted sample is covered, and the SOAPAction of each is namespace + operation.
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
fn every_wsdl_operation_is_generated() {
    let operations = common::soap::wsdl_operations(SLUG);
    assert_eq!(operations.len(), 217);
    let surface = common::surface_operations(SLUG);
    assert_eq!(surface.len(), 217);
    for op in operations {
        assert!(
            surface.iter().any(|l| l.contains(&format!(": {op} ("))),
            "{op} missing"
        );
    }
}

/// Serves one canned SOAP answer and returns the request it saw.
async fn one_call<T>(response: String, call: impl AsyncFnOnce(Client) -> T) -> (T, String) {
    let (url, server) = common::serve(vec![response]).await;
    // One canned answer per test: a retry would find the server gone.
    let client = connect(&Endpoint::Custom(url)).unwrap().with_layer(
        customer_data::runtime::Layer::new(&customer_data::accountsiq_v1_1::SERVICE_RULES)
            .with_retry(customer_data::runtime::retry::RetryPolicy::none()),
    );
    let result = call(client).await;
    (result, server.await.unwrap().remove(0))
}

use common::soap::{envelope, soap_response};

#[tokio::test]
async fn login_and_get_customer_over_the_wire() {
    let (token, request) = one_call(
        soap_response("200 OK", &sample("Login.response.xml")),
        async |client| {
            client
                .login(&types::Login {
                    company_id: Some("{{coID}}".into()),
                    partner_key: Some("{{partnerKey}}".into()),
                    user_key: Some("{{userKey}}".into()),
                })
                .await
        },
    )
    .await;
    assert_eq!(token.unwrap().as_deref(), Some("string"));
    let lower = request.to_ascii_lowercase();
    assert!(lower.starts_with("post / http/1.1"), "{request}");
    assert!(
        lower.contains("content-type: text/xml; charset=utf-8"),
        "{request}"
    );
    assert!(
        lower.contains(&format!("soapaction: \"{}login\"", NS.to_ascii_lowercase())),
        "{request}"
    );
    let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
    common::xml::assert_equivalent(body, &sample("Login.request.xml"), "Login on the wire");

    // The Postman sample answers HasExpired=true: the caller gets the expiry, typed.
    let (customer, _) = one_call(
        soap_response("200 OK", &sample("GetCustomer.response.xml")),
        async |client| {
            client
                .get_customer(&types::GetCustomer {
                    token: Some("t".into()),
                    customer_code: Some("C1".into()),
                })
                .await
        },
    )
    .await;
    let err = customer.unwrap_err();
    assert!(err.is_expired(), "{err}");
    assert_eq!(err.error_code(), Some("SUCCESS"));
}

#[tokio::test]
async fn success_failure_and_fault_are_told_apart() {
    // The vendor's sample, with values that exercise the mapping.
    let ok = sample("GetCustomer.response.xml")
        .replace(
            "<HasExpired>true</HasExpired>",
            "<HasExpired>false</HasExpired>",
        )
        .replacen("<Code>string</Code>", "<Code>C1</Code>", 1)
        .replacen(
            "<Name>string</Name>",
            "<Name>Ålborg Rør &amp; Søn ApS</Name>",
            1,
        )
        .replacen(
            "<DiscountRate>10</DiscountRate>",
            "<DiscountRate>12.3456789012345678901</DiscountRate>",
            1,
        );
    assert!(
        ok.contains("12.3456789012345678901"),
        "the sample's DiscountRate changed"
    );
    let (customer, _) = one_call(soap_response("200 OK", &ok), async |client| {
        client
            .get_customer(&types::GetCustomer {
                token: Some("t".into()),
                customer_code: Some("C1".into()),
            })
            .await
    })
    .await;
    let customer = customer
        .unwrap_or_else(|e| panic!("{e:?}"))
        .expect("a customer");
    assert_eq!(customer.code.as_deref(), Some("C1"));
    assert_eq!(customer.name.as_deref(), Some("Ålborg Rør & Søn ApS"));
    assert_eq!(
        customer.discount_rate.to_string(),
        "12.3456789012345678901",
        "decimals never pass through f64"
    );
    assert!(
        customer.creation_date.with_offset().is_some(),
        "{:?}",
        customer.creation_date
    );

    let failed = envelope(&format!(
        r#"<GetCustomerResponse xmlns="{NS}"><GetCustomerResult><Status>Failure</Status><ErrorCode>SOME_NEW_CODE</ErrorCode><ErrorMessage>Customer not found</ErrorMessage><HasExpired>false</HasExpired></GetCustomerResult></GetCustomerResponse>"#
    ));
    let (result, _) = one_call(soap_response("200 OK", &failed), async |client| {
        client
            .get_customer(&types::GetCustomer {
                token: Some("t".into()),
                customer_code: Some("X".into()),
            })
            .await
    })
    .await;
    match result.unwrap_err() {
        SoapError::Failed(f) => {
            assert_eq!(
                (f.status.as_str(), f.error_code.as_str()),
                ("Failure", "SOME_NEW_CODE")
            );
            assert_eq!(f.message.as_deref(), Some("Customer not found"));
            assert!(!f.has_expired);
        }
        other => panic!("{other:?}"),
    }

    let fault = envelope(
        r#"<soap:Fault><faultcode>soap:Server</faultcode><faultstring>Server was unable to process request. ---&gt; Object reference not set</faultstring><detail /></soap:Fault>"#,
    );
    let (result, _) = one_call(
        soap_response("500 Internal Server Error", &fault),
        async |client| {
            client
                .get_customer(&types::GetCustomer {
                    token: Some("t".into()),
                    customer_code: None,
                })
                .await
        },
    )
    .await;
    match result.unwrap_err() {
        AccountsIqError::Fault(f) => {
            assert_eq!(f.code, "soap:Server");
            assert!(
                f.string
                    .starts_with("Server was unable to process request. --->"),
                "{}",
                f.string
            );
            assert!(f.xml.contains("<detail />"));
        }
        other => panic!("{other:?}"),
    }

    let (result, _) = one_call(
        soap_response("502 Bad Gateway", "<html>bad gateway</html>"),
        async |client| client.get_customer(&types::GetCustomer::default()).await,
    )
    .await;
    assert!(
        matches!(result.unwrap_err(), SoapError::Http { status: 502, ref body } if body.contains("bad gateway"))
    );
}

#[test]
fn unknown_enum_values_decode_and_secrets_stay_out_of_debug() {
    let status: types::OperationStatus = "SomethingNew".parse().unwrap();
    assert_eq!(
        status,
        types::OperationStatus::UnknownValue("SomethingNew".into())
    );
    assert_eq!(
        types::OperationStatus::from("Success"),
        types::OperationStatus::Success
    );

    let login = types::Login {
        company_id: Some("ACME".into()),
        partner_key: Some("partner-secret-123".into()),
        user_key: Some("user-secret-456".into()),
    };
    let debug = format!("{login:?}");
    assert!(debug.contains("ACME"), "{debug}");
    assert!(!debug.contains("secret"), "{debug}");
    let request = types::GetCustomer {
        token: Some("session-token-789".into()),
        customer_code: Some("C1".into()),
    };
    assert!(!format!("{request:?}").contains("session-token-789"));
    let client = Client::new(
        "http://localhost:1/x.asmx",
        customer_data::runtime::http::default_client().unwrap(),
    );
    assert_eq!(
        format!("{client:?}"),
        "Client { endpoint: \"http://localhost:1/x.asmx\" }"
    );
}

#[test]
fn regions_and_custom_endpoints() {
    use customer_data::accountsiq_v1_1::Region;
    assert_eq!(
        Endpoint::Region(Region::Uk1).url("integration_1_1.asmx"),
        "https://uk1.accountsiq.com/system/dashboard/integration/integration_1_1.asmx"
    );
    for (region, label) in [
        (Region::Us1, "us1"),
        (Region::Eu1, "eu1"),
        (Region::Eu2, "eu2"),
        (Region::Uk1, "uk1"),
    ] {
        assert_eq!(region.label(), label);
    }
    assert_eq!(
        Endpoint::Custom("https://staging.example/x.asmx".into()).url("ignored"),
        "https://staging.example/x.asmx"
    );
}

// ---------------------------------------------------------------------------------------------
// Against the sandbox twin (`customer_data_sandbox`, slug `accountsiq_v1_1`).
// ---------------------------------------------------------------------------------------------

mod twin {
    use super::*;
    use customer_data_sandbox::credentials::{
        ACCOUNTSIQ_COMPANY_ID, ACCOUNTSIQ_PARTNER_KEY, ACCOUNTSIQ_USER_KEY,
    };
    use customer_data_sandbox::{Lifetimes, Sandbox, SandboxConfig};
    use std::time::Duration;

    fn client(sandbox: &Sandbox) -> Client {
        connect(&Endpoint::Custom(sandbox.url(SLUG))).unwrap()
    }

    async fn login(client: &Client) -> String {
        client
            .login(&types::Login {
                company_id: Some(ACCOUNTSIQ_COMPANY_ID.into()),
                partner_key: Some(ACCOUNTSIQ_PARTNER_KEY.into()),
                user_key: Some(ACCOUNTSIQ_USER_KEY.into()),
            })
            .await
            .unwrap()
            .expect("a session token")
    }

    fn failure(err: SoapError) -> customer_data::runtime::soap::ResultFailure {
        match err {
            SoapError::Failed(f) => f,
            other => panic!("expected a result failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn sandbox_login_then_every_simulated_customer_operation() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let client = client(&sandbox);
        let token = login(&client).await;
        let t = || Some(token.clone());

        // The seeded ledger: every customer, the active ones, one by code, contacts.
        let all = client
            .get_customer_list(&types::GetCustomerList { token: t() })
            .await
            .unwrap()
            .expect("customers")
            .customer;
        assert_eq!(
            all.len(),
            customer_data_sandbox::twins::accountsiq_shared::SEEDED_CUSTOMERS
        );
        let active = client
            .get_active_customer_list(&types::GetActiveCustomerList { token: t() })
            .await
            .unwrap()
            .expect("customers")
            .customer;
        assert!(!active.is_empty() && active.len() < all.len());
        assert!(active.iter().all(|c| c.is_active));
        let first = &all[0];
        let code = first.code.clone().expect("a code");
        assert_eq!(code, code.to_uppercase());
        let read = client
            .get_customer(&types::GetCustomer {
                token: t(),
                customer_code: Some(code.clone()),
            })
            .await
            .unwrap()
            .expect("the customer");
        assert_eq!(&read, first);
        assert!(read.email.as_deref().unwrap().ends_with("@example.invalid"));
        let contacts = client
            .get_customer_contacts(&types::GetCustomerContacts {
                token: t(),
                customer_code: Some(code.clone()),
            })
            .await
            .unwrap()
            .expect("contacts")
            .ws_account_contact;
        let primary = contacts.iter().find(|c| c.is_primary).expect("a primary");
        assert_eq!(primary.email, read.email);
        assert_eq!(primary.account_code.as_deref(), Some(code.as_str()));
        let every_contact = client
            .get_all_customer_contacts(&types::GetAllCustomerContacts { token: t() })
            .await
            .unwrap()
            .expect("contacts")
            .ws_account_contact;
        assert!(
            every_contact.len() > all.len(),
            "some have a second contact"
        );

        // Create from the defaults' shell.
        let mut shell = client
            .get_new_customer_from_defaults(&types::GetNewCustomerFromDefaults { token: t() })
            .await
            .unwrap()
            .expect("a shell");
        assert!(shell.code.is_none() && shell.is_active);
        shell.code = Some("SBXNEW1".into());
        shell.name = Some("Sandbox Nytt AB".into());
        shell.contact = Some("Test Kontakt".into());
        shell.email = Some("kontakt@example.invalid".into());
        let created = client
            .update_customer(&types::UpdateCustomer {
                token: t(),
                customer: Some(shell.clone()),
                create: true,
            })
            .await
            .unwrap();
        assert!(created);
        let again = client
            .update_customer(&types::UpdateCustomer {
                token: t(),
                customer: Some(shell),
                create: true,
            })
            .await
            .unwrap_err();
        assert_eq!(failure(again).error_code, "ACCOUNT_CODE_ALREADY_IN_USE");
        let stored = client
            .get_customer(&types::GetCustomer {
                token: t(),
                customer_code: Some("SBXNEW1".into()),
            })
            .await
            .unwrap()
            .expect("the new customer");
        assert!(stored.account_id > 0);
        assert_eq!(stored.row_version_number.as_deref(), Some("1"));

        // Update: visible in GetCustomer, in the contacts and in GetCustomersBy since then.
        let since = chrono::Utc::now();
        let mut changed = stored.clone();
        changed.email = Some("ny.adress@example.invalid".into());
        assert!(
            client
                .update_customer(&types::UpdateCustomer {
                    token: t(),
                    customer: Some(changed),
                    create: false,
                })
                .await
                .unwrap()
        );
        let updated = client
            .get_customer(&types::GetCustomer {
                token: t(),
                customer_code: Some("SBXNEW1".into()),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(updated.email.as_deref(), Some("ny.adress@example.invalid"));
        assert_eq!(updated.row_version_number.as_deref(), Some("2"));
        assert_eq!(updated.creation_date, stored.creation_date);
        let by_date = client
            .get_customers_by(&types::GetCustomersBy {
                token: t(),
                query: Some(types::WSGetCustomersByQuery {
                    emails: None,
                    from_last_modified_date_in_utc: Some(since.into()),
                }),
            })
            .await
            .unwrap()
            .expect("customers")
            .customer;
        assert_eq!(
            by_date
                .iter()
                .map(|c| c.code.as_deref().unwrap())
                .collect::<Vec<_>>(),
            vec!["SBXNEW1"]
        );
        let by_email = client
            .get_customers_by(&types::GetCustomersBy {
                token: t(),
                query: Some(types::WSGetCustomersByQuery {
                    emails: Some(types::ArrayOfString {
                        string: vec![read.email.clone().unwrap().to_uppercase()],
                    }),
                    from_last_modified_date_in_utc: None,
                }),
            })
            .await
            .unwrap()
            .expect("customers")
            .customer;
        assert_eq!(by_email.len(), 1);
        assert_eq!(by_email[0].code, read.code);
        let new_contacts = client
            .get_customer_contacts(&types::GetCustomerContacts {
                token: t(),
                customer_code: Some("SBXNEW1".into()),
            })
            .await
            .unwrap()
            .unwrap()
            .ws_account_contact;
        assert_eq!(
            new_contacts[0].email.as_deref(),
            Some("ny.adress@example.invalid")
        );

        // A stale row version is refused.
        let stale = client
            .update_customer(&types::UpdateCustomer {
                token: t(),
                customer: Some(stored),
                create: false,
            })
            .await
            .unwrap_err();
        assert_eq!(failure(stale).error_code, "OUTDATED_RECORD");

        // The customer code comes back (numbered when none is given).
        let mut unnamed = updated.clone();
        unnamed.code = None;
        let numbered = client
            .update_customer_getback_customer_code(&types::UpdateCustomerGetbackCustomerCode {
                token: t(),
                customer: Some(unnamed),
                create: true,
            })
            .await
            .unwrap()
            .expect("a code");
        assert!(numbered.starts_with('C'), "{numbered}");
        let numbered_customer = client
            .get_customer(&types::GetCustomer {
                token: t(),
                customer_code: Some(numbered.clone()),
            })
            .await
            .unwrap()
            .unwrap();
        let mut renamed = updated.clone();
        renamed.name = Some("Sandbox Omdöpt AB".into());
        let same = client
            .update_customer_getback_customer_code(&types::UpdateCustomerGetbackCustomerCode {
                token: t(),
                customer: Some(renamed),
                create: false,
            })
            .await
            .unwrap();
        assert_eq!(same.as_deref(), Some("SBXNEW1"));

        // Delete, by code and by id; then they are gone.
        client
            .delete_customer_by_code(&types::DeleteCustomerByCode {
                token: t(),
                customer_code: Some("SBXNEW1".into()),
            })
            .await
            .unwrap();
        client
            .delete_customer_by_id(&types::DeleteCustomerById {
                token: t(),
                customer_id: Some(numbered_customer.account_id.to_string()),
            })
            .await
            .unwrap();
        for gone in ["SBXNEW1", numbered.as_str()] {
            let err = client
                .get_customer(&types::GetCustomer {
                    token: t(),
                    customer_code: Some(gone.into()),
                })
                .await
                .unwrap_err();
            let f = failure(err);
            assert_eq!(f.error_code, "CUSTOMER_CODE_DOES_NOT_EXIST");
            assert!(!f.has_expired);
        }
        let err = client
            .delete_customer_by_code(&types::DeleteCustomerByCode {
                token: t(),
                customer_code: Some("SBXNEW1".into()),
            })
            .await
            .unwrap_err();
        assert_eq!(err.error_code(), Some("CUSTOMER_CODE_DOES_NOT_EXIST"));
        // The twin answers on the vendor's path too.
        let asmx = Client::new(
            format!(
                "{}/system/dashboard/integration/integration_1_1.asmx",
                sandbox.url(SLUG)
            ),
            customer_data::runtime::http::default_client().unwrap(),
        );
        assert!(
            asmx.get_customer_list(&types::GetCustomerList { token: t() })
                .await
                .is_ok()
        );
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn sandbox_refuses_wrong_keys_and_reports_an_expired_session() {
        let sandbox = Sandbox::start(SandboxConfig {
            lifetimes: Lifetimes {
                accountsiq_session: Duration::from_secs(1),
                ..Lifetimes::default()
            },
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let client = client(&sandbox);
        let refused = client
            .login(&types::Login {
                company_id: Some(ACCOUNTSIQ_COMPANY_ID.into()),
                partner_key: Some(ACCOUNTSIQ_PARTNER_KEY.into()),
                user_key: Some("not-the-key".into()),
            })
            .await
            .unwrap_err();
        match refused {
            SoapError::Fault(f) => {
                assert_eq!(f.code, "soap:Client");
                assert_eq!(f.string, "Invalid credentials");
            }
            other => panic!("{other:?}"),
        }
        // No or an unknown token: refused, not expired.
        for token in [None, Some("made-up".to_string())] {
            let f = failure(
                client
                    .get_customer_list(&types::GetCustomerList { token })
                    .await
                    .unwrap_err(),
            );
            assert_eq!(f.error_code, "NOT_AUTHORIZED");
            assert!(!f.has_expired);
        }
        let token = login(&client).await;
        let request = types::GetCustomer {
            token: Some(token.clone()),
            customer_code: None,
        };
        let list = || client.get_customer(&request);
        // Valid session, unknown code.
        assert_eq!(
            list().await.unwrap_err().error_code(),
            Some("CUSTOMER_CODE_DOES_NOT_EXIST")
        );
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let err = list().await.unwrap_err();
        assert!(err.is_expired(), "{err}");
        assert_eq!(err.error_code(), Some("NOT_AUTHORIZED"));
        assert!(types::VisorExceptionCodes::KNOWN.contains(&"NOT_AUTHORIZED"));
        // Log in again: the new session works.
        let fresh = login(&client).await;
        assert!(
            client
                .get_customer_list(&types::GetCustomerList { token: Some(fresh) })
                .await
                .is_ok()
        );
        sandbox.shutdown().await;
    }

    /// Posts the envelope `body` with `SOAPAction: action` to the twin.
    async fn post(
        http: &reqwest::Client,
        sandbox: &Sandbox,
        action: &str,
        body: &str,
    ) -> (u16, String) {
        let response = http
            .post(sandbox.url(SLUG))
            .header("content-type", "text/xml; charset=utf-8")
            .header("SOAPAction", action)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    #[tokio::test]
    async fn sandbox_faults_for_what_it_does_not_simulate_or_cannot_read() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let client = client(&sandbox);
        let token = login(&client).await;
        let err = client
            .get_customer_defaults(&types::GetCustomerDefaults { token: Some(token) })
            .await
            .unwrap_err();
        match err {
            SoapError::Fault(f) => {
                assert_eq!(f.code, "soap:Server");
                assert_eq!(
                    f.string,
                    "GetCustomerDefaults is not simulated by the sandbox"
                );
            }
            other => panic!("{other:?}"),
        }
        // Every operation of the WSDL answers a SOAP envelope, the SOAPAction quoted or bare.
        // Each request is the smallest schema-valid one the WSDL allows (required elements
        // present, required nillable ones as xsi:nil).
        let http = customer_data::runtime::http::default_client().unwrap();
        let simulated = customer_data_sandbox::twins::accountsiq_shared::CUSTOMER_OPERATIONS;
        let wsdl = common::soap::wsdl_model(SLUG);
        for (i, (op, action)) in customer_data::accountsiq_v1_1::OPERATIONS
            .iter()
            .enumerate()
        {
            let action = if i % 2 == 0 {
                format!("\"{action}\"")
            } else {
                action.to_string()
            };
            let request = common::soap::minimal_instance(&wsdl, op, &[]);
            let (status, body) = post(
                &http,
                &sandbox,
                &action,
                &common::soap::envelope_with_xsi(&request.xml),
            )
            .await;
            if *op == "Login" || simulated.contains(op) {
                assert!(
                    body.contains(&format!("<{op}Response"))
                        || body.contains("<faultcode>soap:Client</faultcode>"),
                    "{op}: {status} {body}"
                );
            } else {
                assert_eq!(status, 500, "{op}");
                assert!(
                    body.contains("<faultcode>soap:Server</faultcode>")
                        && body.contains(&format!("{op} is not simulated by the sandbox")),
                    "{op}: {body}"
                );
            }
        }
        // Unknown SOAPAction, malformed XML, a body that is not the action's: soap:Client.
        let list = envelope(&format!("<GetCustomerList xmlns=\"{NS}\"/>"));
        for (action, body, says) in [
            (format!("{NS}NoSuchOperation"), list.clone(), "SOAPAction"),
            (String::new(), list.clone(), "SOAPAction"),
            (
                format!("{NS}GetCustomerList"),
                "<soap:Envelope".to_string(),
                "unable to read",
            ),
            (format!("{NS}GetCustomer"), list.clone(), "unable to read"),
            (
                format!("{NS}UpdateCustomer"),
                envelope(&format!(
                    "<UpdateCustomer xmlns=\"{NS}\"><create>maybe</create></UpdateCustomer>"
                )),
                "create",
            ),
        ] {
            let (status, body) = post(&http, &sandbox, &action, &body).await;
            assert_eq!(status, 500, "{action}: {body}");
            assert!(
                body.contains("<faultcode>soap:Client</faultcode>"),
                "{body}"
            );
            assert!(body.contains(says), "{action}: {body}");
        }
        sandbox.shutdown().await;
    }
}
