//! Consumer Intelligence V3 (Dun & Bradstreet): our customers uploaded as consumers, and the
//! subscribed-person feed written back to their rows (issue 18), on the public API of
//! `customer-data` only.
//!
//! - [`ConsumerUploader`] (flow `consumer-intelligence-uploader`): reads the store's outbox of
//!   local writes for the target `consumer-intelligence` ([`Store::pending_uploads`]), uploads
//!   the customers with the bulk engine ([`bulk::upload_consumers`]), deletes the deleted ones
//!   ([`bulk::delete_consumers`]) and clears each outbox entry the vendor accepted
//!   ([`Store::upload_done`]). A customer that cannot become a valid consumer is skipped with
//!   its reason (logged, counted in [`UploadReport::skipped`]) and cleared too, so it is not
//!   tried again until it is written again.
//! - [`PersonFeedReader`] (flow `consumer-intelligence-person-feed`): follows
//!   [`stream::subscribed_persons`] from the flow's cursor to its empty page and applies each
//!   person to the rows of its consumers through [`Store::apply`] (one transaction per person:
//!   the row, the log entry and the cursor).
//! - [`FeedTrigger`] and [`Triggered`]: a webhook from the vendor wakes the feed reader at
//!   once instead of at its next poll ([`FeedTrigger::receiver`] is the webhook endpoint).
//!
//! The member mappings (both directions) and their sources are tabled in `sync/README.md`.

use std::collections::HashSet;
use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::NaiveDate;
use customer_data::consumer_intelligence::stream::{self, PageSize, StreamError};
use customer_data::consumer_intelligence::webhook::{Receiver, Verifier, WebhookEvent};
use customer_data::consumer_intelligence::{Client, Error, bulk, types};
use customer_data::runtime::Cursor;
use customer_data::runtime::auth::AuthError;
use futures_util::TryStreamExt;

use crate::flow::{BoxFuture, Flow, FlowError, Progress};
use crate::{
    Applied, ChangeOutcome, ChangeRef, Column, Customer, CustomerTable, Store, StoreError,
};

/// The change log's `source` of person changes, and the outbox target of the uploader.
pub const SOURCE: &str = "consumer-intelligence";
/// The outbox ([`Store::pending_uploads`]) the uploader drains.
pub const UPLOAD_TARGET: &str = "consumer-intelligence";
/// The uploader's flow name.
pub const UPLOADER_FLOW: &str = "consumer-intelligence-uploader";
/// The person feed reader's flow name (its cursor is the feed's page token).
pub const PERSON_FEED_FLOW: &str = "consumer-intelligence-person-feed";
/// Every Consumer Intelligence flow, by name.
pub const FLOWS: &[&str] = &[UPLOADER_FLOW, PERSON_FEED_FLOW];

/// `changed_by` of a row the person feed wrote.
pub const CHANGED_BY: &str = "consumer-intelligence";
/// The extra-data member holding the gedi (the vendor's person id) of the customer's person.
pub const GEDI_MEMBER: &str = "consumer_intelligence_gedi";
/// The log's event type of a person applied from the feed.
pub const PERSON_EVENT: &str = "subscribed-person";
/// The stored cursor meaning "the start of the feed" (a page token is never empty).
pub const START_CURSOR: &str = "";

/// What both flows need: the client and how to use it.
#[derive(Clone)]
pub struct ConsumerIntelligenceSettings {
    /// An authenticated client ([`customer_data::consumer_intelligence::connect`]).
    pub client: Client,
    /// The market of a customer whose `country_code` is not a market (two capital letters).
    pub market: types::Market,
    /// Page size of the subscribed-person feed.
    pub page_size: PageSize,
    /// Outbox entries read per round of the uploader (the bulk engine chunks them by the
    /// vendor's limits: 100 per upload, 250 per delete).
    pub outbox_batch: u32,
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(pub String);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Consumer Intelligence settings: {}", self.0)
    }
}

impl std::error::Error for SettingsError {}

impl ConsumerIntelligenceSettings {
    /// Settings for `client` with `market` as the default market (e.g. `DK`), feed pages of
    /// 500 and outbox rounds of 500.
    pub fn new(client: Client, market: &str) -> Result<Self, SettingsError> {
        let market = market
            .parse()
            .map_err(|e| SettingsError(format!("market `{market}`: {e}")))?;
        Ok(Self {
            client,
            market,
            page_size: PageSize::new(500).map_err(|e| SettingsError(e.to_string()))?,
            outbox_batch: 500,
        })
    }

    /// The same settings with feed pages of `size` (1..=1000).
    pub fn with_page_size(mut self, size: i64) -> Result<Self, SettingsError> {
        self.page_size =
            PageSize::new(size).map_err(|e| SettingsError(format!("page size: {e}")))?;
        Ok(self)
    }
}

