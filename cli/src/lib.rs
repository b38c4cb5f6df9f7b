//! The `customer-data` command over `customer-data-sync`: import and export customers, run
//! the sync flows and show their status, on SQLite (default) or PostgreSQL, against the
//! vendors (credentials from the environment) or the in-process sandbox (`--sandbox`).
//!
//! The binary is a thin `main` over [`execute`]; exit codes are in [`error`] (and `--help`).

pub mod args;
pub mod customers;
pub mod db;
pub mod error;
pub mod flows;
pub mod run;
pub mod status;
pub mod ui;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use customer_data_sandbox::{Sandbox, SandboxConfig};
use customer_data_sync::Store;
use customer_data_sync::flow::RunOptions;

use crate::args::{Cli, Command, CustomersCommand, SyncCommand};
use crate::db::DbTarget;
use crate::error::CliError;
use crate::flows::Connections;
use crate::ui::Ui;

/// How often a flow's progress is logged off a terminal.
pub const PROGRESS_LINE_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the parsed command. `shutdown` completes on Ctrl-C / SIGTERM (only `sync run` waits
/// for it). Normal output goes to stdout; errors are returned for the caller to print.
pub async fn execute(
    cli: Cli,
    ui: &Ui,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let target = DbTarget::parse(&cli.db)?;
    // Usage errors cost nothing: no database is created, no sandbox started.
    match &cli.command {
        Command::Sync(SyncCommand::Run { flows, .. }) => flows::check_names(flows)?,
        Command::Customers(CustomersCommand::Import { file, format }) => {
            customers::Format::of(file, *format)?;
        }
        _ => {}
    }
    let database = db::open(&target).await?;
    with_store!(&database, store => command(store, cli, ui, shutdown).await)
}

async fn command<S: Store + 'static>(
    store: &S,
    cli: Cli,
    ui: &Ui,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CliError> {
    match cli.command {
        Command::Customers(CustomersCommand::Import { file, format }) => {
            let format = customers::Format::of(&file, format)?;
            let written = customers::import(store, &file, format, ui).await?;
            println!("imported {written} customer(s) from {}", file.display());
            Ok(())
        }
        Command::Customers(CustomersCommand::Export { format }) => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            customers::export(store, format, &mut out).await?;
            match out.flush() {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(CliError::Failed(format!("cannot write the output: {e}")))
                }
                _ => Ok(()),
            }
        }
        Command::Sync(SyncCommand::Status { json }) => {
            let status = status::read(store).await?;
            if json {
                println!("{}", status.to_json());
            } else {
                for line in status.to_lines() {
                    println!("{line}");
                }
            }
            Ok(())
        }
        Command::Sync(SyncCommand::Run {
            flows,
            once,
            lease_ttl,
        }) => {
            let options = move || RunOptions {
                lease_ttl: std::time::Duration::from_secs(lease_ttl),
                ..RunOptions::default()
            };
            sync_run(store, &flows, once, &options, cli.sandbox, ui, shutdown).await
        }
    }
}

/// With `--sandbox`: approved changes in each shadow source's feed (once it has customers).
const SANDBOX_APPROVED_CHANGES: u64 = 500;
/// With `--sandbox`: synthetic persons in the subscribed-person feed (consumer ids
/// `synthetic-1`...; only those of your customers apply).
const SANDBOX_PERSONS: u64 = 100;

async fn sync_run<S: Store + 'static>(
    store: &S,
    requested: &[String],
    once: bool,
    options: &(dyn Fn() -> RunOptions + Sync),
    sandbox: bool,
    ui: &Ui,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let sandbox = match sandbox {
        true => Some(
            Sandbox::start(SandboxConfig {
                // Something for the readers to read: approved changes about the customers the
                // writer sends, and persons in the subscribed-person feed.
                biq_synthetic_changes: Some(SANDBOX_APPROVED_CHANGES),
                consumer_intelligence_synthetic_persons: Some(SANDBOX_PERSONS),
                ..SandboxConfig::default()
            })
            .await
            .map_err(|e| CliError::Failed(format!("cannot start the sandbox: {e}")))?,
        ),
        false => None,
    };
    let connections = match &sandbox {
        Some(sandbox) => Connections::sandbox(sandbox).await?,
        None => Connections::from_env().await?,
    };
    let names = flows::select(requested, &connections)?;
    tracing::info!(flows = ?names, once, "running");
    let progress = ui.flow_progress(&names, PROGRESS_LINE_INTERVAL);
    // One pass each: what goes to the vendors first, then what comes back (a reader after the
    // writers sees the vendors' answers to this run's uploads). Looping, all run at once.
    let phases: Vec<Vec<String>> = if once {
        let (senders, readers): (Vec<String>, Vec<String>) = names
            .iter()
            .cloned()
            .partition(|name| flows::SENDER_FLOWS.contains(&name.as_str()));
        [senders, readers]
            .into_iter()
            .filter(|phase| !phase.is_empty())
            .collect()
    } else {
        vec![names.clone()]
    };
    let shutdown = futures_util::FutureExt::shared(Box::pin(shutdown));
    let mut report = run::RunReport {
        ends: Vec::new(),
        interrupted: false,
    };
    for phase in phases {
        let flows = flows::build_flows::<S>(&phase, &connections)?;
        let ended = run::run_flows(store, &flows, once, options, &progress, shutdown.clone()).await;
        report.ends.extend(ended.ends);
        report.interrupted |= ended.interrupted;
        if report.interrupted || report.ends.iter().any(|end| end.end.is_err()) {
            break;
        }
    }
    progress.finish();
    for line in report.summary() {
        println!("{line}");
    }
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    report.outcome()
}
