//! The command line (clap).

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand};

use crate::customers::Format;
use crate::db::DEFAULT_DB;
use crate::error::EXIT_CODES_HELP;
use crate::flows::KNOWN_FLOWS;

const COMMANDS_HELP: &str = "\
Commands in full:
  customers import FILE [--format csv|jsonl]   CSV (header of column names) or JSON lines;
                                               a file with a bad line is refused whole
  customers export [--format jsonl|csv]        every customer to stdout, by number
  sync status [--json]                         flows, pending uploads, change log
  sync run [--flow NAME]... [--once] [--lease-ttl S]  run flows until Ctrl-C (or one pass each)

Credentials come from the environment (BIQ_API_KEY..., CI_CLIENT_ID..., see the README);
--sandbox runs against the local twins instead, with no account.";

/// Keep your own customer table in step with the vendors.
#[derive(Debug, Parser)]
#[command(
    name = "customer-data",
    version,
    after_help = format!("{COMMANDS_HELP}\n\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    /// The store: sqlite:PATH or postgres://user:password@host/db (a URL is never printed).
    #[arg(
        long,
        global = true,
        env = "CUSTOMER_DATA_DB",
        hide_env_values = true,
        default_value = DEFAULT_DB,
        value_name = "sqlite:PATH|postgres://..."
    )]
    pub db: String,

    /// Start the vendors' sandbox in-process and point every client at it (no account needed).
    #[arg(long, global = true)]
    pub sandbox: bool,

    /// More log lines (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors in the log.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import or export the customer table.
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// Run the sync flows or show their status.
    #[command(subcommand)]
    Sync(SyncCommand),
}

/// `customers ...`.
#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// Import customers from a CSV or JSON lines file (a file with any bad line is refused:
    /// nothing is written, every bad line is reported by line and column).
    Import {
        /// The file (.csv, .jsonl or .ndjson, or see --format).
        file: PathBuf,
        /// The file's format, when its extension does not tell.
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Write every customer to stdout, ordered by number.
    Export {
        /// The output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
    },
}

/// `sync ...`.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Show each flow's cursor, counts, last success and error, lease; pending uploads; the
    /// change log's size.
    Status {
        /// As one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run flows concurrently until Ctrl-C or SIGTERM (graceful: leases released).
    Run {
        /// A flow to run (repeat for several). Default: every flow whose credentials are
        /// present, or all with --sandbox.
        #[arg(long = "flow", value_name = "NAME", value_parser = PossibleValuesParser::new(KNOWN_FLOWS))]
        flows: Vec<String>,
        /// One pass per flow, then exit: the senders (shadow writer, reconciler, uploader)
        /// first, then the readers.
        #[arg(long)]
        once: bool,
        /// Seconds a flow's lease lasts unless renewed: how long a standby instance waits
        /// after the running one died before it takes over.
        #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        lease_ttl: u64,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
