//! What the two AccountsIQ twins (`accountsiq_v1_1`, `accountsiq_v2_0`) share: the one
//! sandbox entity (company) both API versions front, its customer ledger, and the SOAP 1.1
//! plumbing (dispatch on `SOAPAction`, request decoding into the generated types, result
//! envelopes, faults).
//!
//! One sandbox has one `Arc<SandboxConfig>`; [`company`] hands both routers of that sandbox the
//! same [`Company`] (cached by the config's address, held weakly), so a customer written through
//! v2.0 is read back through v1.1: both endpoints serve the same entity
//! ([`crate::credentials::ACCOUNTSIQ_COMPANY_ID`]), as the vendor's do.
//!
//! The ledger is seeded with synthetic customers ([`crate::synthetic`]); every record keeps the
//! instant it was last written (the `Customer` type has no such member, `GetCustomersBy`
//! filters on it). Records are kept as the v1.1 generated types; v2.0's identical types are
//! converted member by member (serde), so each twin reads and writes its own generated types.
//!
//! Behaviour the sources do not state, chosen here:
//! * Faults are what an ASP.NET `.asmx` service sends: HTTP 500, `soap:Client` for a request the
//!   server cannot read (`Server was unable to read request. ---> …`) or an unknown `SOAPAction`
//!   (`Server did not recognize the value of HTTP Header SOAPAction: …`), `soap:Server` for an
//!   operation of the WSDL the sandbox does not simulate (`<Operation> is not simulated by the
//!   sandbox`). The Body's element must be the one the `SOAPAction` names (`soap:Client`).
//! * Failures of a simulated operation are its result envelope: `Status` `Failure`, an
//!   `ErrorCode` of the WSDL's `VisorExceptionCodes`, an `ErrorMessage`, `HasExpired`.
//!   Unknown customer code: `CUSTOMER_CODE_DOES_NOT_EXIST` (unknown id:
//!   `CUSTOMER_ID_DOES_NOT_EXIST`).
//! * `UpdateCustomer` / `UpdateCustomerGetbackCustomerCode` replace the whole record (the
//!   client sends the whole `Customer`). `create=true` answers `Status` `Created` and assigns
//!   `AccountID`, `CreationDate` and `RowVersionNumber`; `create=false` answers `Success`.
//!   Validation, with the WSDL's codes: code missing / empty / padded / not upper case
//!   (`ACCOUNT_CODE_IS_NULL`, `_IS_EMPTY`, `_CANNOT_CONTAIN_LEADING_AND_OR_TRAILING_WHITESPACES`,
//!   `_MUST_BE_UPPER_CASE`; the wiki says codes are upper case), name missing or blank
//!   (`ACCOUNT_NAME_IS_NULL` / `_IS_EMPTY`), an e-mail without `@`
//!   (`ACCOUNT_EMAIL_INVALID_FORMAT`), a negative credit limit
//!   (`ACCOUNT_CREDIT_LIMIT_MUST_BE_POSITIVE`), creating an existing code
//!   (`ACCOUNT_CODE_ALREADY_IN_USE`), updating a missing one (`CUSTOMER_CODE_DOES_NOT_EXIST`),
//!   and optimistic concurrency: an update whose `RowVersionNumber` is given and is not the
//!   stored one fails with `OUTDATED_RECORD` (the wiki describes this for orders and invoices).
//!   Only `UpdateCustomerGetbackCustomerCode` numbers a new customer without a code
//!   (`C` + five digits of its `AccountID`): that is what getting the code back is for.
//! * Contacts: the primary contact of a customer is its record's `Contact` / `Phone` / `Email`
//!   (so an update shows in the contacts); some seeded customers have a second, non-primary
//!   "Accounts payable" contact. Deleting a customer deletes its contacts; a deleted customer
//!   is gone (no tombstone in `GetCustomersBy`).
//! * `GetCustomersBy`: the filters combine (AND); `Emails` match the customer's `Email`
//!   case-insensitively; `FromLastModifiedDateInUTC` is inclusive and read as UTC when it
//!   carries no offset.
//! * `GetNewCustomerFromDefaults` answers a shell with the sandbox entity's defaults (EUR,
//!   credit term `30`, tax code `STD`, Sales ledger, active), not stored.
//! * With `config.send_unlisted_enum_values` on, every seeded customer has the `LedgerType`
//!   [`UNLISTED_LEDGER_TYPE`], which the WSDL's `LedgerType` does not list; both versions read
//!   it from the shared ledger.

use crate::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use customer_data::accountsiq_v1_1::types as v1;
use customer_data::runtime::soap::{self, SoapError, XsDateTime, XsDecimal};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::SandboxConfig;
use crate::synthetic::{Person, population};

/// The XML namespace and `SOAPAction` prefix of both versions.
pub const NAMESPACE: &str = customer_data::accountsiq_v1_1::NAMESPACE;
/// How many customers the ledger starts with.
pub const SEEDED_CUSTOMERS: usize = 24;
/// The seeded customers' `LedgerType` with `config.send_unlisted_enum_values` on: one the
/// WSDL's `LedgerType` enumeration does not list.
pub const UNLISTED_LEDGER_TYPE: &str = "Intercompany";

/// Why a simulated operation failed: its result envelope's `ErrorCode`, `ErrorMessage` and
/// `HasExpired`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
    pub has_expired: bool,
}

