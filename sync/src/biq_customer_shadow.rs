//! BiQ CustomerShadow flows: keep BiQ's shadow of our customer table complete, as BiQ's demo
//! ShadowWriter does (github.com/BiQ/AlertIntegrationDemo, `ShadowWriter/Program.cs`, b70a67a
//! for the mapping and POST/PUT; ced18a1 for DELETE and the daily reconciliation).
//!
//! - [`ShadowWriter`] (`biq-shadow-writer`): drains the `biq-customer-shadow` outbox
//!   ([`Store::pending_uploads`]): a row is sent with PUT (404: not in the shadow yet, so
//!   POST; a POST answered 409 was created meanwhile, so PUT once more), a deleted customer with
//!   DELETE (404: already gone), then [`Store::upload_done`] at the version read. Resumable and
//!   idempotent by construction: an entry leaves the outbox only after the vendor took that
//!   version, and an edit in between keeps it pending.
//! - [`ShadowReconciler`] (`biq-shadow-reconciler`): at most once per interval (default 24 h),
//!   lists the shadow and compares it with the table: a shadow customer not in the table is
//!   deleted, a customer missing on the shadow is sent.
//!
//! The vendor has no upsert: POST creates (409 in our twin when the number exists; what BiQ
//! answers is unconfirmed) and PUT replaces (404 when unknown). PUT goes first because it is
//! idempotent (the runtime retries it on 5xx, 429 and resets) and most sends are updates; a
//! POST is not retried by the runtime, and a POST whose answer was lost is found by the next
//! pass's PUT.
//!
//! A customer the vendor refuses (400, 413, 422 or another 4xx that is not 401, 403, 404,
//! 408, 409 or 429): the writer logs a warning naming only the customer number, takes the
//! entry out of the outbox (only a new local edit can change the answer; retrying the same row
//! forever would block every customer behind it), goes on with the others, and ends the pass
//! as failed with an error naming the refused customer numbers, so `sync status` shows them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, SystemTime};

use customer_data::biq::Session;
use customer_data::biq_customer_shadow::{Client, stream, types};
use customer_data::runtime::auth::AuthError;
use futures_util::TryStreamExt;

use crate::flow::{BoxFuture, Clock, Flow, FlowError, Progress, SystemClock};
use crate::{ChangeOutcome, ChangeRef, Customer, PendingUpload, Store};

/// The outbox the shadow writer drains (one of [`crate::UPLOAD_TARGETS`]).
pub const UPLOAD_TARGET: &str = "biq-customer-shadow";

/// The flow name of the shadow writer.
pub const WRITER_FLOW: &str = "biq-shadow-writer";

/// The flow name of the daily reconciliation.
pub const RECONCILER_FLOW: &str = "biq-shadow-reconciler";

/// The flows of this module.
pub const FLOWS: &[&str] = &[WRITER_FLOW, RECONCILER_FLOW];

/// The change log's `source` of reconciliation runs (one entry per run, see
/// [`ShadowReconciler`]).
pub const RECONCILER_SOURCE: &str = "biq-shadow-reconciler";

/// How often the reconciliation runs unless told otherwise (the demo's "daily").
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// What every BiQ flow needs: the session (api key, environment, tenant), the shadow source
/// the customers belong to, and a page / batch size.
#[derive(Clone)]
pub struct BiqSettings {
    /// The BiQ session (its `Debug` shows the environment only, never the key).
    pub session: Session,
    /// The shadow source the customers are kept in (see `listShadowSources`).
    pub shadow_source_id: i32,
    /// Customers per outbox batch and per page of the shadow list (0 is read as 1).
    pub page_size: u32,
}

impl fmt::Debug for BiqSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BiqSettings")
            .field("session", &self.session)
            .field("shadow_source_id", &self.shadow_source_id)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl BiqSettings {
    /// Settings with a page size of 100.
    pub fn new(session: Session, shadow_source_id: i32) -> Self {
        Self {
            session,
            shadow_source_id,
            page_size: 100,
        }
    }

    pub(crate) fn page_size(&self) -> u32 {
        self.page_size.max(1)
    }

    /// The tenant of the session (logging in if needed).
    pub(crate) async fn tenant(&self) -> Result<String, FlowError> {
        self.session
            .tenant_id()
            .await
            .map_err(|e| auth_error("login", e))
    }
}