impl fmt::Debug for ConsumerIntelligenceSettings {
    // The client holds the token cache: show where it talks to, nothing else of it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use customer_data::consumer_intelligence::ClientInfo;
        f.debug_struct("ConsumerIntelligenceSettings")
            .field("base_url", &self.client.baseurl())
            .field("market", &self.market.as_str())
            .field("page_size", &self.page_size.get())
            .field("outbox_batch", &self.outbox_batch)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

type CallError = Error<types::Problem>;

/// A vendor call's failure as a [`FlowError`]: refused credentials (the token endpoint's
/// refusal, or 401/403 from the API) are fatal, anything else a call error. The text names the
/// operation, the status and the problem's title and violated members: never a secret or a
/// value of a row.
pub fn call_error(operation: &str, error: &CallError) -> FlowError {
    if let Some(AuthError::Rejected { status, .. }) = error.auth() {
        let status = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
        return FlowError::Fatal(format!("{operation}: credentials refused{status}"));
    }
    let text = describe(operation, error);
    match error.status().map(|s| s.as_u16()) {
        Some(401 | 403) => FlowError::Fatal(text),
        _ => FlowError::Call(text),
    }
}

fn describe(operation: &str, error: &CallError) -> String {
    let mut text = operation.to_string();
    match error.status() {
        Some(status) => {
            let _ = write!(text, ": HTTP {}", status.as_u16());
            if let Some(problem) = error.error_body() {
                if let Some(title) = &problem.title {
                    let _ = write!(text, " {title}");
                }
                let fields: Vec<&str> = problem
                    .violations
                    .iter()
                    .filter_map(|v| v.field.as_deref())
                    .collect();
                if !fields.is_empty() {
                    let _ = write!(text, " (violations: {})", fields.join(", "));
                }
            }
        }
        None => {
            let _ = match error {
                Error::Auth(auth) => write!(text, ": {auth}"),
                Error::Transport { source, .. } => write!(text, ": no answer ({source})"),
                // The builder's text may quote what it refused: not repeated here.
                Error::InvalidRequest(_) => write!(text, ": the request could not be built"),
                Error::InvalidResponsePayload(..) => {
                    write!(text, ": an answer that does not decode")
                }
                _ => write!(text, ": no answer"),
            };
        }
    }
    text
}

fn stream_error(operation: &str, error: StreamError) -> FlowError {
    match error.into_call() {
        Some(call) => call_error(operation, &call),
        None => FlowError::Call(format!("{operation}: the feed cannot go on")),
    }
}

// ---------------------------------------------------------------------------------------------
// Consumer ids <-> customer numbers

/// The consumer id of a customer number: the number itself when the vendor's pattern
/// (`^(?!_)[a-zA-Z0-9@\-_]+$`, 1..=250 characters) allows it and it holds no `@`; otherwise
/// every character outside `[A-Za-z0-9-_]` (and a leading `_`, and `@`) becomes `@` + the two
/// hex digits of each of its UTF-8 bytes (`K 17/3` -> `K@2017@2F3`). So the ids of numbers
/// that need no escaping hold no `@`, the others at least one, and
/// [`customer_number_of`] turns every id back into its number. A number that is empty or too
/// long once escaped has no consumer id.
pub fn consumer_id(customer_number: &str) -> Result<types::ConsumerId, String> {
    let plain = |i: usize, c: char| c.is_ascii_alphanumeric() || c == '-' || (c == '_' && i > 0);
    let mut id = String::with_capacity(customer_number.len());
    for (i, c) in customer_number.char_indices() {
        if plain(i, c) {
            id.push(c);
        } else {
            let mut buffer = [0u8; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                let _ = write!(id, "@{byte:02X}");
            }
        }
    }
    id.parse()
        .map_err(|e| format!("the customer number makes no consumer id: {e}"))
}

/// The customer number of a consumer id made by [`consumer_id`]; `None` for an id it cannot
/// have made (a stray `@`, or an escape it would not write).
pub fn customer_number_of(id: &str) -> Option<String> {
    if !id.contains('@') {
        return Some(id.to_string());
    }
    let mut bytes = Vec::with_capacity(id.len());
    let mut rest = id.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'@' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    let number = String::from_utf8(bytes).ok()?;
    // Only the canonical escape maps back (`@41` is not how `A` is written).
    (consumer_id(&number).ok()?.as_str() == id).then_some(number)
}

// ---------------------------------------------------------------------------------------------
// Customer -> consumer

/// The uploaded consumer of `customer`, or why it cannot be one (the reason names members,
/// never their values). `default_market` is used unless the row's `country_code` is a market.
///
/// A consumer needs something to be identified by: a legal id (our CPR number), or a first
/// and family name with a birth date (the vendor's identification inputs). A company (a CVR
/// number and no CPR number) is not a consumer.
pub fn consumer_of(
    customer: &Customer,
    default_market: &types::Market,
) -> Result<types::UploadConsumerDto, String> {
    let consumer_id = consumer_id(&customer.customer_number)?;
    if text(&customer.cvr).is_some() && text(&customer.cpr).is_none() {
        return Err("a company (a CVR number and no CPR number) is not a consumer".to_string());
    }
    let (first_name, family_name) = split_name(text(&customer.name));
    let date_of_birth = text(&customer.birth_date).and_then(parse_date);
    let identifiable = text(&customer.cpr).is_some()
        || (first_name.is_some() && family_name.is_some() && date_of_birth.is_some());
    if !identifiable {
        return Err(
            "nothing to identify the person by: no CPR number, nor a first and family name with a birth date"
                .to_string(),
        );
    }
    let market = text(&customer.country_code)
        .and_then(|code| code.to_ascii_uppercase().parse::<types::Market>().ok())
        .unwrap_or_else(|| default_market.clone());
    let street_number = match (text(&customer.house_number), text(&customer.house_letter)) {
        (Some(number), Some(letter)) => Some(format!("{number}{letter}")),
        (Some(number), None) => Some(number.to_string()),
        (None, _) => None,
    };
    fn member<T: TryFrom<String, Error = E>, E: fmt::Display>(
        name: &str,
        value: Option<&str>,
    ) -> Result<Option<T>, String> {
        value
            .map(|v| T::try_from(v.to_string()).map_err(|e| format!("member {name}: {e}")))
            .transpose()
    }
    let data = types::ConsumerDataDto {
        legal_id: member("legalId", text(&customer.cpr))?,
        first_name: member("firstName", first_name)?,
        family_name: member("familyName", family_name)?,
        date_of_birth,
        street_name: member("streetName", text(&customer.street))?,
        street_number: member("streetNumber", street_number.as_deref())?,
        floor: member("floor", text(&customer.floor))?,
        apartment: member("apartment", text(&customer.suite))?,
        postal_code: member("postalCode", text(&customer.postal_code))?,
        city: member("city", text(&customer.postal_city))?,
        full_address: member("fullAddress", text(&customer.address_composite))?,
        phone_number: member("phoneNumber", text(&customer.phone1))?,
        ..types::ConsumerDataDto::default()
    };
    Ok(types::UploadConsumerDto {
        consumer_id,
        data,
        market,
    })
}

/// The trimmed text of a column, unless empty.
fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `Anna Marie Jensen` -> (`Anna Marie`, `Jensen`); one word is a family name only.
fn split_name(name: Option<&str>) -> (Option<&str>, Option<&str>) {
    let Some(name) = name else {
        return (None, None);
    };
    match name.rsplit_once(char::is_whitespace) {
        Some((first, family)) if !first.trim().is_empty() => (Some(first.trim()), Some(family)),
        _ => (None, Some(name)),
    }
}

/// `YYYY-MM-DD`, also as the start of a date-time (`1980-01-02T00:00:00`).
fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

// ---------------------------------------------------------------------------------------------
// The uploader

/// A customer the uploader did not send, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The customer.
    pub customer_number: String,
    /// Why (members named, values never).
    pub reason: String,
}

