//! From flow names to flows: the vendors' connections ([`Connections`], from the environment
//! as the quickstart reads it, or from the in-process sandbox) and THE one function that wires
//! names to constructors ([`build_flows`]).

use customer_data::biq::{Environment as BiqEnvironment, Session};
use customer_data::consumer_intelligence::{
    self as ci, Client as CiClient, Credentials as CiCredentials, Environment as CiEnvironment,
};
use customer_data_sandbox::{Sandbox, credentials};
use customer_data_sync::Store;
use customer_data_sync::biq_alert_changes::{self, ChangeReader, NotificationReader};
use customer_data_sync::biq_customer_shadow::{self, BiqSettings, ShadowReconciler, ShadowWriter};
use customer_data_sync::consumer_intelligence::{
    self, ConsumerIntelligenceSettings, ConsumerUploader, PersonFeedReader,
};
use customer_data_sync::flow::Flow;

use crate::error::CliError;

/// BiQ shadow writer: local changes -> CustomerShadow.
pub const BIQ_SHADOW_WRITER: &str = biq_customer_shadow::WRITER_FLOW;
/// BiQ shadow reconciler: adds what the shadow misses, deletes what is gone.
pub const BIQ_SHADOW_RECONCILER: &str = biq_customer_shadow::RECONCILER_FLOW;
/// BiQ change reader: approved changes -> the local table.
pub const BIQ_CHANGE_READER: &str = customer_data_sync::biq::CHANGE_READER_FLOW;
/// BiQ notification reader: notifications recorded.
pub const BIQ_NOTIFICATION_READER: &str = biq_alert_changes::NOTIFICATION_READER_FLOW;
/// Consumer Intelligence uploader: local customers -> consumers, in bulk.
pub const CI_UPLOADER: &str = consumer_intelligence::UPLOADER_FLOW;
/// Consumer Intelligence person feed: person changes -> the local table.
pub const CI_PERSON_FEED: &str = consumer_intelligence::PERSON_FEED_FLOW;

/// The BiQ flows (they need [`Connections::biq`]).
pub const BIQ_FLOWS: &[&str] = &[
    BIQ_SHADOW_WRITER,
    BIQ_SHADOW_RECONCILER,
    BIQ_CHANGE_READER,
    BIQ_NOTIFICATION_READER,
];
/// The flows that send local state to the vendors: with `--once` they run before the others.
pub const SENDER_FLOWS: &[&str] = &[BIQ_SHADOW_WRITER, BIQ_SHADOW_RECONCILER, CI_UPLOADER];
/// The Consumer Intelligence flows (they need [`Connections::consumer_intelligence`]).
pub const CI_FLOWS: &[&str] = &[CI_UPLOADER, CI_PERSON_FEED];
/// Every flow name `sync run --flow` accepts.
pub const KNOWN_FLOWS: &[&str] = &[
    BIQ_SHADOW_WRITER,
    BIQ_SHADOW_RECONCILER,
    BIQ_CHANGE_READER,
    BIQ_NOTIFICATION_READER,
    CI_UPLOADER,
    CI_PERSON_FEED,
];

/// Which shadow source of the tenant the BiQ flows use, when the tenant has several
/// (`BIQ_SHADOW_SOURCE_ID`; with one source it may be left out).
pub const BIQ_SHADOW_SOURCE_ID_VAR: &str = "BIQ_SHADOW_SOURCE_ID";
/// The market the Consumer Intelligence uploader sends consumers to (`CI_MARKET`, e.g. `SE`).
pub const CI_MARKET_VAR: &str = "CI_MARKET";
/// The market used against the sandbox.
pub const SANDBOX_MARKET: &str = "SE";

/// A BiQ session and the shadow source the flows use.
#[derive(Debug, Clone)]
pub struct BiqConnection {
    /// The session (api key -> JWT, cached and renewed by it).
    pub session: Session,
    /// The tenant's shadow source.
    pub shadow_source_id: i32,
}

/// A Consumer Intelligence client and the market of the uploaded consumers.
#[derive(Debug, Clone)]
pub struct ConsumerIntelligenceConnection {
    /// The client (OAuth2 tokens cached and renewed by it).
    pub client: CiClient,
    /// The market (e.g. `SE`).
    pub market: String,
}

/// The vendor connections a run can use; a vendor without credentials is `None`.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    /// BiQ, when `BIQ_API_KEY` is set (or with the sandbox).
    pub biq: Option<BiqConnection>,
    /// Consumer Intelligence, when `CI_CLIENT_ID` is set (or with the sandbox).
    pub consumer_intelligence: Option<ConsumerIntelligenceConnection>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn config(what: &str, error: impl std::fmt::Display) -> CliError {
    CliError::Config(format!("{what}: {error}"))
}

