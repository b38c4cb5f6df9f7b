//! `xsi:nil` and `SOAPAction` on the wire, for both AccountsIQ versions (the XSD embedded in
//! each WSDL is the contract):
//! * every request type that can hold a required nillable element (`minOccurs` 1,
//!   `nillable="true"`, at any depth) writes it as `xsi:nil="true"` when it has no value, is
//!   otherwise XML-equivalent to a schema-valid instance built from the WSDL, and is read by
//!   the twin. The list of such types is derived from the WSDL with the generator's own parser,
//!   so a type the WSDL adds is not forgotten;
//! * answers with `xsi:nil` elements decode them as `None`, whichever prefix declares `xsi`;
//! * our client sends `SOAPAction` quoted; the twins accept it quoted and bare.
//!
//! With `CUSTOMER_DATA_SANDBOX_RECORD` set, every request and answer of these tests is recorded
//! and CI validates it against the WSDL's XSD with an independent validator.
#![cfg(feature = "accountsiq")]

mod common;

use common::soap::{
    envelope_with_xsi, minimal_instance, nil_paths, operations_with_required_nil, wsdl_model,
};
use customer_data::runtime::soap::{self, SoapError};
use customer_data_sandbox::credentials::{
    ACCOUNTSIQ_CLIENT_ID, ACCOUNTSIQ_CLIENT_SECRET, ACCOUNTSIQ_COMPANY_ID, ACCOUNTSIQ_PARTNER_KEY,
    ACCOUNTSIQ_USER_KEY,
};
use customer_data_sandbox::{Sandbox, SandboxConfig};

/// Decodes a request envelope into the operation's generated type and writes it again with our
/// envelope (and the SOAP header, when given).
type Codec<H> = fn(&str, Option<&H>) -> Result<String, SoapError>;

/// One [`Codec`] per operation named, over the generated types of `$module`.
macro_rules! codecs {
    ($module:ident, $header:ty, $header_element:literal; $($op:ident),* $(,)?) => {
        vec![$((
            stringify!($op),
            (|envelope: &str, header: Option<&$header>| {
                let request: customer_data::$module::types::$op =
                    soap::decode_response(200, envelope)?;
                soap::envelope(
                    customer_data::$module::NAMESPACE,
                    stringify!($op),
                    header.map(|h| ($header_element, h)),
                    &request,
                )
            }) as Codec<$header>,
        )),*]
    };
}

/// The operations whose request can hold a required nillable element (the same 68 in both
/// WSDLs), sorted. Checked against the WSDL by [`round_trip_and_send`].
macro_rules! operations_with_required_nil {
    ($module:ident, $header:ty, $header_element:literal) => {
        codecs!($module, $header, $header_element;
        AddNotes, AttachDocument, CreateAdjustedInvoicesGetBackInvoiceIDs,
        CreateBatchPurchasesDebitNote, CreateBatchPurchasesDebitNoteBulk,
        CreateBatchPurchasesDebitNoteBulkGetBackTransactionIDs,
        CreateBatchPurchasesDebitNoteGetBackTransactionID, CreateBatchPurchasesInvoice,
        CreateBatchPurchasesInvoiceBulk, CreateBatchPurchasesInvoiceBulkGetBackTransactionIDs,
        CreateBatchPurchasesInvoiceGetBackTransactionID, CreateBatchSalesCreditNote,
        CreateBatchSalesCreditNoteBulk, CreateBatchSalesCreditNoteBulkGetBackTransactionIDs,
        CreateBatchSalesCreditNoteGetBackTransactionID, CreateBatchSalesInvoice,
        CreateBatchSalesInvoiceBulk, CreateBatchSalesInvoiceBulkGetBackTransactionIDs,
        CreateBatchSalesInvoiceGetBackTransactionID, CreateCreditNotesGetBackCreditNoteIDs,
        CreateCreditNotesSpecifyCostGetBackCreditNoteIDs, CreateInvoicesGetBackInvoiceIDs,
        CreateInvoicesSpecifyCostGetBackInvoiceIDs, DeliverOrderLines, GetAdjustedInvoicesBy,
        GetCountTransactionsBy, GetCustomersBy, GetDepartmentsBy, GetInvoicesBy,
        GetNewDeliveryLine, GetOrdersBy, GetOrdersByPaged, GetPeriodList, GetStockItemsBy,
        GetSuppliersBy, GetTransactionsBy, GetTransactionsModifiedBy,
        PostPayAndAllocateSalesInvoice, PostPayAndAllocateSalesInvoices,
        PostPurchasesCreditJournal, PostPurchasesCreditJournalGetBackTransactionID,
        PostPurchasesDebitJournal, PostPurchasesDebitJournalGetBackTransactionID,
        PostSalesCreditJournal, PostSalesCreditJournalGetBackTransactionID,
        PostSalesDebitJournal, PostSalesDebitJournalGetBackTransactionID, SaveAPInboxInvoice,
        SaveAPInboxInvoiceGetBackInvoiceID, SaveAdjustedAPInboxInvoiceGetBackInvoiceID,
        SaveAdjustedInvoiceGetBackInvoiceID, SaveCreditNote, SaveCreditNoteGetBackCreditNoteID,
        SaveCreditNoteSpecifyCostGetBackCreditNoteID, SaveInvoice, SaveInvoiceGetBackInvoiceID,
        SaveInvoiceSpecifyCostGetBackInvoiceID, SaveInvoiceWithAmountCheckGetBackInvoiceID,
        SaveInvoiceWithPostingAmountCheckGetBackInvoiceID, SaveOrder, SaveOrderGetBackOrderID,
        SaveStockItem, SaveSundryReceiptPayments, SaveSundryReceiptPaymentsGetBackTransactionIDs,
        UpdateCustomer, UpdateCustomerGetbackCustomerCode, UpdateSupplier,
        UpdateSupplierGetBackSupplierCode
        )
    };
}