impl Failure {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            has_expired: false,
        }
    }

    /// A failure with `HasExpired` true (the session or access token has expired).
    pub fn expired(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            has_expired: true,
            ..Self::new(code, message)
        }
    }
}

/// What a successful operation answers: the result envelope's `Status` and `Result`.
#[derive(Debug, Clone, PartialEq)]
pub struct Success<T> {
    pub status: &'static str,
    pub value: T,
}

impl<T> Success<T> {
    pub fn ok(value: T) -> Self {
        Self {
            status: "Success",
            value,
        }
    }

    pub fn created(value: T) -> Self {
        Self {
            status: "Created",
            value,
        }
    }
}

/// A saved customer: its code, and whether the save created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub code: String,
    pub created: bool,
}

impl Saved {
    /// The result envelope's status and `value`: `Created` or `Success`.
    pub fn answer<T>(&self, value: T) -> Success<T> {
        if self.created {
            Success::created(value)
        } else {
            Success::ok(value)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The entity and its customer ledger
// ---------------------------------------------------------------------------------------------

/// The sandbox entity both versions serve.
pub struct Company {
    pub config: Arc<SandboxConfig>,
    store: Mutex<Store>,
}

impl Company {
    /// The ledger (never hold it across an `.await`).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

static SHARED: Mutex<Vec<(usize, Weak<Company>)>> = Mutex::new(Vec::new());

/// The entity of the sandbox that owns `config` (created on first use).
pub fn company(config: &Arc<SandboxConfig>) -> Arc<Company> {
    let address = Arc::as_ptr(config) as usize;
    let mut cache = lock(&SHARED);
    cache.retain(|(_, company)| company.strong_count() > 0);
    let existing = cache
        .iter()
        .filter(|(key, _)| *key == address)
        .find_map(|(_, company)| company.upgrade())
        .filter(|company| Arc::ptr_eq(&company.config, config));
    if let Some(company) = existing {
        return company;
    }
    let company = Arc::new(Company {
        config: config.clone(),
        store: Mutex::new(if config.send_unlisted_enum_values {
            Store::seeded(config.seed).with_unlisted_ledger_type()
        } else {
            Store::seeded(config.seed)
        }),
    });
    cache.push((address, Arc::downgrade(&company)));
    company
}

struct Record {
    customer: v1::Customer,
    last_modified: DateTime<Utc>,
    /// Contacts besides the primary one (which is the record's own Contact/Phone/Email).
    other_contacts: Vec<v1::WSAccountContact>,
}

/// The customer ledger, by customer code.
pub struct Store {
    customers: BTreeMap<String, Record>,
    next_account_id: i32,
}

/// The market's country name, currency and company-form suffix.
fn market(market: &str) -> (&'static str, &'static str, &'static str) {
    match market {
        "SE" => ("Sweden", "SEK", "AB"),
        "NO" => ("Norway", "NOK", "AS"),
        "DK" => ("Denmark", "DKK", "ApS"),
        "FI" => ("Finland", "EUR", "Oy"),
        _ => ("Switzerland", "CHF", "GmbH"),
    }
}

const TRADES: &[&str] = &[
    "Bygg", "Konsult", "Design", "Trading", "Logistik", "Media", "Teknik", "Handel",
];

fn decimal(text: &str) -> XsDecimal {
    text.parse().unwrap_or_default()
}

/// `instant` as an `xs:dateTime` in UTC with a `Z`.
pub fn xs(instant: DateTime<Utc>) -> XsDateTime {
    XsDateTime::parse(&instant.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|_| XsDateTime::from(instant))
}

/// An `xs:dateTime` as a UTC instant (no offset: read as UTC).
pub fn utc(value: &XsDateTime) -> DateTime<Utc> {
    match value.with_offset() {
        Some(with_offset) => with_offset.with_timezone(&Utc),
        None => Utc.from_utc_datetime(&value.naive()),
    }
}

/// A customer with the sandbox entity's defaults and nothing else (the shell
/// `GetNewCustomerFromDefaults` answers).
fn default_customer(account_id: i32, created: DateTime<Utc>) -> v1::Customer {
    v1::Customer {
        account_id,
        external_approver_id: None,
        ledger_type: v1::LedgerType::Sales,
        code: None,
        country_code: None,
        name: None,
        group_id: None,
        default_tax_code: Some("STD".into()),
        area_id: None,
        bank_account_code: None,
        country_id: None,
        credit_term_id: Some("30".into()),
        currency_code: Some("EUR".into()),
        payment_method_id: None,
        author_user_id: None,
        ship_via_id: None,
        creation_date: xs(created),
        address1: None,
        address2: None,
        city: None,
        county_state: None,
        country: None,
        post_code: None,
        delivery_name: None,
        delivery_address1: None,
        delivery_address2: None,
        delivery_city: None,
        delivery_county_state: None,
        delivery_country: None,
        delivery_post_code: None,
        delivery_contact: None,
        delivery_phone: None,
        delivery_fax: None,
        phone: None,
        fax: None,
        email: None,
        web_address: None,
        contact: None,
        vat_registration_number: None,
        vat_exempt_reference: None,
        discount_rate: decimal("0"),
        use_account_tax_code: false,
        default_gl_account_code: None,
        control_gl_account_code: None,
        is_active: true,
        hold: 0,
        head_office_account_id: None,
        notes: None,
        use_head_office: false,
        is_head_office: false,
        credit_limit: decimal("0"),
        region_id: None,
        priority_id: None,
        delivery_route_id: None,
        price_category_id: None,
        price_list_id: None,
        department_id: None,
        international_bank_account_number: None,
        bank_sort_code: None,
        bank_code: None,
        bank_swift_code: None,
        account_referral_id: None,
        mobile_phone: None,
        is_franchise: false,
        contractor_tax_code: None,
        row_version_number: None,
        edi_central_id: None,
        e_payment_reference: None,
        sales_representative_id: None,
    }
}

fn seeded_customer(person: &Person, account_id: i32, created: DateTime<Utc>) -> v1::Customer {
    let (country, currency, form) = market(person.market);
    let letters: String = person
        .family_name
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(4)
        .collect::<String>()
        .to_ascii_uppercase();
    let index = person.index;
    v1::Customer {
        code: Some(format!("{letters}{:03}", index + 1)),
        country_code: Some(person.market.to_string()),
        name: Some(format!(
            "{} {} {form}",
            person.family_name,
            TRADES[index % TRADES.len()]
        )),
        currency_code: Some(currency.into()),
        author_user_id: Some("SANDBOX".into()),
        address1: Some(person.address_line()),
        city: Some(person.city.clone()),
        country: Some(country.into()),
        post_code: Some(person.postal_code.clone()),
        phone: Some(person.phone.clone()),
        email: Some(person.email.clone()),
        contact: Some(person.full_name()),
        vat_registration_number: Some(format!("{}{:010}", person.market, 5_000_000 + index)),
        // Every sixth customer is inactive, so the active list differs from the full one.
        is_active: index % 6 != 5,
        credit_limit: decimal(&format!("{}", 5_000 + 1_000 * (index % 5))),
        row_version_number: Some("1".into()),
        ..default_customer(account_id, created)
    }
}

fn primary_contact(customer: &v1::Customer) -> Option<v1::WSAccountContact> {
    let name = customer.contact.clone().filter(|n| !n.trim().is_empty())?;
    Some(v1::WSAccountContact {
        full_name: Some(name),
        note: None,
        account_code: customer.code.clone(),
        job_title: None,
        phone: customer.phone.clone(),
        email: customer.email.clone(),
        is_primary: true,
        author_user_id: customer.author_user_id.clone(),
        creation_date: customer.creation_date.clone(),
    })
}

/// A value of one version's generated types as the same-shaped type of the other (or the same).
pub fn convert<A: Serialize, B: DeserializeOwned>(value: &A) -> Result<B, Failure> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| Failure::new("UNKNOWN", format!("sandbox conversion failed: {e}")))
}

fn convert_all<A: Serialize, B: DeserializeOwned>(values: &[A]) -> Result<Vec<B>, Failure> {
    values.iter().map(convert).collect()
}

fn not_found(code: Option<&str>) -> Failure {
    Failure::new(
        "CUSTOMER_CODE_DOES_NOT_EXIST",
        format!(
            "The customer code '{}' does not exist.",
            code.unwrap_or_default()
        ),
    )
}

fn valid_email(email: &str) -> bool {
    match email.trim().split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    }
}

impl Store {
    /// The same ledger with every customer's `LedgerType` [`UNLISTED_LEDGER_TYPE`].
    fn with_unlisted_ledger_type(mut self) -> Self {
        for record in self.customers.values_mut() {
            record.customer.ledger_type = v1::LedgerType::from(UNLISTED_LEDGER_TYPE);
        }
        self
    }