impl Connections {
    /// From the environment, as the quickstart reads it: BiQ when `BIQ_API_KEY` is set
    /// (`BiQ` session variables, plus [`BIQ_SHADOW_SOURCE_ID_VAR`]), Consumer Intelligence when
    /// `CI_CLIENT_ID` is set (`CI_*` variables, plus [`CI_MARKET_VAR`]).
    pub async fn from_env() -> Result<Self, CliError> {
        let biq = match var("BIQ_API_KEY") {
            None => None,
            Some(_) => {
                let session = Session::from_env().map_err(|e| config("BiQ", e))?;
                let chosen = match var(BIQ_SHADOW_SOURCE_ID_VAR) {
                    Some(id) => Some(id.trim().parse::<i32>().map_err(|_| {
                        CliError::Config(format!("{BIQ_SHADOW_SOURCE_ID_VAR} is not a number"))
                    })?),
                    None => None,
                };
                Some(biq_connection(session, chosen, false).await?)
            }
        };
        let consumer_intelligence = match var("CI_CLIENT_ID") {
            None => None,
            Some(_) => {
                let environment =
                    CiEnvironment::from_env().map_err(|e| config("Consumer Intelligence", e))?;
                let credentials =
                    CiCredentials::from_env().map_err(|e| config("Consumer Intelligence", e))?;
                let market = var(CI_MARKET_VAR).ok_or_else(|| {
                    CliError::Config(format!(
                        "Consumer Intelligence: {CI_MARKET_VAR} is not set (the market of the uploaded consumers, e.g. SE)"
                    ))
                })?;
                let client = ci::connect(environment, credentials)
                    .map_err(|e| config("Consumer Intelligence", e))?;
                Some(ConsumerIntelligenceConnection { client, market })
            }
        };
        Ok(Connections {
            biq,
            consumer_intelligence,
        })
    }

    /// Every client pointed at the in-process `sandbox`, with its credentials.
    pub async fn sandbox(sandbox: &Sandbox) -> Result<Self, CliError> {
        let session = Session::new(
            BiqEnvironment::Custom {
                auth: sandbox.url("biq_auth"),
                customer_shadow: sandbox.url("biq_customer_shadow"),
                alert_changes: sandbox.url("biq_alert_changes"),
            },
            credentials::BIQ_API_KEY,
        )
        .map_err(|e| config("BiQ (sandbox)", e))?;
        let base_url = sandbox.url("consumer_intelligence");
        let token_url = format!("{base_url}/oauth/token");
        let client = ci::connect(
            CiEnvironment::Custom {
                base_url,
                token_url,
            },
            CiCredentials::new(
                credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
                credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
            ),
        )
        .map_err(|e| config("Consumer Intelligence (sandbox)", e))?;
        Ok(Connections {
            biq: Some(biq_connection(session, None, true).await?),
            consumer_intelligence: Some(ConsumerIntelligenceConnection {
                client,
                market: SANDBOX_MARKET.to_string(),
            }),
        })
    }

    /// The flows these connections can run.
    pub fn available_flows(&self) -> Vec<&'static str> {
        let mut flows = Vec::new();
        if self.biq.is_some() {
            flows.extend_from_slice(BIQ_FLOWS);
        }
        if self.consumer_intelligence.is_some() {
            flows.extend_from_slice(CI_FLOWS);
        }
        flows
    }
}

/// The tenant's shadow source: `chosen`, or the only one the tenant has (or its first, with
/// `first_of_several`: the sandbox's tenant has two, like the quickstart it takes the first).
async fn biq_connection(
    session: Session,
    chosen: Option<i32>,
    first_of_several: bool,
) -> Result<BiqConnection, CliError> {
    if let Some(shadow_source_id) = chosen {
        return Ok(BiqConnection {
            session,
            shadow_source_id,
        });
    }
    let failed = |e: &dyn std::fmt::Display| {
        CliError::Failed(format!("BiQ: cannot list the shadow sources: {e}"))
    };
    let tenant = session.tenant_id().await.map_err(|e| failed(&e))?;
    let sources = session
        .customer_shadow()
        .map_err(|e| config("BiQ", e))?
        .list_shadow_sources()
        .tenant_id(&tenant)
        .send()
        .await
        .map_err(|e| failed(&e))?;
    let ids: Vec<i32> = sources.iter().filter_map(|s| s.id).collect();
    match ids.as_slice() {
        [first, ..] if first_of_several => Ok(BiqConnection {
            session,
            shadow_source_id: *first,
        }),
        [only] => Ok(BiqConnection {
            session,
            shadow_source_id: *only,
        }),
        [] => Err(CliError::Config(
            "BiQ: the tenant has no shadow source".into(),
        )),
        _ => Err(CliError::Config(format!(
            "BiQ: the tenant has {} shadow sources; set {BIQ_SHADOW_SOURCE_ID_VAR} to one of {ids:?}",
            ids.len()
        ))),
    }
}

/// The flows a run selects: the names given (each must be known), or by default every flow
/// the connections can run. Checked before any connection is made, so a typo costs nothing.
pub fn check_names(requested: &[String]) -> Result<(), CliError> {
    match requested
        .iter()
        .find(|name| !KNOWN_FLOWS.contains(&name.as_str()))
    {
        Some(name) => Err(CliError::UnknownFlow { name: name.clone() }),
        None => Ok(()),
    }
}