/// What the twin made of the requests: read and answered, or refused as not simulated.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    answered: Vec<String>,
    not_simulated: usize,
}

/// For every operation of `codecs` (which must be exactly the WSDL's operations with a required
/// nillable element): builds the schema-valid minimal request from the WSDL (required nillable
/// elements as `xsi:nil`), decodes it into the generated type (`None`), writes it again and
/// requires the same XML, `xsi:nil` paths included; then sends what we wrote to the twin.
async fn round_trip_and_send<H>(
    slug: &'static str,
    codecs: Vec<(&'static str, Codec<H>)>,
    header: Option<&H>,
    values: &[(&str, &str)],
    url: &str,
) -> Outcome {
    let wsdl = wsdl_model(slug);
    let mut derived = operations_with_required_nil(&wsdl);
    derived.sort();
    let listed: Vec<String> = codecs.iter().map(|(op, _)| op.to_string()).collect();
    assert_eq!(
        listed, derived,
        "{slug}: the operations whose request can hold a required nillable element changed"
    );
    let rules = match slug {
        "accountsiq_v1_1" => &customer_data::accountsiq_v1_1::SERVICE_RULES,
        "accountsiq_v2_0" => &customer_data::accountsiq_v2_0::SERVICE_RULES,
        other => panic!("no SOAP service {other}"),
    };
    let layer = customer_data::runtime::Layer::new(rules);
    let http = customer_data::runtime::http::default_client().unwrap();
    let mut outcome = Outcome::default();
    for (op, codec) in codecs {
        let operation = wsdl.operations.iter().find(|o| o.name == op).unwrap();
        let instance = minimal_instance(&wsdl, &operation.input, values);
        assert!(!instance.nils.is_empty(), "{slug} {op}: no xsi:nil written");
        let theirs = envelope_with_xsi(&instance.xml);
        let header = header.filter(|_| operation.input_header.is_some());
        let ours = codec(&theirs, header).unwrap_or_else(|e| panic!("{slug} {op}: {e}"));
        assert_eq!(nil_paths(&ours), instance.nils, "{slug} {op}:\n{ours}");
        common::xml::assert_equivalent_bodies(&ours, &theirs, &format!("{slug} {op}"));
        let answer = soap::call::<serde::de::IgnoredAny>(
            &layer,
            &http,
            url,
            &operation.soap_action,
            op,
            ours,
        )
        .await;
        match answer {
            Ok(_) => outcome.answered.push(op.to_string()),
            Err(SoapError::Fault(fault))
                if fault.code == "soap:Server"
                    && fault.string == format!("{op} is not simulated by the sandbox") =>
            {
                outcome.not_simulated += 1;
            }
            Err(other) => panic!("{slug} {op}: the twin refused our request: {other}"),
        }
    }
    outcome
}

#[tokio::test]
async fn v1_1_requests_write_required_nillable_elements_as_xsi_nil_and_the_twin_reads_them() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let url = sandbox.url("accountsiq_v1_1");
    let client = customer_data::accountsiq_v1_1::connect(
        &customer_data::accountsiq_v1_1::Endpoint::Custom(url.clone()),
    )
    .unwrap();
    let token = client
        .login(&customer_data::accountsiq_v1_1::types::Login {
            company_id: Some(ACCOUNTSIQ_COMPANY_ID.into()),
            partner_key: Some(ACCOUNTSIQ_PARTNER_KEY.into()),
            user_key: Some(ACCOUNTSIQ_USER_KEY.into()),
        })
        .await
        .unwrap()
        .expect("a session token");
    let outcome = round_trip_and_send(
        "accountsiq_v1_1",
        operations_with_required_nil!(accountsiq_v1_1, (), "none"),
        None,
        &[("token", &token)],
        &url,
    )
    .await;
    // The simulated ones are read and answered (their result envelope says what the sandbox
    // thinks of a customer named "x"); the others are read far enough to be dispatched.
    assert_eq!(
        outcome.answered,
        [
            "GetCustomersBy",
            "UpdateCustomer",
            "UpdateCustomerGetbackCustomerCode"
        ]
    );
    assert_eq!(outcome.not_simulated, 65);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn v2_0_requests_write_required_nillable_elements_as_xsi_nil_and_the_twin_reads_them() {
    use customer_data::accountsiq_v2_0::types;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let url = sandbox.url("accountsiq_v2_0");
    let client = customer_data::accountsiq_v2_0::connect(
        &customer_data::accountsiq_v2_0::Endpoint::Custom(url.clone()),
    )
    .unwrap();
    let tokens = client
        .token_get(&types::TokenGet {
            client_id: Some(ACCOUNTSIQ_CLIENT_ID.into()),
            client_secret: Some(ACCOUNTSIQ_CLIENT_SECRET.into()),
        })
        .await
        .unwrap()
        .expect("tokens");
    let header = types::AiqSoapHeader {
        entity: Some(ACCOUNTSIQ_COMPANY_ID.into()),
        access_token: tokens.access_token,
    };
    let outcome = round_trip_and_send(
        "accountsiq_v2_0",
        operations_with_required_nil!(accountsiq_v2_0, types::AiqSoapHeader, "AiqSoapHeader"),
        Some(&header),
        &[],
        &url,
    )
    .await;
    assert_eq!(
        outcome.answered,
        [
            "GetCustomersBy",
            "UpdateCustomer",
            "UpdateCustomerGetbackCustomerCode"
        ]
    );
    assert_eq!(outcome.not_simulated, 65);
    sandbox.shutdown().await;
}

/// `GetCustomerResponse` with every required nillable element of the customer as `xsi:nil`
/// (built from the WSDL), `xsi` declared on the Envelope the way .NET writes it.
fn nil_customer_answer() -> (String, Vec<String>) {
    let wsdl = wsdl_model("accountsiq_v1_1");
    let mut instance = minimal_instance(&wsdl, "GetCustomerResponse", &[]);
    // A successful answer (the first enumeration value of OperationStatus may be another one).
    let status_at = instance.xml.find("<Status>").unwrap() + "<Status>".len();
    let status_end = instance.xml[status_at..].find('<').unwrap() + status_at;
    instance.xml.replace_range(status_at..status_end, "Success");
    (envelope_with_xsi(&instance.xml), instance.nils)
}

#[test]
fn answers_with_xsi_nil_elements_decode_to_none() {
    use customer_data::accountsiq_v1_1::types;
    let (answer, nils) = nil_customer_answer();
    assert!(
        nils.contains(&"GetCustomerResponse/GetCustomerResult/Result/ExternalApproverID".into()),
        "{nils:?}"
    );
    let decoded: types::GetCustomerResponse = soap::decode_response(200, &answer).unwrap();
    let customer = decoded.get_customer_result.unwrap().result.unwrap();
    assert_eq!(customer.external_approver_id, None);
    assert_eq!(customer.head_office_account_id, None);
    assert_eq!(customer.sales_representative_id, None);

    // Only the SOAP writer writes the marker: in JSON a missing value stays `null` and the
    // value round-trips.
    let json = serde_json::to_value(&customer).unwrap();
    assert_eq!(json["ExternalApproverID"], serde_json::Value::Null);
    let back: types::Customer = serde_json::from_value(json).unwrap();
    assert_eq!(back, customer);

    // The same element with a value, absent altogether, nil under another prefix (WCF writes
    // `i:nil`) declared on the element itself, and nil on an optional element: all read.
    let variants = [
        (
            r#"<ExternalApproverID xsi:nil="true"/>"#,
            r#"<ExternalApproverID>7</ExternalApproverID>"#,
            Some(7),
        ),
        (r#"<ExternalApproverID xsi:nil="true"/>"#, "", None),
        (
            r#"<ExternalApproverID xsi:nil="true"/>"#,
            r#"<ExternalApproverID xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="true"/>"#,
            None,
        ),
    ];
    for (from, to, expected) in variants {
        let text = answer.replacen(from, to, 1);
        let decoded: types::GetCustomerResponse =
            soap::decode_response(200, &text).unwrap_or_else(|e| panic!("{to}: {e}"));
        let customer = decoded.get_customer_result.unwrap().result.unwrap();
        assert_eq!(customer.external_approver_id, expected, "{to}");
    }
    let with_nil_code = answer.replacen("<LedgerType>", r#"<Code xsi:nil="true"/><LedgerType>"#, 1);
    // (Code follows LedgerType in the schema; element order does not matter to the decoder.)
    let decoded: types::GetCustomerResponse = soap::decode_response(200, &with_nil_code).unwrap();
    assert_eq!(
        decoded.get_customer_result.unwrap().result.unwrap().code,
        None
    );

    // Without the xsi declaration `xsi:nil` is not the XSI attribute: an int cannot be empty.
    let undeclared = answer.replace(
        r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#,
        r#" xmlns:xsi="urn:not-xsi""#,
    );
    let err = soap::decode_response::<types::GetCustomerResponse>(200, &undeclared).unwrap_err();
    assert!(matches!(err, SoapError::Decode { .. }), "{err}");
}

#[tokio::test]
async fn our_client_writes_xsi_nil_and_the_decoded_answer_over_the_wire() {
    use customer_data::accountsiq_v1_1::{Endpoint, connect, types};
    let (answer, _) = nil_customer_answer();
    let (url, server) = common::serve(vec![common::soap::soap_response("200 OK", &answer)]).await;
    let client = connect(&Endpoint::Custom(url)).unwrap().with_layer(
        customer_data::runtime::Layer::new(&customer_data::accountsiq_v1_1::SERVICE_RULES)
            .with_retry(customer_data::runtime::retry::RetryPolicy::none()),
    );
    let customer = client
        .get_customer(&types::GetCustomer {
            token: Some("t".into()),
            customer_code: Some("C1".into()),
        })
        .await
        .unwrap()
        .expect("a customer");
    assert_eq!(customer.external_approver_id, None);
    let request = server.await.unwrap().remove(0);
    let lower = request.to_ascii_lowercase();
    // SOAP 1.1 §6.1.1, WS-I Basic Profile 1.1 R2744: the SOAPAction value is a quoted string.
    assert!(
        lower.contains(&format!(
            "\r\nsoapaction: \"{}getcustomer\"\r\n",
            customer_data::accountsiq_v1_1::NAMESPACE.to_ascii_lowercase()
        )),
        "{request}"
    );
    let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
    assert!(
        body.contains(r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#),
        "{body}"
    );
}

#[tokio::test]
async fn the_twins_accept_soap_action_quoted_and_bare() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let http = customer_data::runtime::http::default_client().unwrap();
    let ns = customer_data::accountsiq_v1_1::NAMESPACE;
    for slug in ["accountsiq_v1_1", "accountsiq_v2_0"] {
        let action = format!("{ns}GetCustomerList");
        let request = envelope_with_xsi(&format!("<GetCustomerList xmlns=\"{ns}\"/>"));
        for sent in [format!("\"{action}\""), action.clone()] {
            let response = http
                .post(sandbox.url(slug))
                .header("content-type", "text/xml; charset=utf-8")
                .header("SOAPAction", &sent)
                .body(request.clone())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            // Answered (the result envelope refuses the missing session), not a fault.
            assert_eq!(status, 200, "{slug} {sent}: {body}");
            assert!(
                body.contains("<GetCustomerListResponse"),
                "{slug} {sent}: {body}"
            );
        }
    }
    assert_eq!(soap::quoted_action("urn:a/B"), "\"urn:a/B\"", "quoted once");
    assert_eq!(soap::quoted_action("\"urn:a/B\""), "\"urn:a/B\"");
    sandbox.shutdown().await;
}