/// A credentials problem is fatal (retrying with the same key cannot help); anything else is a
/// call that may work later.
pub(crate) fn auth_error(operation: &str, error: AuthError) -> FlowError {
    match error {
        AuthError::Rejected { .. } => FlowError::Fatal(format!("{operation}: {error}")),
        other => FlowError::Call(format!("{operation}: {other}")),
    }
}

/// A failed vendor call as a [`FlowError`]: the operation and the status or cause. Never a
/// body (an error answer may echo the row), never a secret (the client's errors hold none).
pub(crate) fn call_error(operation: &str, error: customer_data::runtime::Error<()>) -> FlowError {
    use customer_data::runtime::Error;
    if let Error::Auth(e) = error {
        return auth_error(operation, e);
    }
    match error.status().map(|s| s.as_u16()) {
        // The session renews its token and replays once on 401: a 401 here is a refused key.
        Some(401) => FlowError::Fatal(format!(
            "{operation}: HTTP 401, credentials refused after a fresh login"
        )),
        Some(403) => FlowError::Fatal(format!(
            "{operation}: HTTP 403, the key's token does not name this tenant"
        )),
        Some(status) => FlowError::Call(format!("{operation}: HTTP {status}")),
        None => match error {
            Error::InvalidResponsePayload(..) => {
                FlowError::Call(format!("{operation}: the answer does not decode"))
            }
            other => FlowError::Call(format!("{operation}: {other}")),
        },
    }
}

/// A failed page of a feed or list as a [`FlowError`].
pub(crate) fn stream_error(
    operation: &str,
    error: customer_data::runtime::paginate::StreamError<customer_data::runtime::Error<()>>,
) -> FlowError {
    use customer_data::runtime::paginate::StreamError;
    match error {
        StreamError::Call(e) => call_error(operation, e),
        StreamError::MissingCursor(detail) => FlowError::Call(format!(
            "{operation}: the answer has no usable cursor: {detail}"
        )),
        other => FlowError::Call(format!("{operation}: {other}")),
    }
}

fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339()
}

/// The demo's `MapToCustomerCategory`: our category text onto the shadow's.
fn shadow_category(local: &str) -> types::CustomerCategoryText {
    match local {
        "privat" => types::CustomerCategoryText::Residential,
        "erhverv" => types::CustomerCategoryText::Enterprise,
        other => other
            .parse()
            .unwrap_or_else(|_| types::CustomerCategoryText::UnknownValue(other.to_string())),
    }
}

fn filled(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.is_empty())
}

