//! AccountsIQ v2.0 (SOAP): every WSDL operation generated; TokenGet / TokenRefresh and the
//! customer operations send envelopes XML-equivalent to the vendor's Postman samples, with the
//! `AiqSoapHeader` (entity, access token) on every call that declares it.
#![cfg(feature = "accountsiq")]

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
            surface.iter().any(|l| l.starts_with(&format!("{op} -> "))),
            "{op} missing"
        );
    }
    // Every operation but the token operations themselves sends AiqSoapHeader.
    let without: Vec<&String> = surface
        .iter()
        .filter(|l| !l.ends_with("[header AiqSoapHeader]"))
        .collect();
    assert_eq!(without.len(), 2, "{without:?}");
    assert!(
        without
            .iter()
            .all(|l| l.starts_with("TokenGet ") || l.starts_with("TokenRefresh ")),
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
    let mut client = connect(&Endpoint::Custom(url)).unwrap();
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
        "soapaction: {}getcustomer",
        NS.to_ascii_lowercase()
    )));
}