/// What one uploader pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Consumers uploaded (created or replaced).
    pub uploaded: u64,
    /// Consumers deleted.
    pub deleted: u64,
    /// Customers that cannot be consumers, or that the vendor refused one by one.
    pub skipped: Vec<Skipped>,
}

impl UploadReport {
    /// Outbox entries handled.
    pub fn items(&self) -> u64 {
        self.uploaded + self.deleted + self.skipped.len() as u64
    }
}

/// The flow `consumer-intelligence-uploader` (see the module docs).
#[derive(Debug, Clone)]
pub struct ConsumerUploader {
    settings: Arc<ConsumerIntelligenceSettings>,
}

/// One outbox entry on its way: its key and what to send.
struct Outgoing<T> {
    customer_number: String,
    version: i64,
    item: T,
}

impl ConsumerUploader {
    /// The uploader with `settings`.
    pub fn new(settings: ConsumerIntelligenceSettings) -> Self {
        Self {
            settings: Arc::new(settings),
        }
    }

    /// One pass: the outbox until it is empty, and what became of it.
    pub async fn upload_pass<S: Store>(
        &self,
        store: &S,
        progress: &dyn Progress,
    ) -> Result<UploadReport, FlowError> {
        let mut report = UploadReport::default();
        // Entries handled in this pass: an entry that comes back unchanged would otherwise
        // loop (every entry read is cleared or fails the pass, so this is a safety net).
        let mut seen: HashSet<(String, i64)> = HashSet::new();
        loop {
            let pending = store
                .pending_uploads(UPLOAD_TARGET, self.settings.outbox_batch.max(1))
                .await?;
            let fresh: Vec<_> = pending
                .into_iter()
                .filter(|p| seen.insert((p.customer_number.clone(), p.version)))
                .collect();
            if fresh.is_empty() {
                return Ok(report);
            }
            let before = report.items();
            let mut uploads = Vec::new();
            let mut deletes = Vec::new();
            let mut skipped = Vec::new();
            for entry in fresh {
                let made = match &entry.customer {
                    Some(customer) => consumer_of(customer, &self.settings.market).map(|dto| {
                        uploads.push(Outgoing {
                            customer_number: entry.customer_number.clone(),
                            version: entry.version,
                            item: dto,
                        })
                    }),
                    None => consumer_id(&entry.customer_number).map(|id| {
                        deletes.push(Outgoing {
                            customer_number: entry.customer_number.clone(),
                            version: entry.version,
                            item: id,
                        })
                    }),
                };
                if let Err(reason) = made {
                    skipped.push((entry.customer_number, entry.version, reason));
                }
            }
            for (customer_number, version, reason) in skipped {
                self.skip(store, &mut report, customer_number, version, reason)
                    .await?;
            }
            let (sent, refused) = self
                .send(uploads, "uploadConsumers", |client, items| async move {
                    bulk::upload_consumers(&client, items, &bulk::upload_options(), |_| {}).await
                })
                .await?;
            report.uploaded += self.settle(store, &mut report, sent, refused).await?;
            let (sent, refused) = self
                .send(deletes, "deleteConsumers", |client, items| async move {
                    bulk::delete_consumers(&client, items, &bulk::delete_options(), |_| {}).await
                })
                .await?;
            report.deleted += self.settle(store, &mut report, sent, refused).await?;
            progress.advanced(UPLOADER_FLOW, report.items() - before);
        }
    }