    /// The ledger with [`SEEDED_CUSTOMERS`] synthetic customers of `seed`.
    pub fn seeded(seed: u64) -> Self {
        let people = population(seed ^ 0x0A1C_00A7, 2 * SEEDED_CUSTOMERS);
        let base = Utc
            .with_ymd_and_hms(2023, 1, 2, 9, 0, 0)
            .single()
            .unwrap_or_default();
        let mut customers = BTreeMap::new();
        let mut next_account_id = 1001;
        for (n, person) in people.iter().take(SEEDED_CUSTOMERS).enumerate() {
            let created = base + chrono::Duration::days(9 * n as i64);
            let customer = seeded_customer(person, next_account_id, created);
            next_account_id += 1;
            let last_modified = created + chrono::Duration::days(30 * (n % 5) as i64);
            let mut other_contacts = Vec::new();
            if n % 3 == 0 {
                let other = &people[SEEDED_CUSTOMERS + n];
                other_contacts.push(v1::WSAccountContact {
                    full_name: Some(other.full_name()),
                    note: Some("Invoices and statements".into()),
                    account_code: customer.code.clone(),
                    job_title: Some("Accounts payable".into()),
                    phone: Some(other.phone.clone()),
                    email: Some(other.email.clone()),
                    is_primary: false,
                    author_user_id: Some("SANDBOX".into()),
                    creation_date: xs(created),
                });
            }
            if let Some(code) = customer.code.clone() {
                customers.insert(
                    code,
                    Record {
                        customer,
                        last_modified,
                        other_contacts,
                    },
                );
            }
        }
        Self {
            customers,
            next_account_id,
        }
    }

    fn record(&self, code: Option<&str>) -> Result<&Record, Failure> {
        code.and_then(|c| self.customers.get(c))
            .ok_or_else(|| not_found(code))
    }

    /// `GetCustomer`.
    pub fn get<C: DeserializeOwned>(&self, code: Option<&str>) -> Result<C, Failure> {
        convert(&self.record(code)?.customer)
    }

