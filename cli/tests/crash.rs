//! Crash test (issue 18): the flows run as child processes (this crate's `customer-data`
//! binary) against the sandbox with faults on (about 20% of the feed twins' answers are a 429,
//! a 5xx, a reset connection or a cut body), and are SIGKILLed at random moments many times
//! while 100,000 approved changes (BiQ) and 10,000 person changes (Consumer Intelligence)
//! flow. After the last restart, the customer table equals the one a run without kills made
//! against the same twins, and the change log holds each change once: the same set of
//! (source, change id, outcome, customer) as that run, with exactly 100,000 BiQ changes and
//! 10,000 person changes.
//!
//! The same on PostgreSQL with two instances running at once (their leases decide which one
//! runs a flow), when `CUSTOMER_DATA_SYNC_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) reaches a server; otherwise it prints
//! `SKIPPED` and why.
//!
//! The kill moments come from a seed printed at the start (`CRASH_SEED` repeats a run).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use customer_data_cli::flows::Connections;
use customer_data_sandbox::faults::Faults;
use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};

/// How much flows in one round.
#[derive(Debug, Clone, Copy)]
struct Volume {
    /// BiQ approved changes.
    changes: u64,
    /// Consumer Intelligence person changes.
    persons: u64,
}

/// The SQLite round: the volume.
const FULL: Volume = Volume {
    changes: 100_000,
    persons: 10_000,
};
/// The PostgreSQL round, two instances: a fifth of it by default, so the suite stays within
/// its time (PostgreSQL applies about 350 changes a second here in a debug build, a round trip
/// per statement); `CRASH_POSTGRES_FULL=1` runs the full volume.
const POSTGRES_DEFAULT: Volume = Volume {
    changes: 20_000,
    persons: 2_000,
};
/// BiQ customers in the shadow: the synthetic approved changes are about them.
const BIQ_CUSTOMERS: usize = 50;
const KILLS: usize = 12;
/// Short leases, so a restarted instance takes over from a killed one within seconds.
const LEASE_TTL_SECONDS: &str = "2";
const READERS: [&str; 2] = ["biq-change-reader", "consumer-intelligence-person-feed"];

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_customer-data")
}

/// A small deterministic generator for the kill moments (xorshift64*).
struct Moments(u64);

impl Moments {
    fn next_millis(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        low + value % (high - low)
    }
}

/// The twins: big synthetic feeds, faults on every twin the flows call.
async fn faulty_sandbox(volume: Volume) -> Sandbox {
    let faults = |seed| Faults {
        seed,
        rate_limited: 0.05,
        retry_after_secs: 0,
        server_error: 0.05,
        reset: 0.05,
        truncated: 0.05,
        ..Faults::none()
    };
    let config = SandboxConfig {
        biq_synthetic_changes: Some(volume.changes),
        consumer_intelligence_synthetic_persons: Some(volume.persons),
        // Not recorded for CI's validators (`CUSTOMER_DATA_SANDBOX_RECORD`): thousands of big
        // batches that the sync tests' smaller exchanges already put before them.
        record: None,
        ..SandboxConfig::default()
    }
    .with_faults("biq_auth", faults(1))
    .with_faults("biq_customer_shadow", faults(2))
    .with_faults("biq_alert_changes", faults(3))
    .with_faults("consumer_intelligence", faults(4));
    Sandbox::start(config).await.expect("the sandbox starts")
}