    async fn skip<S: Store>(
        &self,
        store: &S,
        report: &mut UploadReport,
        customer_number: String,
        version: i64,
        reason: String,
    ) -> Result<(), FlowError> {
        tracing::warn!(flow = UPLOADER_FLOW, customer_number = %customer_number, %reason, "customer skipped");
        // Cleared, so it is not tried again until it is written again.
        store
            .upload_done(UPLOAD_TARGET, &customer_number, version)
            .await?;
        report.skipped.push(Skipped {
            customer_number,
            reason,
        });
        Ok(())
    }

    /// Sends `items` with `run` (a bulk call); a chunk refused as a whole is sent again one
    /// by one, so one bad consumer does not hold back the others of its chunk. Returns the
    /// items sent and those refused alone (with the reason).
    async fn send<T, F, Fut>(
        &self,
        items: Vec<Outgoing<T>>,
        operation: &str,
        run: F,
    ) -> Result<(Vec<Outgoing<T>>, Vec<(Outgoing<T>, String)>), FlowError>
    where
        T: Clone + Send + Sync + 'static,
        F: Fn(Client, Vec<T>) -> Fut,
        Fut: Future<
            Output = Result<
                customer_data::runtime::bulk::BulkReport<CallError>,
                customer_data::runtime::bulk::BulkError<CallError>,
            >,
        >,
    {
        if items.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let client = &self.settings.client;
        let report = run(
            client.clone(),
            items.iter().map(|o| o.item.clone()).collect(),
        )
        .await
        .map_err(|stop| call_error(operation, &stop.error))?;
        // Per item: why its chunk was refused, and whether it was alone in it.
        let mut refused_at: Vec<Option<(String, bool)>> = vec![None; items.len()];
        for chunk in &report.refused {
            if let FlowError::Fatal(text) = call_error(operation, &chunk.error) {
                return Err(FlowError::Fatal(text));
            }
            let alone = chunk.items.len() == 1;
            for i in chunk.items.clone() {
                if let Some(slot) = refused_at.get_mut(i) {
                    *slot = Some((describe(operation, &chunk.error), alone));
                }
            }
        }
        let mut sent = Vec::new();
        let mut alone = Vec::new();
        for (item, refusal) in items.into_iter().zip(refused_at) {
            match refusal {
                None => sent.push(item),
                Some((reason, true)) => alone.push((item, reason)),
                Some((_, false)) => {
                    // Its chunk was refused: try it on its own.
                    let single = run(client.clone(), vec![item.item.clone()])
                        .await
                        .map_err(|stop| call_error(operation, &stop.error))?;
                    match single.refused.first() {
                        None => sent.push(item),
                        Some(chunk) => {
                            if let FlowError::Fatal(text) = call_error(operation, &chunk.error) {
                                return Err(FlowError::Fatal(text));
                            }
                            alone.push((item, describe(operation, &chunk.error)));
                        }
                    }
                }
            }
        }
        Ok((sent, alone))
    }

