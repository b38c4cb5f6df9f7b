//! AccountsIQ v1.1 (SOAP): every WSDL operation generated; for the customer operations and
//! Login the envelope we send is XML-equivalent to the vendor's Postman sample; sample and
//! failure responses decode; faults, failures and expiry become typed errors.
#![cfg(feature = "accountsiq")]

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
            surface.iter().any(|l| l.starts_with(&format!("{op} -> "))),
            "{op} missing"
        );
    }
}

/// Serves one canned SOAP answer and returns the request it saw.
async fn one_call<T>(response: String, call: impl AsyncFnOnce(Client) -> T) -> (T, String) {
    let (url, server) = common::serve(vec![response]).await;
    let client = connect(&Endpoint::Custom(url)).unwrap();
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
        lower.contains(&format!("soapaction: {}login", NS.to_ascii_lowercase())),
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
