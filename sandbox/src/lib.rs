//! The local sandbox: stateful twins of every customer-data service on one loopback port, each
//! under `/<slug>`, with vendor-shaped auth and errors and deterministic fault injection.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use customer_data_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::start(SandboxConfig::default()).await?;
//! let base = sandbox.url("carmachain"); // e.g. http://127.0.0.1:41234/carmachain
//! # let _ = base;
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod faults;
pub(crate) mod outbound;
pub mod record;
pub mod requests;
pub mod sandbox_only;
pub mod synthetic;
pub mod twins;
pub mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use faults::Faults;

/// Locks `mutex`, also after a panic elsewhere poisoned it: the twins' state stays usable
/// (every update is a whole-value write), and a twin must never stop answering.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every twin, by the slug of the service it imitates (the path prefix of its routes).
pub const SLUGS: &[&str] = &[
    "accountsiq_v1_1",
    "accountsiq_v2_0",
    "biq_auth",
    "biq_customer_shadow",
    "biq_alert_changes",
    "blink_customer_management",
    "carmachain",
    "consumer_intelligence",
];

/// The credentials the twins accept (synthetic; the same in every run).
pub mod credentials {
    /// Consumer Intelligence OAuth2 client (client credentials, scope `bci`).
    pub const CONSUMER_INTELLIGENCE_CLIENT_ID: &str = "sandbox-client";
    pub const CONSUMER_INTELLIGENCE_CLIENT_SECRET: &str = "sandbox-secret";
    /// BiQ api key, and the tenant its JWT names.
    pub const BIQ_API_KEY: &str = "sandbox-api-key";
    pub const BIQ_TENANT_ID: &str = "sandbox-tenant";
    /// AccountsIQ v1.1 Login.
    pub const ACCOUNTSIQ_COMPANY_ID: &str = "SANDBOX";
    pub const ACCOUNTSIQ_PARTNER_KEY: &str = "sandbox-partner-key";
    pub const ACCOUNTSIQ_USER_KEY: &str = "sandbox-user-key";
    /// AccountsIQ v2.0 TokenGet.
    pub const ACCOUNTSIQ_CLIENT_ID: &str = "sandbox-aiq-client";
    pub const ACCOUNTSIQ_CLIENT_SECRET: &str = "sandbox-aiq-secret";
    /// bLink: the authorization code the consent redirect would deliver, and the client id.
    pub const BLINK_CLIENT_ID: &str = "sandbox-blink-client";
    pub const BLINK_AUTHORIZATION_CODE: &str = "sandbox-consent-code";
    /// bLink provider (bank) id for `X-CorAPI-Target-ID`.
    pub const BLINK_TARGET_ID: &str = "sandbox-bank";
}

/// Token lifetimes, per vendor. Tests shorten them to expire tokens in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifetimes {
    /// Consumer Intelligence access token (`expires_in` 3600, documented).
    pub consumer_intelligence: Duration,
    /// BiQ JWT (`exp`; the lifetime is not documented: one hour here).
    pub biq: Duration,
    /// CarmaChain token (24 hours, documented).
    pub carmachain: Duration,
    /// AccountsIQ v1.1 session (20 minutes, documented).
    pub accountsiq_session: Duration,
    /// AccountsIQ v2.0 access token (not documented: one hour here).
    pub accountsiq_access: Duration,
    /// bLink access token (`expires_in`; one hour here).
    pub blink_access: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            consumer_intelligence: Duration::from_secs(3600),
            biq: Duration::from_secs(3600),
            carmachain: Duration::from_secs(24 * 3600),
            accountsiq_session: Duration::from_secs(20 * 60),
            accountsiq_access: Duration::from_secs(3600),
            blink_access: Duration::from_secs(3600),
        }
    }
}