/// The names to run: `requested` (deduplicated, in order) or every available flow; a requested
/// flow whose vendor has no credentials is a configuration error.
pub fn select(requested: &[String], connections: &Connections) -> Result<Vec<String>, CliError> {
    check_names(requested)?;
    let available = connections.available_flows();
    if requested.is_empty() {
        if available.is_empty() {
            return Err(CliError::Config(
                "no vendor credentials in the environment (set BIQ_API_KEY or CI_CLIENT_ID and the rest, see the README), or use --sandbox".into(),
            ));
        }
        return Ok(available.iter().map(|s| s.to_string()).collect());
    }
    let mut names: Vec<String> = Vec::new();
    for name in requested {
        if !available.contains(&name.as_str()) {
            let vendor = if BIQ_FLOWS.contains(&name.as_str()) {
                "BIQ_API_KEY"
            } else {
                "CI_CLIENT_ID"
            };
            return Err(CliError::Config(format!(
                "flow {name} needs credentials: {vendor} is not set (or use --sandbox)"
            )));
        }
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    Ok(names)
}

/// THE wiring from flow names to flow constructors, over any store. A flow whose vendor has
/// no connection is a configuration error ([`select`] has normally refused it already).
pub fn build_flows<S: Store + 'static>(
    names: &[String],
    connections: &Connections,
) -> Result<Vec<Box<dyn Flow<S>>>, CliError> {
    let biq = || {
        connections
            .biq
            .as_ref()
            .map(|biq| BiqSettings::new(biq.session.clone(), biq.shadow_source_id))
            .ok_or_else(|| CliError::Config("the BiQ flows need BIQ_API_KEY (or --sandbox)".into()))
    };
    let consumer_intelligence = || {
        let ci = connections.consumer_intelligence.as_ref().ok_or_else(|| {
            CliError::Config(
                "the Consumer Intelligence flows need CI_CLIENT_ID (or --sandbox)".into(),
            )
        })?;
        ConsumerIntelligenceSettings::new(ci.client.clone(), &ci.market)
            .map_err(|e| config("Consumer Intelligence", e))
    };
    names
        .iter()
        .map(|name| -> Result<Box<dyn Flow<S>>, CliError> {
            Ok(match name.as_str() {
                BIQ_SHADOW_WRITER => Box::new(ShadowWriter::new(biq()?)),
                BIQ_SHADOW_RECONCILER => Box::new(ShadowReconciler::new(biq()?)),
                BIQ_CHANGE_READER => Box::new(ChangeReader::new(biq()?)),
                BIQ_NOTIFICATION_READER => Box::new(NotificationReader::new(biq()?)),
                CI_UPLOADER => Box::new(ConsumerUploader::new(consumer_intelligence()?)),
                CI_PERSON_FEED => Box::new(PersonFeedReader::new(consumer_intelligence()?)),
                _ => return Err(CliError::UnknownFlow { name: name.clone() }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_unknown_name_is_refused_naming_the_known_flows() {
        let error = select(&names(&["nope"]), &Connections::default()).unwrap_err();
        assert_eq!(error.exit_code(), crate::error::EXIT_USAGE);
        let text = error.to_string();
        for flow in KNOWN_FLOWS {
            assert!(text.contains(flow), "{text}");
        }
    }

    #[test]
    fn with_no_credentials_nothing_is_selected_and_that_is_a_configuration_error() {
        let error = select(&[], &Connections::default()).unwrap_err();
        assert_eq!(error.exit_code(), crate::error::EXIT_CONFIG);
        let error = select(&names(&[BIQ_CHANGE_READER]), &Connections::default()).unwrap_err();
        assert_eq!(error.exit_code(), crate::error::EXIT_CONFIG);
        assert!(error.to_string().contains("BIQ_API_KEY"), "{error}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sandbox_gives_every_flow_its_connection() {
        let sandbox = Sandbox::start(customer_data_sandbox::SandboxConfig::default())
            .await
            .expect("sandbox");
        let connections = Connections::sandbox(&sandbox).await.expect("connections");
        assert_eq!(connections.available_flows(), KNOWN_FLOWS);
        let built = build_flows::<customer_data_sync::sqlite::SqliteStore>(
            &names(KNOWN_FLOWS),
            &connections,
        )
        .expect("every flow builds with the sandbox's connections");
        let built: Vec<&str> = built.iter().map(|flow| flow.name()).collect();
        assert_eq!(built, KNOWN_FLOWS);
        assert!(connections.biq.is_some_and(|biq| biq.shadow_source_id > 0));
        assert_eq!(
            connections.consumer_intelligence.map(|ci| ci.market),
            Some(SANDBOX_MARKET.to_string())
        );
        sandbox.shutdown().await;
    }

    #[test]
    fn every_known_flow_is_built_under_its_own_name_and_needs_its_vendor() {
        let connections = Connections::default();
        for name in KNOWN_FLOWS {
            let error = build_flows::<customer_data_sync::sqlite::SqliteStore>(
                &names(&[name]),
                &connections,
            )
            .err()
            .expect("no connection: refused");
            assert!(matches!(error, CliError::Config(_)), "{name}: {error}");
        }
    }
}