    /// Clears the outbox entries sent and skips the refused ones; returns how many were sent.
    async fn settle<S: Store, T>(
        &self,
        store: &S,
        report: &mut UploadReport,
        sent: Vec<Outgoing<T>>,
        refused: Vec<(Outgoing<T>, String)>,
    ) -> Result<u64, FlowError> {
        let count = sent.len() as u64;
        for item in sent {
            // `false`: written again since it was read; it stays pending for the next round.
            store
                .upload_done(UPLOAD_TARGET, &item.customer_number, item.version)
                .await?;
        }
        for (item, reason) in refused {
            self.skip(store, report, item.customer_number, item.version, reason)
                .await?;
        }
        Ok(count)
    }
}

impl<S: Store> Flow<S> for ConsumerUploader {
    fn name(&self) -> &str {
        UPLOADER_FLOW
    }

    fn pass<'a>(
        &'a self,
        store: &'a S,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<u64, FlowError>> {
        Box::pin(async move { Ok(self.upload_pass(store, progress).await?.items()) })
    }
}

// ---------------------------------------------------------------------------------------------
// Person -> customer row

/// The address of a person as the feed gives it, in our columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonAddress {
    /// `streetName`.
    pub street: Option<String>,
    /// The digits that start `streetNumber`.
    pub house_number: Option<String>,
    /// The rest of `streetNumber` (`12B` -> `B`).
    pub house_letter: Option<String>,
    /// `floor`.
    pub floor: Option<String>,
    /// `apartment`.
    pub suite: Option<String>,
    /// `postalCode`.
    pub postal_code: Option<String>,
    /// `city`.
    pub postal_city: Option<String>,
    /// `country`.
    pub country_code: Option<String>,
}

impl PersonAddress {
    fn columns(&self) -> [(Column, &Option<String>); 8] {
        [
            (Column::Street, &self.street),
            (Column::HouseNumber, &self.house_number),
            (Column::HouseLetter, &self.house_letter),
            (Column::Floor, &self.floor),
            (Column::Suite, &self.suite),
            (Column::PostalCode, &self.postal_code),
            (Column::PostalCity, &self.postal_city),
            (Column::CountryCode, &self.country_code),
        ]
    }
}

/// Columns that identify the old address in other vendors' terms; a new address clears them.
const STALE_ADDRESS_COLUMNS: [Column; 5] = [
    Column::AddressComposite,
    Column::StreetCode,
    Column::PostalSubCity,
    Column::MunicipalityCode,
    Column::DarAddressId,
];

/// What one feed item says about its person, in our columns (the pure result of
/// [`map_person`]). `None` members are absent from the item and leave the row as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonUpdate {
    /// The log's change id: `gedi@changedTimestamp` (see [`map_person`]).
    pub change_id: String,
    /// The customers of the person: its `consumerIds` made customer numbers.
    pub customer_numbers: Vec<String>,
    /// Consumer ids that [`consumer_id`] cannot have made (not ours).
    pub foreign_consumer_ids: usize,
    /// `gedi`.
    pub gedi: Option<String>,
    /// `shortenedFullName`, else the first names and `familyName`.
    pub name: Option<String>,
    /// `birthDate`, when its precision is a day.
    pub birth_date: Option<String>,
    /// `legalId.identityNumber`.
    pub cpr: Option<String>,
    /// `phoneNumbers[0].number`.
    pub phone1: Option<String>,
    /// `addresses[0]`.
    pub address: Option<PersonAddress>,
    /// `changedTimestamp`, else `metadata.updatedTimestamp`.
    pub changed_at: Option<String>,
}

fn string_at<'v>(value: &'v serde_json::Value, pointer: &str) -> Option<&'v str> {
    value
        .pointer(pointer)
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_string)
}