    /// When the customer was last written (None: no such customer).
    pub fn last_modified(&self, code: &str) -> Option<DateTime<Utc>> {
        self.customers.get(code).map(|r| r.last_modified)
    }

    /// `GetCustomerList` (every customer) or `GetActiveCustomerList`.
    pub fn list<C: DeserializeOwned>(&self, active_only: bool) -> Result<Vec<C>, Failure> {
        self.customers
            .values()
            .filter(|r| !active_only || r.customer.is_active)
            .map(|r| convert(&r.customer))
            .collect()
    }

    /// `GetCustomersBy`: customers with one of `emails` (when any) last written at or after
    /// `from` (when given).
    pub fn by<C: DeserializeOwned>(
        &self,
        emails: &[String],
        from: Option<&XsDateTime>,
    ) -> Result<Vec<C>, Failure> {
        let emails: Vec<String> = emails
            .iter()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        let from = from.map(utc);
        self.customers
            .values()
            .filter(|r| {
                emails.is_empty()
                    || r.customer
                        .email
                        .as_deref()
                        .is_some_and(|e| emails.contains(&e.trim().to_lowercase()))
            })
            .filter(|r| from.is_none_or(|from| r.last_modified >= from))
            .map(|r| convert(&r.customer))
            .collect()
    }

    /// `GetNewCustomerFromDefaults`.
    pub fn new_from_defaults<C: DeserializeOwned>(&self) -> Result<C, Failure> {
        convert(&default_customer(0, Utc::now()))
    }

    /// `UpdateCustomer` / `UpdateCustomerGetbackCustomerCode` (`auto_code`: number a new
    /// customer that has no code).
    pub fn save<C: Serialize>(
        &mut self,
        customer: Option<&C>,
        create: bool,
        auto_code: bool,
    ) -> Result<Saved, Failure> {
        let Some(customer) = customer else {
            return Err(Failure::new(
                "ACCOUNT_CODE_IS_NULL",
                "No customer was given.",
            ));
        };
        let mut customer: v1::Customer = convert(customer)?;
        let numbered = create && auto_code && customer.code.as_deref().is_none_or(str::is_empty);
        if numbered {
            customer.code = Some(format!("C{:05}", self.next_account_id));
        }
        let code = match customer.code.clone() {
            None => {
                return Err(Failure::new(
                    "ACCOUNT_CODE_IS_NULL",
                    "The customer code is null.",
                ));
            }
            Some(code) if code.is_empty() => {
                return Err(Failure::new(
                    "ACCOUNT_CODE_IS_EMPTY",
                    "The customer code is empty.",
                ));
            }
            Some(code) if code.trim() != code => {
                return Err(Failure::new(
                    "ACCOUNT_CODE_CANNOT_CONTAIN_LEADING_AND_OR_TRAILING_WHITESPACES",
                    format!("The customer code '{code}' has leading or trailing whitespace."),
                ));
            }
            Some(code) if code.chars().any(char::is_lowercase) => {
                return Err(Failure::new(
                    "ACCOUNT_CODE_MUST_BE_UPPER_CASE",
                    format!("The customer code '{code}' must be upper case."),
                ));
            }
            Some(code) => code,
        };
        match customer.name.as_deref() {
            None => {
                return Err(Failure::new(
                    "ACCOUNT_NAME_IS_NULL",
                    "The customer name is null.",
                ));
            }
            Some(name) if name.trim().is_empty() => {
                return Err(Failure::new(
                    "ACCOUNT_NAME_IS_EMPTY",
                    "The customer name is empty.",
                ));
            }
            Some(_) => {}
        }
        if let Some(email) = customer.email.as_deref().filter(|e| !e.trim().is_empty())
            && !valid_email(email)
        {
            return Err(Failure::new(
                "ACCOUNT_EMAIL_INVALID_FORMAT",
                format!("'{email}' is not a valid e-mail address."),
            ));
        }
        if customer.credit_limit.is_sign_negative() && !customer.credit_limit.is_zero() {
            return Err(Failure::new(
                "ACCOUNT_CREDIT_LIMIT_MUST_BE_POSITIVE",
                "The credit limit must be positive.",
            ));
        }
        let now = Utc::now();
        if create {
            if self.customers.contains_key(&code) {
                return Err(Failure::new(
                    "ACCOUNT_CODE_ALREADY_IN_USE",
                    format!("The customer code '{code}' is already in use."),
                ));
            }
            customer.account_id = self.next_account_id;
            self.next_account_id += 1;
            customer.creation_date = xs(now);
            customer.row_version_number = Some("1".into());
            self.customers.insert(
                code.clone(),
                Record {
                    customer,
                    last_modified: now,
                    other_contacts: Vec::new(),
                },
            );
            return Ok(Saved {
                code,
                created: true,
            });
        }
        let Some(record) = self.customers.get_mut(&code) else {
            return Err(not_found(Some(&code)));
        };
        let stored_version = record.customer.row_version_number.clone();
        if let Some(sent) = customer.row_version_number.as_deref()
            && Some(sent) != stored_version.as_deref()
        {
            return Err(Failure::new(
                "OUTDATED_RECORD",
                format!(
                    "The customer '{code}' was changed since it was read (row version {sent}, now {}).",
                    stored_version.as_deref().unwrap_or_default()
                ),
            ));
        }
        let next_version = stored_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        customer.account_id = record.customer.account_id;
        customer.creation_date = record.customer.creation_date.clone();
        customer.row_version_number = Some(next_version.to_string());
        record.customer = customer;
        record.last_modified = now;
        Ok(Saved {
            code,
            created: false,
        })
    }