/// One row of our table as the shadow's `Customer`, member for member as the demo's
/// `MapToShadow` does (the table is in `sync/README.md`).
pub fn to_shadow(customer: &Customer) -> types::Customer {
    let c = customer;
    let address = types::Address {
        composite_orig: c.address_composite.clone(),
        country_code: c.country_code.clone(),
        country_name: c.country_name.clone(),
        // Demo: `Guid.TryParse` into a Guid that stays all-zero when there is none.
        dar_address_id: Some(
            c.dar_address_id
                .as_deref()
                .and_then(|id| uuid::Uuid::parse_str(id).ok())
                .unwrap_or(uuid::Uuid::nil()),
        ),
        floor: c.floor.clone(),
        house_letter: c.house_letter.clone(),
        house_number: c.house_number.clone(),
        municipality_code: c.municipality_code.clone(),
        postal_city: c.postal_city.clone(),
        postal_code: c.postal_code.clone(),
        postal_sub_city: c.postal_sub_city.clone(),
        street: c.street.clone(),
        street_code: c.street_code.clone(),
        suite: c.suite.clone(),
        extra: Default::default(),
    };
    let contact1 = types::Contact {
        address: Some(address),
        attention: c.attention.clone(),
        care_of: c.care_of.clone(),
        cpr: c.cpr.clone(),
        cvr: c.cvr.clone(),
        date_of_birth: c.birth_date.clone(),
        email: c.email.clone(),
        name: c.name.clone(),
        p_nr: c.p_number.clone(),
        phone1: c.phone1.clone(),
        phone2: c.phone2.clone(),
        po_box: c.po_box.clone(),
        title: None,
        type_text: None,
        extra: Default::default(),
    };
    // Demo: no secondary contact when all five of its members are empty.
    let secondary = [
        &c.secondary_name,
        &c.secondary_phone1,
        &c.secondary_phone2,
        &c.secondary_email,
        &c.secondary_cpr,
    ];
    let contact2 = secondary.iter().any(|v| filled(v)).then(|| types::Contact {
        address: None,
        attention: None,
        care_of: None,
        cpr: c.secondary_cpr.clone(),
        cvr: None,
        date_of_birth: None,
        email: c.secondary_email.clone(),
        name: c.secondary_name.clone(),
        p_nr: None,
        phone1: c.secondary_phone1.clone(),
        phone2: c.secondary_phone2.clone(),
        po_box: None,
        title: None,
        type_text: None,
        extra: Default::default(),
    });
    // Demo: the non-empty extra-data members (it has two configured ones), none when empty.
    let extra_data: std::collections::HashMap<String, String> = c
        .extra_data
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    types::Customer {
        active: c.active.clone(),
        associated_approved_change: c.latest_change_id.clone(),
        changed: c.changed_at.clone(),
        changed_by: c.changed_by.clone(),
        contact1: Some(contact1),
        contact2,
        created: c.created_at.clone(),
        created_by: c.created_by.clone(),
        customer_category_text: c.category.as_deref().map(shadow_category),
        customer_number: Some(c.customer_number.clone()),
        extra_data: (!extra_data.is_empty()).then(|| extra_data.into()),
        master_system_deep_link: None,
        extra: Default::default(),
    }
}

/// What the vendor did with one customer.
enum Sent {
    /// Taken (created, replaced or deleted; or already gone).
    Done,
    /// Refused for this row (the HTTP status): recorded, not retried until edited.
    Refused(u16),
}

/// A 4xx that refuses this row, not the call or the settings.
fn refuses_the_row(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 403 | 404 | 408 | 409 | 429)
}

/// The CustomerShadow calls of one pass.
struct Shadow<'a> {
    client: Client,
    tenant: String,
    settings: &'a BiqSettings,
}

impl<'a> Shadow<'a> {
    async fn connect(settings: &'a BiqSettings) -> Result<Self, FlowError> {
        let client = settings
            .session
            .customer_shadow()
            .map_err(|e| FlowError::Fatal(format!("CustomerShadow client: {e}")))?;
        let tenant = settings.tenant().await?;
        Ok(Self {
            client,
            tenant,
            settings,
        })
    }

    async fn put(&self, number: &str, body: &types::Customer) -> Result<Option<u16>, FlowError> {
        let answer = self
            .client
            .update_customer()
            .tenant_id(self.tenant.as_str())
            .shadow_source_id(self.settings.shadow_source_id)
            .customer_number(number)
            .body(body.clone())
            .send()
            .await;
        status_of("updateCustomer", answer.map(|_| ()))
    }

    async fn post(&self, body: &types::Customer) -> Result<Option<u16>, FlowError> {
        let answer = self
            .client
            .create_customer()
            .tenant_id(self.tenant.as_str())
            .shadow_source_id(self.settings.shadow_source_id)
            .body(body.clone())
            .send()
            .await;
        status_of("createCustomer", answer.map(|_| ()))
    }