/// Maps one subscribed-person item to what it says about our rows (the README's table).
/// Pure: reads nothing else.
///
/// The change id is `gedi@changedTimestamp`: the feed holds a person once, at the time it last
/// changed, so the pair is unique per change of a person and the same when a page is read
/// again. Without `changedTimestamp` the `metadata.updatedTimestamp` stands in; without either,
/// a hash of the whole item (equal items are the same change).
pub fn map_person(item: &types::SubscribedPersonDto) -> PersonUpdate {
    let json = serde_json::Value::Object(item.extra.clone());
    let gedi = item
        .gedi
        .clone()
        .or_else(|| owned(string_at(&json, "/gedi")));
    let changed_at = owned(
        string_at(&json, "/changedTimestamp")
            .or_else(|| string_at(&json, "/metadata/updatedTimestamp")),
    );
    let change_id = match &changed_at {
        Some(at) => format!("{}@{at}", gedi.as_deref().unwrap_or("")),
        None => format!(
            "{}#{:016x}",
            gedi.as_deref().unwrap_or(""),
            fnv1a(json.to_string().as_bytes())
        ),
    };
    let mut customer_numbers = Vec::new();
    let mut foreign_consumer_ids = 0;
    if let Some(ids) = json.get("consumerIds").and_then(|v| v.as_array()) {
        for id in ids.iter().filter_map(|v| v.as_str()) {
            match customer_number_of(id) {
                Some(number) if !customer_numbers.contains(&number) => {
                    customer_numbers.push(number)
                }
                Some(_) => {}
                None => foreign_consumer_ids += 1,
            }
        }
    }
    let first_names = string_at(&json, "/preferredFirstName")
        .map(str::to_string)
        .or_else(|| {
            let names: Vec<&str> = json
                .get("firstNames")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
                .unwrap_or_default();
            (!names.is_empty()).then(|| names.join(" "))
        });
    let name = owned(string_at(&json, "/shortenedFullName")).or_else(|| {
        match (first_names, string_at(&json, "/familyName")) {
            (Some(first), Some(family)) => Some(format!("{first} {family}")),
            (Some(first), None) => Some(first),
            (None, Some(family)) => Some(family.to_string()),
            (None, None) => None,
        }
    });
    // A birth date known only to the year or month is not a date of birth.
    let birth_date = match string_at(&json, "/birthDatePrecision") {
        None | Some("DAY") => string_at(&json, "/birthDate")
            .and_then(parse_date)
            .map(|d| d.to_string()),
        Some(_) => None,
    };
    let address = json
        .pointer("/addresses/0")
        .filter(|a| a.is_object())
        .map(|a| {
            let (number, letter) = split_street_number(string_at(a, "/streetNumber"));
            PersonAddress {
                street: owned(string_at(a, "/streetName")),
                house_number: number,
                house_letter: letter,
                floor: owned(string_at(a, "/floor")),
                suite: owned(string_at(a, "/apartment")),
                postal_code: owned(string_at(a, "/postalCode")),
                postal_city: owned(string_at(a, "/city")),
                country_code: owned(string_at(a, "/country")),
            }
        });
    PersonUpdate {
        change_id,
        customer_numbers,
        foreign_consumer_ids,
        gedi,
        name,
        birth_date,
        cpr: owned(string_at(&json, "/legalId/identityNumber")),
        phone1: owned(string_at(&json, "/phoneNumbers/0/number")),
        address,
        changed_at,
    }
}

/// `12B` -> (`12`, `B`); `12` -> (`12`, none); no leading digit: all of it is the number.
fn split_street_number(text: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(text) = text else {
        return (None, None);
    };
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits == 0 {
        return (Some(text.to_string()), None);
    }
    let (number, letter) = text.split_at(digits);
    let letter = letter.trim();
    (
        Some(number.to_string()),
        (!letter.is_empty()).then(|| letter.to_string()),
    )
}

/// FNV-1a, 64 bits: a hash that stays the same across builds (stored in the log).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl PersonUpdate {
    /// Writes the members the item has onto `row`; `true` when a column changed. A new
    /// address replaces the old one as a whole (the address columns the feed has no member
    /// for are cleared: they belong to the old address); the same address changes nothing.
    pub fn apply_to(&self, row: &mut Customer) -> bool {
        let before = row.clone();
        for (column, value) in [
            (Column::Name, &self.name),
            (Column::BirthDate, &self.birth_date),
            (Column::Cpr, &self.cpr),
            (Column::Phone1, &self.phone1),
        ] {
            if value.is_some() {
                row.set(column, value.clone());
            }
        }
        if let Some(address) = &self.address {
            let same = address
                .columns()
                .iter()
                .all(|(column, value)| row.get(*column) == value.as_deref());
            if !same {
                if row.country_code != address.country_code {
                    row.country_name = None;
                }
                for (column, value) in address.columns() {
                    row.set(column, value.clone());
                }
                for column in STALE_ADDRESS_COLUMNS {
                    row.set(column, None);
                }
            }
        }
        if let Some(gedi) = &self.gedi {
            row.extra_data
                .insert(GEDI_MEMBER.to_string(), gedi.to_string());
        }
        *row != before
    }
}