    /// `DeleteCustomerByCode`.
    pub fn delete_by_code(&mut self, code: Option<&str>) -> Result<(), Failure> {
        match code.and_then(|c| self.customers.remove(c)) {
            Some(_) => Ok(()),
            None => Err(not_found(code)),
        }
    }

    /// `DeleteCustomerById` (the id is the `AccountID`).
    pub fn delete_by_id(&mut self, id: Option<&str>) -> Result<(), Failure> {
        let wanted = id.and_then(|id| id.trim().parse::<i32>().ok());
        let code = self
            .customers
            .iter()
            .find(|(_, r)| Some(r.customer.account_id) == wanted)
            .map(|(code, _)| code.clone());
        match code {
            Some(code) => {
                self.customers.remove(&code);
                Ok(())
            }
            None => Err(Failure::new(
                "CUSTOMER_ID_DOES_NOT_EXIST",
                format!(
                    "The customer id '{}' does not exist.",
                    id.unwrap_or_default()
                ),
            )),
        }
    }

    fn contacts_of(record: &Record) -> Vec<v1::WSAccountContact> {
        primary_contact(&record.customer)
            .into_iter()
            .chain(record.other_contacts.iter().cloned())
            .collect()
    }

    /// `GetCustomerContacts`.
    pub fn contacts<K: DeserializeOwned>(&self, code: Option<&str>) -> Result<Vec<K>, Failure> {
        convert_all(&Self::contacts_of(self.record(code)?))
    }

    /// `GetAllCustomerContacts`.
    pub fn all_contacts<K: DeserializeOwned>(&self) -> Result<Vec<K>, Failure> {
        let all: Vec<v1::WSAccountContact> = self
            .customers
            .values()
            .flat_map(Self::contacts_of)
            .collect();
        convert_all(&all)
    }
}

// ---------------------------------------------------------------------------------------------
// SOAP 1.1 plumbing
// ---------------------------------------------------------------------------------------------

/// A request, read far enough to dispatch it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The WSDL operation the `SOAPAction` names.
    pub operation: String,
    /// The whole envelope.
    pub body: String,
    /// The SOAP header elements: (local name, XML).
    pub headers: Vec<(String, String)>,
}

impl Call {
    /// The header element `name` decoded as `H` (None: not sent).
    pub fn header<H: DeserializeOwned>(&self, name: &str) -> Result<Option<H>, String> {
        match self.headers.iter().find(|(local, _)| local == name) {
            None => Ok(None),
            Some((_, xml)) => quick_xml::de::from_str(xml)
                .map(Some)
                .map_err(|e| format!("{name}: {e}")),
        }
    }
}

fn xml_escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    let mut response = (status, xml).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

/// A SOAP 1.1 Fault (answered with HTTP 500, as `.asmx` services do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `soap:Client` or `soap:Server`.
    pub code: &'static str,
    pub string: String,
}

impl Fault {
    /// `soap:Client`: the request is at fault.
    pub fn client(string: impl Into<String>) -> Self {
        Self {
            code: "soap:Client",
            string: string.into(),
        }
    }

    /// `soap:Server`: the server is at fault.
    pub fn server(string: impl Into<String>) -> Self {
        Self {
            code: "soap:Server",
            string: string.into(),
        }
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        xml_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"{}\"><soap:Body><soap:Fault><faultcode>{}</faultcode><faultstring>{}</faultstring><detail /></soap:Fault></soap:Body></soap:Envelope>",
                soap::ENVELOPE_NS,
                xml_escape(self.code),
                xml_escape(&self.string)
            ),
        )
    }
}

/// `soap:Client`: the request cannot be read.
pub fn unreadable(reason: &str) -> Fault {
    Fault::client(format!("Server was unable to read request. ---> {reason}"))
}

/// `soap:Server`: an operation of the WSDL the sandbox does not simulate.
pub fn not_simulated(operation: &str) -> Response {
    Fault::server(format!("{operation} is not simulated by the sandbox")).into_response()
}

/// Reads a request: its `SOAPAction` (quoted or bare) must be one of `operations`
/// (name, action), and its body a SOAP 1.1 envelope whose Body holds that operation's element.
pub fn read_call(
    headers: &HeaderMap,
    body: &Bytes,
    operations: &[(&str, &str)],
) -> Result<Call, Fault> {
    let action = headers
        .get("soapaction")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let action = action.trim().trim_matches('"').trim();
    let Some((operation, _)) = operations.iter().find(|(_, a)| *a == action) else {
        return Err(Fault::client(format!(
            "Server did not recognize the value of HTTP Header SOAPAction: {action}."
        )));
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(unreadable("the request is not UTF-8"));
    };
    let envelope = inspect(text).map_err(|reason| unreadable(&reason))?;
    if envelope.body_element != *operation {
        return Err(unreadable(&format!(
            "the SOAPAction names `{operation}` but the Body holds `{}`",
            envelope.body_element
        )));
    }
    Ok(Call {
        operation: operation.to_string(),
        body: text.to_string(),
        headers: envelope.headers,
    })
}