    /// Creates or replaces the customer on the shadow: PUT, and POST if the shadow does not
    /// have it (404); with `post_first` (the reconciler knows it is missing) POST, and PUT if
    /// it arrived meanwhile (409). A POST answered 409 after a PUT answered 404 means it was
    /// created in between: PUT once more.
    async fn send(&self, customer: &Customer, post_first: bool) -> Result<Sent, FlowError> {
        let number = customer.customer_number.as_str();
        let body = to_shadow(customer);
        if post_first {
            match self.post(&body).await? {
                None => return Ok(Sent::Done),
                Some(409) => return self.replace(number, &body).await,
                Some(status) => return self.refused_or_fatal("createCustomer", status),
            }
        }
        match self.put(number, &body).await? {
            None => return Ok(Sent::Done),
            Some(404) => {}
            Some(status) => return self.refused_or_fatal("updateCustomer", status),
        }
        match self.post(&body).await? {
            None => Ok(Sent::Done),
            Some(409) => self.replace(number, &body).await,
            Some(status) => self.refused_or_fatal("createCustomer", status),
        }
    }

    /// PUT after a POST answered 409 (the shadow has it).
    async fn replace(&self, number: &str, body: &types::Customer) -> Result<Sent, FlowError> {
        match self.put(number, body).await? {
            None => Ok(Sent::Done),
            // Deleted again in between (by someone else): the next pass sends it.
            Some(404) => Err(FlowError::Call(format!(
                "customer {number}: the shadow answered 409 to POST, then 404 to PUT"
            ))),
            Some(status) => self.refused_or_fatal("updateCustomer", status),
        }
    }

    fn refused_or_fatal(&self, operation: &str, status: u16) -> Result<Sent, FlowError> {
        if refuses_the_row(status) {
            return Ok(Sent::Refused(status));
        }
        if status == 404 {
            // Only a POST gets here with 404 (PUT and DELETE handle theirs): the tenant or
            // the shadow source is unknown, a setting.
            return Err(FlowError::Fatal(format!(
                "{operation}: HTTP 404, shadow source {} not found for the tenant",
                self.settings.shadow_source_id
            )));
        }
        Err(FlowError::Call(format!("{operation}: HTTP {status}")))
    }

    async fn delete(&self, number: &str) -> Result<Sent, FlowError> {
        let answer = self
            .client
            .delete_customer()
            .tenant_id(self.tenant.as_str())
            .shadow_source_id(self.settings.shadow_source_id)
            .customer_number(number)
            .send()
            .await;
        match status_of("deleteCustomer", answer.map(|_| ()))? {
            // 404: already gone, which is what was asked.
            None | Some(404) => Ok(Sent::Done),
            Some(status) => self.refused_or_fatal("deleteCustomer", status),
        }
    }
}

/// `Ok(None)` for a 2xx, `Ok(Some(status))` for a 4xx the caller decides on, `Err` for the
/// rest (credentials, 5xx and 429 after the runtime's retries, no answer).
fn status_of(
    operation: &str,
    answer: Result<(), customer_data::runtime::Error<()>>,
) -> Result<Option<u16>, FlowError> {
    let error = match answer {
        Ok(()) => return Ok(None),
        Err(error) => error,
    };
    match error.status().map(|s| s.as_u16()) {
        Some(status) if (400..500).contains(&status) && !matches!(status, 401 | 403 | 429) => {
            Ok(Some(status))
        }
        _ => Err(call_error(operation, error)),
    }
}

/// The shadow writer: local inserts, updates and deletes onto the shadow (module docs).
#[derive(Debug, Clone)]
pub struct ShadowWriter {
    settings: BiqSettings,
}

impl ShadowWriter {
    /// The writer with these settings.
    pub fn new(settings: BiqSettings) -> Self {
        Self { settings }
    }