/// Applies one feed item inside the store's transaction: every customer of the person that
/// is in the table gets the person's members ([`PersonUpdate::apply_to`]) and, when a column
/// changed, `changed_at`/`changed_by`/`latest_change_id`. A row that already holds the values
/// is not written (so it is not sent back to the vendor). The outcome names the first
/// customer written.
pub fn apply_person<Tx: CustomerTable + ?Sized>(
    tx: &mut Tx,
    update: &PersonUpdate,
) -> Result<ChangeOutcome, StoreError> {
    if update.customer_numbers.is_empty() {
        return Ok(ChangeOutcome::NotApplied {
            reason: format!(
                "the person has no consumer id of ours ({} other)",
                update.foreign_consumer_ids
            ),
        });
    }
    let mut written = Vec::new();
    let mut found = 0;
    for number in &update.customer_numbers {
        let Some(mut row) = tx.customer(number)? else {
            continue;
        };
        found += 1;
        if update.apply_to(&mut row) {
            row.changed_at = update.changed_at.clone();
            row.changed_by = Some(CHANGED_BY.to_string());
            row.latest_change_id = Some(update.change_id.clone());
            tx.put_customer(&row)?;
            written.push(number.clone());
        }
    }
    Ok(match (written.into_iter().next(), found) {
        (Some(customer_number), _) => ChangeOutcome::Applied { customer_number },
        (None, 0) => ChangeOutcome::NotApplied {
            reason: format!(
                "none of the person's {} consumer id(s) is a customer in the table",
                update.customer_numbers.len()
            ),
        },
        (None, _) => ChangeOutcome::NotApplied {
            reason: "the rows already hold the person's values".to_string(),
        },
    })
}

// ---------------------------------------------------------------------------------------------
// The person feed reader

/// What one person-feed pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedReport {
    /// Persons written to at least one row.
    pub applied: u64,
    /// Persons logged without a write (not our customers, or nothing new).
    pub not_applied: u64,
    /// Persons already in the log (a page read again after a stop mid-page).
    pub already_logged: u64,
}

/// The flow `consumer-intelligence-person-feed` (see the module docs).
///
/// The cursor is the feed's page token, stored as text ([`START_CURSOR`] for the start). Every
/// person but the last of a page is logged with the token the page was asked with (a stop
/// mid-page reads that page again; the log skips what was applied); the last one moves the
/// cursor to the next page's token. The token of the empty page that ends the feed is stored
/// too: when it differs from the stored cursor (e.g. an empty feed read from the start) it is
/// set with [`Store::set_cursor`], with no change-log entry (it is no change).
#[derive(Debug, Clone)]
pub struct PersonFeedReader {
    settings: Arc<ConsumerIntelligenceSettings>,
    trigger: FeedTrigger,
}

impl PersonFeedReader {
    /// The reader with `settings`.
    pub fn new(settings: ConsumerIntelligenceSettings) -> Self {
        Self {
            settings: Arc::new(settings),
            trigger: FeedTrigger::default(),
        }
    }

    /// The trigger of this reader: [`FeedTrigger::notify`] wakes a [`Triggered`] reader.
    pub fn trigger(&self) -> FeedTrigger {
        self.trigger.clone()
    }

    /// This reader as a flow whose passes after the first wait for the trigger, or at most
    /// `poll_every` (run it with a zero `RunOptions::idle_wait`).
    pub fn triggered(self, poll_every: Duration) -> Triggered<PersonFeedReader> {
        let trigger = self.trigger.clone();
        Triggered::new(self, trigger, poll_every)
    }