/// Decodes the request element as `T` (a `soap:Client` fault naming the member that did not
/// fit otherwise).
pub fn decode<T: DeserializeOwned>(call: &Call) -> Result<T, Fault> {
    soap::decode_response::<T>(200, &call.body).map_err(|e| match e {
        SoapError::Decode { message, .. } => unreadable(&message),
        SoapError::Fault(_) => unreadable("the Body holds a Fault"),
        other => unreadable(&other.to_string()),
    })
}

/// The answer to `call`: `<{Operation}Response>` holding `value`.
pub fn respond<T: Serialize>(call: &Call, value: &T) -> Response {
    let element = format!("{}Response", call.operation);
    match soap::envelope(NAMESPACE, &element, None::<(&str, &())>, value) {
        Ok(xml) => xml_response(StatusCode::OK, xml),
        Err(e) => {
            Fault::server(format!("the sandbox could not write {element}: {e}")).into_response()
        }
    }
}

/// Decodes the request as `Req`, answers what `f` makes of it.
pub fn answer<Req: DeserializeOwned, Resp: Serialize>(
    call: &Call,
    f: impl FnOnce(Req) -> Resp,
) -> Response {
    match decode::<Req>(call) {
        Ok(request) => respond(call, &f(request)),
        Err(fault) => fault.into_response(),
    }
}

struct Envelope {
    body_element: String,
    headers: Vec<(String, String)>,
}

/// The local name of the Body's element and the Header's elements of a SOAP 1.1 envelope.
fn inspect(body: &str) -> Result<Envelope, String> {
    use quick_xml::events::Event;
    use quick_xml::name::{QName, ResolveResult};
    let malformed = |e: quick_xml::Error| format!("not well-formed XML: {e}");
    let mut reader = quick_xml::NsReader::from_str(body);
    // 0: before the Envelope, 1: in it, 2: in its Header or Body.
    let mut depth = 0usize;
    let mut in_header = false;
    let mut headers = Vec::new();
    loop {
        let start = reader.buffer_position() as usize;
        let (ns, event) = reader.read_resolved_event().map_err(malformed)?;
        let in_soap_ns =
            matches!(ns, ResolveResult::Bound(n) if n.into_inner() == soap::ENVELOPE_NS);
        match event {
            Event::Start(e) if depth == 2 => {
                let local = e.local_name().into_inner().to_string();
                let name = e.name().into_inner().to_string();
                reader.read_to_end(QName(&name)).map_err(malformed)?;
                if !in_header {
                    return Ok(Envelope {
                        body_element: local,
                        headers,
                    });
                }
                let end = (reader.buffer_position() as usize).min(body.len());
                headers.push((local, body.get(start..end).unwrap_or_default().to_string()));
            }
            Event::Empty(e) if depth == 2 => {
                let local = e.local_name().into_inner().to_string();
                if !in_header {
                    return Ok(Envelope {
                        body_element: local,
                        headers,
                    });
                }
                let end = (reader.buffer_position() as usize).min(body.len());
                headers.push((local, body.get(start..end).unwrap_or_default().to_string()));
            }
            Event::End(_) if depth == 2 && in_header => {
                depth = 1;
                in_header = false;
            }
            Event::Start(e) => {
                let local = e.local_name().into_inner().to_string();
                match (depth, local.as_str()) {
                    (0, "Envelope") if in_soap_ns => depth = 1,
                    (1, "Header") if in_soap_ns => {
                        depth = 2;
                        in_header = true;
                    }
                    (1, "Body") if in_soap_ns => depth = 2,
                    _ => {
                        return Err(format!(
                            "expected a SOAP 1.1 {} but found `{local}`",
                            if depth == 0 { "Envelope" } else { "Body" }
                        ));
                    }
                }
            }
            Event::Empty(e)
                if depth == 1 && in_soap_ns && e.local_name().into_inner() == "Header" => {}
            Event::Empty(_) | Event::End(_) => return Err("no element in the SOAP Body".into()),
            Event::Eof => return Err("no SOAP Body".into()),
            _ => {}
        }
    }
}

/// A `WSResult2Of…` envelope of version `$types` from a `Result<Success<T>, Failure>`.
macro_rules! ws_result {
    ($types:ident, $name:ident, $outcome:expr) => {
        match $outcome {
            Ok(success) => $types::$name {
                status: $types::OperationStatus::from(success.status),
                error_code: $types::VisorExceptionCodes::from("SUCCESS"),
                error_message: None,
                has_expired: false,
                result: success.value,
            },
            Err(failure) => $types::$name {
                status: $types::OperationStatus::from("Failure"),
                error_code: $types::VisorExceptionCodes::from(failure.code),
                error_message: Some(failure.message),
                has_expired: failure.has_expired,
                result: Default::default(),
            },
        }
    };
}
pub(crate) use ws_result;

/// A `WSResultStatus` envelope of version `$types` from a `Result<(), Failure>`.
macro_rules! ws_status {
    ($types:ident, $outcome:expr) => {
        match $outcome {
            Ok(()) => $types::WSResultStatus {
                status: $types::OperationStatus::Success,
                error_code: $types::VisorExceptionCodes::from("SUCCESS"),
                error_message: None,
                has_expired: false,
            },
            Err(failure) => $types::WSResultStatus {
                status: $types::OperationStatus::Failure,
                error_code: $types::VisorExceptionCodes::from(failure.code),
                error_message: Some(failure.message),
                has_expired: failure.has_expired,
            },
        }
    };
}
pub(crate) use ws_status;