    async fn run_pass<S: Store>(
        &self,
        store: &S,
        progress: &dyn Progress,
    ) -> Result<u64, FlowError> {
        // Connected (logged in) only when there is something to send: an idle pass calls
        // nobody, so it does not fail while the vendor is away.
        let mut shadow = None;
        let mut sent = 0u64;
        let mut refused: BTreeMap<String, u16> = BTreeMap::new();
        // Entries whose upload_done lost to a newer edit are pending again at a higher
        // version; they are sent again in the same pass (the outbox orders by version).
        loop {
            let batch = store
                .pending_uploads(UPLOAD_TARGET, self.settings.page_size())
                .await?;
            if batch.is_empty() {
                break;
            }
            let shadow = match &mut shadow {
                Some(shadow) => shadow,
                None => shadow.insert(Shadow::connect(&self.settings).await?),
            };
            for PendingUpload {
                customer_number,
                version,
                customer,
            } in batch
            {
                let outcome = match &customer {
                    Some(row) => shadow.send(row, false).await?,
                    None => shadow.delete(&customer_number).await?,
                };
                if let Sent::Refused(status) = outcome {
                    tracing::warn!(
                        flow = WRITER_FLOW,
                        customer_number = customer_number.as_str(),
                        status,
                        "the shadow refused the customer; it stays unsent until edited"
                    );
                    refused.insert(customer_number.clone(), status);
                }
                store
                    .upload_done(UPLOAD_TARGET, &customer_number, version)
                    .await?;
                sent += 1;
                progress.advanced(WRITER_FLOW, 1);
            }
        }
        if refused.is_empty() {
            return Ok(sent);
        }
        Err(FlowError::Call(refused_text(&refused)))
    }
}

fn refused_text(refused: &BTreeMap<String, u16>) -> String {
    const SHOWN: usize = 20;
    let mut text = format!("the shadow refused {} customer(s): ", refused.len());
    let listed: Vec<String> = refused
        .iter()
        .take(SHOWN)
        .map(|(number, status)| format!("{number} (HTTP {status})"))
        .collect();
    text.push_str(&listed.join(", "));
    if refused.len() > SHOWN {
        text.push_str(&format!(", and {} more", refused.len() - SHOWN));
    }
    text
}

impl<S: Store> Flow<S> for ShadowWriter {
    fn name(&self) -> &str {
        WRITER_FLOW
    }

    fn pass<'a>(
        &'a self,
        store: &'a S,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<u64, FlowError>> {
        Box::pin(self.run_pass(store, progress))
    }
}

/// The daily reconciliation (module docs). Its cursor is the time of its last complete run
/// (RFC 3339), written through [`Store::apply`] with the change id `reconcile-<time>` (source
/// [`RECONCILER_SOURCE`], outcome `not_applied` with the counts as detail): one log entry per
/// run. A pass before `interval` has gone by since then does nothing and returns 0.
pub struct ShadowReconciler {
    settings: BiqSettings,
    interval: Duration,
    clock: Box<dyn Clock>,
}