/// What a child needs to reach the twins: the variables the CLI reads, as a user sets them.
fn vendor_environment(sandbox: &Sandbox, shadow_source_id: i32) -> Vec<(String, String)> {
    let ci = sandbox.url("consumer_intelligence");
    [
        ("BIQ_API_KEY", credentials::BIQ_API_KEY.to_string()),
        ("BIQ_TENANT_ID", credentials::BIQ_TENANT_ID.to_string()),
        ("BIQ_AUTH_URL", sandbox.url("biq_auth")),
        (
            "BIQ_CUSTOMER_SHADOW_URL",
            sandbox.url("biq_customer_shadow"),
        ),
        ("BIQ_ALERT_CHANGES_URL", sandbox.url("biq_alert_changes")),
        ("BIQ_SHADOW_SOURCE_ID", shadow_source_id.to_string()),
        (
            "CI_CLIENT_ID",
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID.to_string(),
        ),
        (
            "CI_CLIENT_SECRET",
            credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET.to_string(),
        ),
        ("CI_BASE_URL", ci.clone()),
        ("CI_TOKEN_URL", format!("{ci}/oauth/token")),
        ("CI_MARKET", "SE".to_string()),
        // Progress as plain lines, little of it.
        ("RUST_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn command(db: &str, environment: &[(String, String)], args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .env_remove("CUSTOMER_DATA_DB")
        .envs(environment.iter().map(|(k, v)| (k, v)))
        .arg("--db")
        .arg(db)
        .args(args);
    command
}

fn run_to_end(db: &str, environment: &[(String, String)], args: &[&str]) -> Output {
    command(db, environment, args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr (tail):\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// `sync run --once` on `flows` until every flow reports a finished pass (a pass can fail
/// after its retries under 20% faults, and an instance killed a moment ago may still hold a
/// lease for up to its TTL: both end in a later attempt).
fn once_until_done(db: &str, environment: &[(String, String)], flows: &[&str]) {
    let mut args = vec!["sync", "run", "--once", "--lease-ttl", LEASE_TTL_SECONDS];
    for flow in flows {
        args.extend(["--flow", flow]);
    }
    let started = Instant::now();
    loop {
        let output = run_to_end(db, environment, &args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let done = flows
            .iter()
            .all(|flow| stdout.contains(&format!("{flow}: done")));
        if output.status.success() && done {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "no complete pass within 15 minutes; last attempt: {}",
            text(&output)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn import(db: &str, file: &Path) {
    let output = run_to_end(db, &[], &["customers", "import", file.to_str().unwrap()]);
    assert!(output.status.success(), "import: {}", text(&output));
}

fn export(db: &str) -> String {
    let output = run_to_end(db, &[], &["customers", "export", "--format", "jsonl"]);
    assert!(output.status.success(), "export: {}", text(&output));
    String::from_utf8(output.stdout).expect("UTF-8 export")
}

/// The customers: the BiQ ones (sent to the shadow, so the approved changes are about them)
/// and `synthetic-1..=persons`, the consumer ids of the twin's synthetic persons.
fn write_customers(dir: &Path, volume: Volume) -> (PathBuf, PathBuf) {
    let biq = dir.join("biq.csv");
    let mut csv = String::from(
        "customer_number,category,name,cpr,street,house_number,postal_code,postal_city,country_code\n",
    );
    for i in 1..=BIQ_CUSTOMERS {
        csv.push_str(&format!(
            "C-{i:04},privat,Person {i},{:010},Vestergade,{i},8000,Aarhus C,DK\n",
            1_000_000 + i
        ));
    }
    std::fs::write(&biq, csv).unwrap();
    let persons = dir.join("persons.csv");
    let mut csv = String::from("customer_number,name,country_code\n");
    for i in 1..=volume.persons {
        csv.push_str(&format!("synthetic-{i},Synthetic {i},SE\n"));
    }
    std::fs::write(&persons, csv).unwrap();
    (biq, persons)
}

/// The change log as a sorted list of `source change_id outcome customer` lines, per source.
type Log = BTreeMap<String, Vec<String>>;

fn sqlite_log(path: &Path) -> Log {
    use customer_data_sync::sqlite::rusqlite;
    let connection = rusqlite::Connection::open(path).unwrap();
    let mut statement = connection
        .prepare(
            "SELECT source, change_id, outcome, COALESCE(customer_number, ''), COALESCE(event_type, '')
             FROM change_log ORDER BY source, change_id",
        )
        .unwrap();
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap);
    to_log(rows)
}

fn to_log(rows: impl Iterator<Item = (String, String, String, String, String)>) -> Log {
    let mut log = Log::new();
    for (source, id, outcome, customer, event_type) in rows {
        log.entry(source.clone())
            .or_default()
            .push(format!("{id} {event_type} {outcome} {customer}"));
    }
    log
}

fn assert_same_outcome(
    volume: Volume,
    expected_table: &str,
    expected_log: &Log,
    table: &str,
    log: &Log,
) {
    assert_eq!(
        log.get("biq").map(Vec::len),
        Some(volume.changes as usize),
        "BiQ changes logged"
    );
    assert_eq!(
        log.get("consumer-intelligence").map(Vec::len),
        Some(volume.persons as usize),
        "person changes logged"
    );
    for (source, entries) in expected_log {
        assert!(
            log.get(source) == Some(entries),
            "the change log of {source} differs from the run without kills"
        );
    }
    assert_eq!(log.len(), expected_log.len(), "sources in the log");
    let expected: Vec<&str> = expected_table.lines().collect();
    let actual: Vec<&str> = table.lines().collect();
    assert_eq!(actual.len(), expected.len(), "customers");
    for (row, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert!(a == e, "customer row {row} differs:\n got {a}\nwant {e}");
    }
}

/// Kills and restarts the `instances` running the readers on `db`, `KILLS` times in all, at
/// random moments; returns with none running.
fn kill_repeatedly(
    db: &str,
    environment: &[(String, String)],
    instances: usize,
    moments: &mut Moments,
) {
    let mut args = vec!["sync", "run", "--lease-ttl", LEASE_TTL_SECONDS];
    for flow in READERS {
        args.extend(["--flow", flow]);
    }
    let spawn = || -> Child {
        command(db, environment, &args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts")
    };
    let mut running: Vec<Child> = (0..instances).map(|_| spawn()).collect();
    for kill in 0..KILLS {
        std::thread::sleep(Duration::from_millis(moments.next_millis(300, 4_000)));
        let victim = moments.next_millis(0, instances as u64) as usize;
        // SIGKILL: no graceful stop, no lease released, a transaction maybe half done.
        running[victim].kill().expect("kill");
        running[victim].wait().expect("reaped");
        eprintln!("kill {}/{KILLS}: instance {victim}", kill + 1);
        running[victim] = spawn();
    }
    for mut child in running {
        child.kill().expect("kill");
        child.wait().expect("reaped");
    }
}

/// The kills hit a flow at work: some changes were applied before the last kill, not all.
fn assert_killed_mid_flow(volume: Volume, log: &Log) {
    let applied = log.get("biq").map_or(0, Vec::len);
    eprintln!(
        "applied before the last kill: {applied} BiQ changes of {}",
        volume.changes
    );
    assert!(
        applied > 0 && applied < volume.changes as usize,
        "the kills did not interrupt the flow ({applied} changes applied)"
    );
}

fn seed() -> u64 {
    std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        })
}

/// Where a crash round runs. (No `Debug`: the server URL may hold a password; see `name`.)
#[derive(Clone)]
enum Target {
    /// One instance on a SQLite file in the round's directory.
    Sqlite,
    /// Two instances at once on a fresh database of this PostgreSQL server.
    Postgres { admin_url: String },
}

impl Target {
    /// For the test's output.
    fn name(&self) -> &'static str {
        match self {
            Target::Sqlite => "SQLite, one instance",
            Target::Postgres { .. } => "PostgreSQL, two instances",
        }
    }
}

/// One round: a faulty sandbox with `volume` in its feeds; a run without kills on SQLite (the
/// reference); the same flows killed again and again on `target`; then both compared.
async fn crash_round(volume: Volume, target: Target, seed: u64) {
    eprintln!(
        "crash round on {}, {volume:?}, seed {seed} (CRASH_SEED={seed} repeats the kill moments)",
        target.name()
    );
    let sandbox = faulty_sandbox(volume).await;
    let shadow_source_id = Connections::sandbox(&sandbox)
        .await
        .expect("sandbox connections")
        .biq
        .expect("BiQ")
        .shadow_source_id;
    let environment = vendor_environment(&sandbox, shadow_source_id);
    let dir = tempfile::tempdir().unwrap();
    let (biq_customers, persons) = write_customers(dir.path(), volume);

    // The run without kills: the BiQ customers go to the shadow first (the synthetic changes
    // are about the shadow's customers, so it must not change afterwards), then the readers.
    let reference_path = dir.path().join("reference.sqlite");
    let reference = format!("sqlite:{}", reference_path.display());
    let env = environment.clone();
    let (customers, people) = (biq_customers.clone(), persons.clone());
    let (expected_table, expected_log) = tokio::task::spawn_blocking(move || {
        import(&reference, &customers);
        once_until_done(&reference, &env, &["biq-shadow-writer"]);
        import(&reference, &people);
        once_until_done(&reference, &env, &READERS);
        (export(&reference), sqlite_log(&reference_path))
    })
    .await
    .unwrap();
    assert_eq!(
        expected_log.get("biq").map(Vec::len),
        Some(volume.changes as usize),
        "the run without kills logged every BiQ change"
    );

    let started = Instant::now();
    let mut moments = Moments(seed);
    let (db, instances, cleanup) = match &target {
        Target::Sqlite => (
            format!("sqlite:{}", dir.path().join("crashed.sqlite").display()),
            1,
            None,
        ),
        Target::Postgres { admin_url } => match create_database(admin_url).await {
            Ok((url, drop)) => (url, 2, Some(drop)),
            Err(reason) => {
                eprintln!("SKIPPED (PostgreSQL, two instances): {reason}");
                sandbox.shutdown().await;
                return;
            }
        },
    };
    let env = environment.clone();
    let crashed = db.clone();
    let (table, log) = tokio::task::spawn_blocking(move || {
        import(&crashed, &biq_customers);
        import(&crashed, &persons);
        kill_repeatedly(&crashed, &env, instances, &mut moments);
        assert_killed_mid_flow(volume, &change_log(&crashed));
        once_until_done(&crashed, &env, &READERS);
        (export(&crashed), change_log(&crashed))
    })
    .await
    .unwrap();
    eprintln!("crash run on {}: {:?}", target.name(), started.elapsed());
    assert_same_outcome(volume, &expected_table, &expected_log, &table, &log);
    if let Some(drop) = cleanup {
        tokio::task::spawn_blocking(drop).await.unwrap();
    }
    sandbox.shutdown().await;
}

/// The change log of the database at `db` (a `--db` value).
fn change_log(db: &str) -> Log {
    match db.strip_prefix("sqlite:") {
        Some(path) => sqlite_log(Path::new(path)),
        None => postgres_log(db),
    }
}

#[cfg(not(feature = "postgres"))]
fn postgres_log(_url: &str) -> Log {
    unreachable!("PostgreSQL rounds are skipped without the postgres feature")
}

#[cfg(feature = "postgres")]
fn postgres_log(url: &str) -> Log {
    use customer_data_sync::postgres::postgres::{Client, NoTls};
    let mut client = Client::connect(url, NoTls).expect("the test database");
    let rows = client
        .query(
            "SELECT source, change_id, outcome, COALESCE(customer_number, ''), COALESCE(event_type, '')
             FROM change_log ORDER BY source, change_id",
            &[],
        )
        .unwrap()
        .into_iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)));
    to_log(rows)
}

type DropDatabase = Box<dyn FnOnce() + Send>;

#[cfg(not(feature = "postgres"))]
async fn create_database(_admin_url: &str) -> Result<(String, DropDatabase), String> {
    Err("the cli is built without its `postgres` feature".into())
}

/// A fresh database on the server at `admin_url`: its URL, and how to drop it.
#[cfg(feature = "postgres")]
async fn create_database(admin_url: &str) -> Result<(String, DropDatabase), String> {
    use customer_data_sync::postgres::postgres::{Client, NoTls};
    let database = format!("crash_{}", std::process::id());
    let (admin, name) = (admin_url.to_string(), database.clone());
    tokio::task::spawn_blocking(move || {
        let mut client = Client::connect(&admin, NoTls)?;
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
        client.batch_execute(&format!("CREATE DATABASE {name}"))
    })
    .await
    .unwrap()
    .map_err(|e| format!("no server to create a database on: {e}"))?;
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => return Err("CUSTOMER_DATA_SYNC_POSTGRES_URL has no database part".into()),
    };
    let admin = admin_url.to_string();
    let drop: DropDatabase = Box::new(move || {
        if let Ok(mut client) = Client::connect(&admin, NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {database}"));
        }
    });
    Ok((url, drop))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_killed_at_random_on_sqlite_apply_every_change_exactly_once() {
    crash_round(FULL, Target::Sqlite, seed()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_killed_at_random_on_postgres_apply_every_change_exactly_once() {
    let admin_url = std::env::var("CUSTOMER_DATA_SYNC_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let volume = match std::env::var("CRASH_POSTGRES_FULL").as_deref() {
        Ok("1") => FULL,
        _ => POSTGRES_DEFAULT,
    };
    crash_round(volume, Target::Postgres { admin_url }, seed()).await;
}