/// The customer operations both versions simulate, answered with version `$types`' generated
/// types: `Some(response)` when `$call` is one of them, else `None`. `$auth` checks a call
/// (given the body's `token` element) and says why it is refused.
macro_rules! customer_operations {
    ($types:ident, $company:expr, $call:expr, $auth:expr) => {{
        use $crate::twins::accountsiq_shared as aiq;
        let company: &aiq::Company = $company;
        let call: &aiq::Call = $call;
        let auth = $auth;
        match call.operation.as_str() {
            "GetCustomer" => Some(aiq::answer(call, |r: $types::GetCustomer| {
                let outcome = auth(r.token.as_deref())
                    .and_then(|()| company.store().get(r.customer_code.as_deref()))
                    .map(|c| aiq::Success::ok(Some(c)));
                $types::GetCustomerResponse {
                    get_customer_result: Some(aiq::ws_result!(
                        $types,
                        WSResult2OfCustomer,
                        outcome
                    )),
                }
            })),
            "GetCustomerList" => Some(aiq::answer(call, |r: $types::GetCustomerList| {
                let outcome = auth(r.token.as_deref())
                    .and_then(|()| company.store().list(false))
                    .map(|customer| aiq::Success::ok(Some($types::ArrayOfCustomer { customer })));
                $types::GetCustomerListResponse {
                    get_customer_list_result: Some(aiq::ws_result!(
                        $types,
                        WSResult2OfArrayOfCustomer,
                        outcome
                    )),
                }
            })),
            "GetActiveCustomerList" => {
                Some(aiq::answer(call, |r: $types::GetActiveCustomerList| {
                    let outcome = auth(r.token.as_deref())
                        .and_then(|()| company.store().list(true))
                        .map(|customer| {
                            aiq::Success::ok(Some($types::ArrayOfCustomer { customer }))
                        });
                    $types::GetActiveCustomerListResponse {
                        get_active_customer_list_result: Some(aiq::ws_result!(
                            $types,
                            WSResult2OfArrayOfCustomer,
                            outcome
                        )),
                    }
                }))
            }
            "GetCustomersBy" => Some(aiq::answer(call, |r: $types::GetCustomersBy| {
                let query = r.query.unwrap_or_default();
                let emails = query.emails.map(|e| e.string).unwrap_or_default();
                let outcome = auth(r.token.as_deref())
                    .and_then(|()| {
                        company
                            .store()
                            .by(&emails, query.from_last_modified_date_in_utc.as_ref())
                    })
                    .map(|customer| aiq::Success::ok(Some($types::ArrayOfCustomer { customer })));
                $types::GetCustomersByResponse {
                    get_customers_by_result: Some(aiq::ws_result!(
                        $types,
                        WSResult2OfArrayOfCustomer,
                        outcome
                    )),
                }
            })),
            "UpdateCustomer" => Some(aiq::answer(call, |r: $types::UpdateCustomer| {
                let outcome = auth(r.token.as_deref())
                    .and_then(|()| company.store().save(r.customer.as_ref(), r.create, false))
                    .map(|saved| saved.answer(true));
                $types::UpdateCustomerResponse {
                    update_customer_result: Some(aiq::ws_result!(
                        $types,
                        WSResult2OfBoolean,
                        outcome
                    )),
                }
            })),
            "UpdateCustomerGetbackCustomerCode" => Some(aiq::answer(
                call,
                |r: $types::UpdateCustomerGetbackCustomerCode| {
                    let outcome = auth(r.token.as_deref())
                        .and_then(|()| company.store().save(r.customer.as_ref(), r.create, true))
                        .map(|saved| saved.answer(Some(saved.code.clone())));
                    $types::UpdateCustomerGetbackCustomerCodeResponse {
                        update_customer_getback_customer_code_result: Some(aiq::ws_result!(
                            $types,
                            WSResult2OfString,
                            outcome
                        )),
                    }
                },
            )),
            "GetNewCustomerFromDefaults" => Some(aiq::answer(
                call,
                |r: $types::GetNewCustomerFromDefaults| {
                    let outcome = auth(r.token.as_deref())
                        .and_then(|()| company.store().new_from_defaults())
                        .map(|c| aiq::Success::ok(Some(c)));
                    $types::GetNewCustomerFromDefaultsResponse {
                        get_new_customer_from_defaults_result: Some(aiq::ws_result!(
                            $types,
                            WSResult2OfCustomer,
                            outcome
                        )),
                    }
                },
            )),
            "DeleteCustomerByCode" => Some(aiq::answer(call, |r: $types::DeleteCustomerByCode| {
                let outcome = auth(r.token.as_deref())
                    .and_then(|()| company.store().delete_by_code(r.customer_code.as_deref()));
                $types::DeleteCustomerByCodeResponse {
                    delete_customer_by_code_result: Some(aiq::ws_status!($types, outcome)),
                }
            })),
            "DeleteCustomerById" => Some(aiq::answer(call, |r: $types::DeleteCustomerById| {
                let outcome = auth(r.token.as_deref())
                    .and_then(|()| company.store().delete_by_id(r.customer_id.as_deref()));
                $types::DeleteCustomerByIdResponse {
                    delete_customer_by_id_result: Some(aiq::ws_status!($types, outcome)),
                }
            })),
            "GetCustomerContacts" => Some(aiq::answer(call, |r: $types::GetCustomerContacts| {
                let outcome = auth(r.token.as_deref())
                    .and_then(|()| company.store().contacts(r.customer_code.as_deref()))
                    .map(|ws_account_contact| {
                        aiq::Success::ok(Some($types::ArrayOfWSAccountContact {
                            ws_account_contact,
                        }))
                    });
                $types::GetCustomerContactsResponse {
                    get_customer_contacts_result: Some(aiq::ws_result!(
                        $types,
                        WSResult2OfArrayOfWSAccountContact,
                        outcome
                    )),
                }
            })),
            "GetAllCustomerContacts" => {
                Some(aiq::answer(call, |r: $types::GetAllCustomerContacts| {
                    let outcome = auth(r.token.as_deref())
                        .and_then(|()| company.store().all_contacts())
                        .map(|ws_account_contact| {
                            aiq::Success::ok(Some($types::ArrayOfWSAccountContact {
                                ws_account_contact,
                            }))
                        });
                    $types::GetAllCustomerContactsResponse {
                        get_all_customer_contacts_result: Some(aiq::ws_result!(
                            $types,
                            WSResult2OfArrayOfWSAccountContact,
                            outcome
                        )),
                    }
                }))
            }
            _ => None,
        }
    }};
}
pub(crate) use customer_operations;