impl fmt::Debug for ShadowReconciler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowReconciler")
            .field("settings", &self.settings)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl ShadowReconciler {
    /// The reconciliation, due every [`DEFAULT_RECONCILE_INTERVAL`] by the system clock.
    pub fn new(settings: BiqSettings) -> Self {
        Self {
            settings,
            interval: DEFAULT_RECONCILE_INTERVAL,
            clock: Box::new(SystemClock),
        }
    }

    /// Runs at most once per `interval`.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Reads the time from `clock` (tests move it).
    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn due<S: Store>(&self, store: &S, now: SystemTime) -> Result<bool, FlowError> {
        let Some(last) = store.cursor(RECONCILER_FLOW).await? else {
            return Ok(true);
        };
        let last = chrono::DateTime::parse_from_rfc3339(&last).map_err(|e| {
            FlowError::Store(crate::StoreError::Corrupt(format!(
                "cursor of {RECONCILER_FLOW} is not RFC 3339: {e}"
            )))
        })?;
        let last = SystemTime::from(last.with_timezone(&chrono::Utc));
        // A clock set back (last run "in the future") waits for it rather than running again.
        Ok(now
            .duration_since(last)
            .is_ok_and(|gone| gone >= self.interval))
    }

    async fn run_pass<S: Store>(
        &self,
        store: &S,
        progress: &dyn Progress,
    ) -> Result<u64, FlowError> {
        let started = self.clock.now();
        if !self.due(store, started).await? {
            return Ok(0);
        }
        let shadow = Shadow::connect(&self.settings).await?;
        // The shadow first, then the table: a customer created and sent in between is in the
        // table (sent again: harmless), never deleted as "not ours".
        let mut on_shadow = BTreeSet::new();
        let mut pages =
            stream::customers(&shadow.client, &shadow.tenant, self.settings.page_size()).items();
        while let Some(info) = pages
            .try_next()
            .await
            .map_err(|e| stream_error("listCustomers", e))?
        {
            // The list spans every shadow source of the tenant; ours only.
            if info.shadow_source_id == Some(self.settings.shadow_source_id)
                && let Some(number) = info.customer_number
            {
                on_shadow.insert(number);
            }
        }
        let local = store.customers().await?;
        let local_numbers: BTreeSet<&str> =
            local.iter().map(|c| c.customer_number.as_str()).collect();
        let (mut deleted, mut added) = (0u64, 0u64);
        let mut refused = BTreeMap::new();
        for number in on_shadow
            .iter()
            .filter(|n| !local_numbers.contains(n.as_str()))
        {
            // Created locally since the table was read: keep it (the writer sends it).
            if store.customer(number).await?.is_some() {
                continue;
            }
            if let Sent::Refused(status) = shadow.delete(number).await? {
                refused.insert(number.clone(), status);
            }
            deleted += 1;
            progress.advanced(RECONCILER_FLOW, 1);
        }
        for customer in local
            .iter()
            .filter(|c| !on_shadow.contains(&c.customer_number))
        {
            // Missing on the shadow: create it (POST first; 409: it arrived meanwhile, PUT).
            if let Sent::Refused(status) = shadow.send(customer, true).await? {
                refused.insert(customer.customer_number.clone(), status);
            }
            added += 1;
            progress.advanced(RECONCILER_FLOW, 1);
        }
        // The run counts even with refused customers (the pass then fails, naming them):
        // running again at once would list the whole shadow every backoff until someone
        // edits the rows, and be refused the same way.
        let at = rfc3339(started);
        let detail = format!(
            "reconciliation: {deleted} deleted, {added} sent, {} refused",
            refused.len()
        );
        tracing::info!(
            flow = RECONCILER_FLOW,
            deleted,
            added,
            "reconciled the shadow"
        );
        store
            .apply(
                ChangeRef {
                    flow: RECONCILER_FLOW.to_string(),
                    source: RECONCILER_SOURCE.to_string(),
                    change_id: format!("reconcile-{at}"),
                    event_type: Some("reconciliation".to_string()),
                    cursor: at,
                },
                move |_tx| Ok(ChangeOutcome::NotApplied { reason: detail }),
            )
            .await?;
        if !refused.is_empty() {
            return Err(FlowError::Call(refused_text(&refused)));
        }
        Ok(deleted + added)
    }
}

impl<S: Store> Flow<S> for ShadowReconciler {
    fn name(&self) -> &str {
        RECONCILER_FLOW
    }

    fn pass<'a>(
        &'a self,
        store: &'a S,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<u64, FlowError>> {
        Box::pin(self.run_pass(store, progress))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_4xx_about_the_row_refuses_it() {
        for status in [400, 410, 413, 415, 422] {
            assert!(refuses_the_row(status), "{status}");
        }
        for status in [200, 401, 403, 404, 408, 409, 429, 500, 503] {
            assert!(!refuses_the_row(status), "{status}");
        }
    }

    #[test]
    fn categories_map_back_as_the_demo_does() {
        assert_eq!(
            shadow_category("privat"),
            types::CustomerCategoryText::Residential
        );
        assert_eq!(
            shadow_category("erhverv"),
            types::CustomerCategoryText::Enterprise
        );
        assert_eq!(
            shadow_category("Residential"),
            types::CustomerCategoryText::Residential
        );
        assert_eq!(
            shadow_category("Forening"),
            types::CustomerCategoryText::UnknownValue("Forening".into())
        );
    }

    #[test]
    fn refused_text_names_numbers_only_and_caps_the_list() {
        let refused: BTreeMap<String, u16> = (0..25).map(|i| (format!("K-{i:02}"), 400)).collect();
        let text = refused_text(&refused);
        assert!(text.starts_with("the shadow refused 25 customer(s): K-00 (HTTP 400)"));
        assert!(text.ends_with(", and 5 more"), "{text}");
    }
}