/// How the sandbox runs.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen; port 0 (the default) picks a free port.
    pub bind: SocketAddr,
    /// Seed of the synthetic data (population, scripted changes).
    pub seed: u64,
    /// Fault injection per twin slug (absent: none).
    pub faults: BTreeMap<String, Faults>,
    pub lifetimes: Lifetimes,
    /// How long a CarmaChain request stays `Panding` before it is `Done`.
    pub carmachain_answer_delay: Duration,
    /// How long Consumer Intelligence takes from UPLOADED to IDENTIFIED / NOT_IDENTIFIED.
    pub consumer_intelligence_identify_delay: Duration,
    /// Consumer Intelligence requests allowed per second per client (None: unlimited); beyond
    /// it the twin answers 429 with `Retry-After`.
    pub consumer_intelligence_rate_limit: Option<u32>,
    /// When on, each twin whose answers carry an enum puts a value its spec does not list into
    /// one enum field of them, as a vendor adding a value would (the field and the value are in
    /// each twin's module docs, the value as an `UNLISTED_*` constant). Off by default.
    pub send_unlisted_enum_values: bool,
    /// Big feeds without storing them: every Consumer Intelligence client's subscribed-person
    /// feed starts with this many synthetic persons, each generated from its position when a
    /// page asks for it (O(page size) per request: a million cost no memory), before the
    /// client's own subscriptions. `None` (the default): off. See
    /// [`twins::consumer_intelligence`].
    pub consumer_intelligence_synthetic_persons: Option<u64>,
    /// Big feeds without storing them: every BiQ shadow source that has shadow customers
    /// carries this many synthetic approved changes, generated from their position when a
    /// `next-approved-changes` batch asks for them, committed before any scripted change.
    /// `None` (the default): off. See [`twins::biq_alert_changes`].
    pub biq_synthetic_changes: Option<u64>,
    /// Outgoing calls (Consumer Intelligence webhook deliveries, BiQ approved-changes
    /// callbacks): the wait before the first retry of a call that was not answered 200 (or
    /// failed, or took more than 5 s); it doubles for each further retry, up to 2 s. Default
    /// 100 ms.
    pub webhook_retry_delay: Duration,
    /// Outgoing calls: attempts per call, the first included (0 counts as 1); after the last
    /// failed attempt the call is dropped and counted as failed. Default 10.
    pub webhook_max_attempts: u32,
    /// Record every exchange as one JSON line into a new file in this directory (see
    /// [`record`]). Default: the directory named by `CUSTOMER_DATA_SANDBOX_RECORD`, else
    /// none (nothing recorded, no recording layer installed).
    pub record: Option<PathBuf>,
    /// The key the sandbox-only routes (`/sandbox/...`) require in the `x-sandbox-key` header
    /// (see [`sandbox_only`]). `None` (the default): a random key per [`Sandbox`], read with
    /// [`Sandbox::sandbox_key`].
    pub sandbox_key: Option<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 42,
            faults: BTreeMap::new(),
            lifetimes: Lifetimes::default(),
            carmachain_answer_delay: Duration::from_millis(300),
            consumer_intelligence_identify_delay: Duration::from_millis(200),
            consumer_intelligence_rate_limit: None,
            send_unlisted_enum_values: false,
            consumer_intelligence_synthetic_persons: None,
            biq_synthetic_changes: None,
            webhook_retry_delay: Duration::from_millis(100),
            webhook_max_attempts: 10,
            record: record::dir_from_env(),
            sandbox_key: None,
        }
    }
}

impl SandboxConfig {
    /// The same config with `faults` injected into twin `slug`.
    pub fn with_faults(mut self, slug: &str, faults: Faults) -> Self {
        self.faults.insert(slug.to_string(), faults);
        self
    }
}

/// A running sandbox. Dropping it without [`Sandbox::shutdown`] stops it too.
pub struct Sandbox {
    addr: SocketAddr,
    recorder: Option<Arc<record::Recorder>>,
    requests: Arc<requests::RequestCounts>,
    sandbox_key: Arc<str>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Starts every twin on `config.bind`.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let sandbox_key: Arc<str> = config
            .sandbox_key
            .clone()
            .unwrap_or_else(sandbox_only::new_key)
            .into();
        let config = Arc::new(config);
        let requests = Arc::new(requests::RequestCounts::default());
        let recorder = match &config.record {
            Some(dir) => Some(Arc::new(record::Recorder::create(dir)?)),
            None => None,
        };
        let app = twins::router(&config, &requests, recorder.as_ref(), &sandbox_key);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                eprintln!("sandbox stopped: {e}");
            }
        });
        Ok(Sandbox {
            addr,
            recorder,
            requests,
            sandbox_key,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The address the sandbox listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The file this sandbox records its exchanges into, when recording ([`record`]).
    pub fn recording(&self) -> Option<&Path> {
        self.recorder.as_deref().map(record::Recorder::path)
    }

    /// How many requests the twin of `slug` received on `route` (a path below the twin's
    /// prefix, e.g. `/oauth/token`, or a SOAP operation, e.g. `Login`).
    pub fn requests(&self, slug: &str, route: &str) -> u64 {
        self.requests.get(slug, route)
    }

    /// The key this sandbox's own routes (`/sandbox/...`) require in the
    /// [`sandbox_only::KEY_HEADER`] header.
    pub fn sandbox_key(&self) -> &str {
        &self.sandbox_key
    }

    /// The base URL of the twin of `slug`, e.g. `http://127.0.0.1:41234/carmachain`.
    pub fn url(&self, slug: &str) -> String {
        format!("http://{}/{slug}", self.addr)
    }

    /// A Consumer Intelligence access token from the twin, fetched with the sandbox
    /// credentials (client credentials, scope `bci`), for tests and benchmarks that call the
    /// twin without the runtime (its sandbox-only routes, raw baselines).
    pub async fn consumer_intelligence_token(&self) -> Result<String, String> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", "bci")
            .finish();
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/oauth/token", self.url("consumer_intelligence")))
            .basic_auth(
                credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
                Some(credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("token request failed: {e}"))?
            .json()
            .await
            .map_err(|e| format!("token answer is not JSON: {e}"))?;
        answer["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "the token answer has no access_token".to_string())
    }

    /// Stops the sandbox and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