/// The operations `customer_operations!` simulates (both versions).
pub const CUSTOMER_OPERATIONS: &[&str] = &[
    "GetCustomer",
    "GetCustomerList",
    "GetActiveCustomerList",
    "GetCustomersBy",
    "UpdateCustomer",
    "UpdateCustomerGetbackCustomerCode",
    "GetNewCustomerFromDefaults",
    "DeleteCustomerByCode",
    "DeleteCustomerById",
    "GetCustomerContacts",
    "GetAllCustomerContacts",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(inner: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{}"><soap:Header><AiqSoapHeader xmlns="{NAMESPACE}"><Entity>E</Entity></AiqSoapHeader></soap:Header><soap:Body>{inner}</soap:Body></soap:Envelope>"#,
            soap::ENVELOPE_NS
        )
    }

    #[test]
    fn envelopes_are_inspected_and_bad_ones_refused() {
        let seen = inspect(&envelope(&format!(
            r#"<GetCustomer xmlns="{NAMESPACE}"><customerCode>C1</customerCode></GetCustomer>"#
        )))
        .unwrap();
        assert_eq!(seen.body_element, "GetCustomer");
        assert_eq!(seen.headers.len(), 1);
        assert_eq!(seen.headers[0].0, "AiqSoapHeader");
        assert!(seen.headers[0].1.contains("<Entity>E</Entity>"));
        assert!(inspect(&envelope(r#"<GetCustomerList/>"#)).is_ok());
        for bad in [
            "",
            "<x/>",
            "<soap:Envelope xmlns:soap=\"urn:other\"><soap:Body><A/></soap:Body></soap:Envelope>",
            &envelope(""),
            &envelope("<A>"),
            "<<<",
        ] {
            assert!(inspect(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_seeded_ledger_is_deterministic_and_saves_validate() {
        let store = Store::seeded(7);
        let a: Vec<v1::Customer> = store.list(false).unwrap();
        let b: Vec<v1::Customer> = Store::seeded(7).list(false).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), SEEDED_CUSTOMERS);
        let active: Vec<v1::Customer> = store.list(true).unwrap();
        assert!(active.len() < a.len());
        assert!(
            a.iter()
                .all(|c| c.email.as_deref().unwrap().ends_with("@example.invalid"))
        );

        let mut store = store;
        let mut customer = a[0].clone();
        customer.code = Some("lower".into());
        let refused = store.save(Some(&customer), true, false).unwrap_err();
        assert_eq!(refused.code, "ACCOUNT_CODE_MUST_BE_UPPER_CASE");
        customer.code = a[1].code.clone();
        let refused = store.save(Some(&customer), true, false).unwrap_err();
        assert_eq!(refused.code, "ACCOUNT_CODE_ALREADY_IN_USE");
        customer.code = None;
        let saved = store.save(Some(&customer), true, true).unwrap();
        assert!(saved.created && saved.code.starts_with('C'), "{saved:?}");
        let mut stale = a[2].clone();
        stale.row_version_number = Some("0".into());
        assert_eq!(
            store.save(Some(&stale), false, false).unwrap_err().code,
            "OUTDATED_RECORD"
        );
        for code in [
            "ACCOUNT_CODE_MUST_BE_UPPER_CASE",
            "ACCOUNT_CODE_ALREADY_IN_USE",
            "OUTDATED_RECORD",
            "CUSTOMER_CODE_DOES_NOT_EXIST",
            "CUSTOMER_ID_DOES_NOT_EXIST",
            "ACCOUNT_CODE_IS_NULL",
            "ACCOUNT_CODE_IS_EMPTY",
            "ACCOUNT_CODE_CANNOT_CONTAIN_LEADING_AND_OR_TRAILING_WHITESPACES",
            "ACCOUNT_NAME_IS_NULL",
            "ACCOUNT_NAME_IS_EMPTY",
            "ACCOUNT_EMAIL_INVALID_FORMAT",
            "ACCOUNT_CREDIT_LIMIT_MUST_BE_POSITIVE",
            "UNKNOWN",
        ] {
            assert!(
                v1::VisorExceptionCodes::KNOWN.contains(&code),
                "{code} is not a VisorExceptionCodes value"
            );
        }
    }
}