    /// One pass: the feed from the cursor to its empty page, each person applied once.
    pub async fn feed_pass<S: Store>(
        &self,
        store: &S,
        progress: &dyn Progress,
    ) -> Result<FeedReport, FlowError> {
        const OPERATION: &str = "listSubscribedPersons";
        let mut stored = store.cursor(PERSON_FEED_FLOW).await?;
        let start = match stored.as_deref() {
            None | Some(START_CURSOR) => None,
            Some(text) => Some(text.parse::<Cursor>().map_err(|e| {
                FlowError::Fatal(format!("the stored feed cursor is not a page token: {e}"))
            })?),
        };
        let mut asked_with = stored.clone().unwrap_or_default();
        let mut pages =
            stream::subscribed_persons(&self.settings.client, self.settings.page_size, start);
        let mut report = FeedReport::default();
        while let Some(page) = pages
            .try_next()
            .await
            .map_err(|e| stream_error(OPERATION, e))?
        {
            let (items, next) = page.into_parts();
            let next = next.map(|c| c.to_string());
            let count = items.len();
            let mut last_was_logged = false;
            for (i, item) in items.into_iter().enumerate() {
                let last = i + 1 == count;
                let cursor = match (&next, last) {
                    (Some(next), true) => next.clone(),
                    _ => asked_with.clone(),
                };
                let update = map_person(&item);
                let change = ChangeRef {
                    flow: PERSON_FEED_FLOW.to_string(),
                    source: SOURCE.to_string(),
                    change_id: update.change_id.clone(),
                    event_type: Some(PERSON_EVENT.to_string()),
                    cursor: cursor.clone(),
                };
                match store
                    .apply(change, move |tx| apply_person(tx, &update))
                    .await?
                {
                    Applied::Now(outcome) => {
                        stored = Some(cursor);
                        last_was_logged = false;
                        match outcome {
                            ChangeOutcome::Applied { .. } => report.applied += 1,
                            _ => report.not_applied += 1,
                        }
                        progress.advanced(PERSON_FEED_FLOW, 1);
                    }
                    Applied::AlreadyLogged(_) => {
                        report.already_logged += 1;
                        last_was_logged = last;
                    }
                }
            }
            if let Some(next) = next {
                if (count == 0 || last_was_logged) && stored.as_deref() != Some(next.as_str()) {
                    record_position(store, &next).await?;
                    stored = Some(next.clone());
                }
                asked_with = next;
            }
        }
        Ok(report)
    }
}

/// Moves the feed's cursor to `token`, a position with no change (see [`PersonFeedReader`]).
async fn record_position<S: Store>(store: &S, token: &str) -> Result<(), FlowError> {
    store.set_cursor(PERSON_FEED_FLOW, token).await?;
    Ok(())
}

impl<S: Store> Flow<S> for PersonFeedReader {
    fn name(&self) -> &str {
        PERSON_FEED_FLOW
    }

    fn pass<'a>(
        &'a self,
        store: &'a S,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<u64, FlowError>> {
        Box::pin(async move {
            let report = self.feed_pass(store, progress).await?;
            Ok(report.applied + report.not_applied)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks as a trigger

/// Wakes a [`Triggered`] flow early. Cheap to clone; notifications made while a pass runs
/// are kept (as one), so the pass after it runs at once and nothing that arrived is missed.
#[derive(Debug, Clone, Default)]
pub struct FeedTrigger {
    notify: Arc<tokio::sync::Notify>,
}

impl FeedTrigger {
    /// Wakes the flow (or makes its next wait return at once).
    pub fn notify(&self) {
        self.notify.notify_one();
    }

    /// Waits for [`FeedTrigger::notify`].
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// A webhook endpoint that verifies each delivery with `verifier` (the webhook's secret)
    /// and wakes the flow for every event but `PING` (any event of a subscribed person may
    /// have moved the feed; a pass that finds nothing new costs one empty page). Mount it with
    /// [`Receiver::into_route`].
    pub fn receiver(&self, verifier: Verifier) -> Receiver {
        let trigger = self.clone();
        Receiver::new(verifier, move |event: WebhookEvent| {
            if !matches!(event, WebhookEvent::Ping(_)) {
                trigger.notify();
            }
            async { Ok::<(), std::convert::Infallible>(()) }
        })
    }
}

/// A flow whose passes after the first wait for a [`FeedTrigger`] notification, or at most
/// `poll_every`; run it with [`crate::flow::run`] and a zero `idle_wait`. The wait is inside
/// the pass, so the flow keeps its lease while it waits.
pub struct Triggered<F> {
    inner: F,
    trigger: FeedTrigger,
    poll_every: Duration,
    started: AtomicBool,
}

impl<F> fmt::Debug for Triggered<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Triggered")
            .field("poll_every", &self.poll_every)
            .finish_non_exhaustive()
    }
}

impl<F> Triggered<F> {
    /// `inner`, woken by `trigger` or every `poll_every`.
    pub fn new(inner: F, trigger: FeedTrigger, poll_every: Duration) -> Self {
        Self {
            inner,
            trigger,
            poll_every,
            started: AtomicBool::new(false),
        }
    }
}

impl<S: Store, F: Flow<S>> Flow<S> for Triggered<F> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn pass<'a>(
        &'a self,
        store: &'a S,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<u64, FlowError>> {
        Box::pin(async move {
            if self.started.swap(true, Ordering::SeqCst) {
                tokio::select! {
                    _ = self.trigger.notified() => {}
                    _ = tokio::time::sleep(self.poll_every) => {}
                }
            }
            self.inner.pass(store, progress).await
        })
    }
}
