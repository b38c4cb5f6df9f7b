//! The `customer-data` binary, run as a user runs it (`std::process::Command`): exit codes,
//! stdout, stderr (never a value of a row, never a password).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use customer_data_sync::sqlite::SqliteStore;
use customer_data_sync::{ChangeOutcome, ChangeRef, Customer, PassOutcome, Store};

const BIN: &str = env!("CARGO_BIN_EXE_customer-data");

/// A scratch directory with its own database.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn db(&self, name: &str) -> String {
        format!("sqlite:{}", self.path(name).display())
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    /// Runs the binary in the scratch directory, with no database or vendor variables.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("CUSTOMER_DATA_DB")
            .env_remove("BIQ_API_KEY")
            .env_remove("CI_CLIENT_ID")
            .output()
            .expect("run the binary")
    }
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

const CSV: &str = "\
customer_number,name,cpr,email,postal_city,extra_data
C-002,\"Hansen, Jens\",0101701234,,København,
C-001,\"Line one
line two\",,a@example.org,Århus,\"{\"\"segment\"\":\"\"gold\"\"}\"
C-003,Ægir Ørsted,,,,
";

#[test]
fn csv_imports_and_exports_as_json_lines_and_back_to_the_same_table() {
    let scratch = Scratch::new();
    let csv = scratch.write("in.csv", CSV);
    let first = scratch.db("first.sqlite");
    let import = scratch.run(&["--db", &first, "customers", "import", path_str(&csv)]);
    assert_eq!(code(&import), 0, "{}", stderr(&import));
    assert!(
        stdout(&import).contains("imported 3 customer(s)"),
        "{}",
        stdout(&import)
    );
    // Not a terminal: no progress bar, no escape codes, plain log lines.
    assert!(!stderr(&import).contains('\u{1b}'), "{:?}", stderr(&import));
    assert!(
        stderr(&import).contains("INFO customer_data_cli::customers: import done customers=3"),
        "{}",
        stderr(&import)
    );

    let export = scratch.run(&["--db", &first, "customers", "export"]);
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let lines: Vec<serde_json::Value> = stdout(&export)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let numbers: Vec<&str> = lines
        .iter()
        .map(|l| l["customer_number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["C-001", "C-002", "C-003"], "ordered by number");
    assert_eq!(lines[0]["name"], "Line one\nline two");
    assert_eq!(lines[0]["extra_data"]["segment"], "gold");
    assert_eq!(lines[1]["name"], "Hansen, Jens");
    assert_eq!(lines[1]["cpr"], "0101701234");
    assert_eq!(lines[1].get("email"), None, "an empty cell is no value");
    assert_eq!(lines[2]["name"], "Ægir Ørsted");

    // The JSON lines into a second database: the same table, in both formats.
    let jsonl = scratch.write("out.jsonl", &stdout(&export));
    let second = scratch.db("second.sqlite");
    let import = scratch.run(&["--db", &second, "customers", "import", path_str(&jsonl)]);
    assert_eq!(code(&import), 0, "{}", stderr(&import));
    for format in ["jsonl", "csv"] {
        let a = scratch.run(&["--db", &first, "customers", "export", "--format", format]);
        let b = scratch.run(&["--db", &second, "customers", "export", "--format", format]);
        assert_eq!(code(&a), 0);
        assert_eq!(stdout(&a), stdout(&b), "{format} round trip");
    }
    // And the CSV export imports back to the same table too.
    let csv_out = scratch.run(&["--db", &second, "customers", "export", "--format", "csv"]);
    let csv_again = scratch.write("again.csv", &stdout(&csv_out));
    let third = scratch.db("third.sqlite");
    let import = scratch.run(&["--db", &third, "customers", "import", path_str(&csv_again)]);
    assert_eq!(code(&import), 0, "{}", stderr(&import));
    let back = scratch.run(&["--db", &third, "customers", "export"]);
    assert_eq!(stdout(&back), stdout(&export));
}

#[test]
fn a_bad_csv_line_refuses_the_file_naming_line_and_column_but_no_value() {
    let scratch = Scratch::new();
    let csv = scratch.write(
        "bad.csv",
        "customer_number,name,cpr,extra_data\n\
         C-1,Ok Person,,\n\
         C-2,Secret Name,1111111118,{not json 2222222226}\n\
         ,Nameless Person,3333333334,\n",
    );
    let db = scratch.db("db.sqlite");
    let import = scratch.run(&["--db", &db, "customers", "import", path_str(&csv)]);
    assert_eq!(code(&import), 5, "{}", stderr(&import));
    let err = stderr(&import);
    assert!(err.contains("line 3, column extra_data"), "{err}");
    assert!(err.contains("line 4, column customer_number"), "{err}");
    assert!(err.contains("2 bad line(s); nothing was written"), "{err}");
    for value in [
        "Secret",
        "1111111118",
        "2222222226",
        "Nameless",
        "3333333334",
        "Ok Person",
    ] {
        assert!(!err.contains(value), "{value} leaked: {err}");
    }
    let export = scratch.run(&["--db", &db, "customers", "export"]);
    assert_eq!(stdout(&export), "", "the good line was not written either");
}

#[test]
fn a_bad_json_line_refuses_the_file_naming_line_and_column_but_no_value() {
    let scratch = Scratch::new();
    let jsonl = scratch.write(
        "bad.ndjson",
        "{\"customer_number\":\"C-1\",\"name\":\"Ok\"}\n\
         \n\
         {\"customer_number\":\"C-2\",\"cpr\":1111111118}\n\
         {\"customer_number\":\"C-3\",\"name\":\"Broken 2222222226\n",
    );
    let db = scratch.db("db.sqlite");
    let import = scratch.run(&["--db", &db, "customers", "import", path_str(&jsonl)]);
    assert_eq!(code(&import), 5, "{}", stderr(&import));
    let err = stderr(&import);
    assert!(
        err.contains("line 3, column cpr: expected text or null"),
        "{err}"
    );
    assert!(err.contains("line 4: not valid JSON"), "{err}");
    assert!(
        !err.contains("1111111118") && !err.contains("2222222226"),
        "{err}"
    );
    let export = scratch.run(&["--db", &db, "customers", "export"]);
    assert_eq!(stdout(&export), "");
}

#[test]
fn a_file_of_unknown_format_or_missing_is_refused_with_its_code() {
    let scratch = Scratch::new();
    let txt = scratch.write("in.txt", "customer_number\nC-1\n");
    let unknown = scratch.run(&["customers", "import", path_str(&txt)]);
    assert_eq!(code(&unknown), 2, "{}", stderr(&unknown));
    assert!(
        !scratch.path("customer-data.sqlite").exists(),
        "a usage error opens no database"
    );
    let forced = scratch.run(&["customers", "import", "--format", "csv", path_str(&txt)]);
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    let missing = scratch.run(&["customers", "import", "nowhere.csv"]);
    assert_eq!(code(&missing), 5, "{}", stderr(&missing));
    // The default database is created in the current directory.
    assert!(scratch.path("customer-data.sqlite").exists());
}

#[test]
fn status_of_an_empty_database_in_text_and_json() {
    let scratch = Scratch::new();
    let text = scratch.run(&["sync", "status"]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    assert_eq!(
        stdout(&text),
        "flows: none has run yet\n\
         pending uploads: biq-customer-shadow 0, consumer-intelligence 0\n\
         change log: 0 change(s)\n"
    );
    let json = scratch.run(&["sync", "status", "--json"]);
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({
            "flows": [],
            "pending_uploads": {"biq-customer-shadow": 0, "consumer-intelligence": 0},
            "change_log": 0,
        })
    );
}

/// A database where a flow ran twice (one failure), holds its lease, logged a change, and two
/// customers wait to be uploaded.
fn used_database(path: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(path).await.expect("open");
        for number in ["C-1", "C-2"] {
            store
                .put_customer(Customer {
                    customer_number: number.into(),
                    ..Customer::default()
                })
                .await
                .expect("customer");
        }
        let flow = "biq-change-reader";
        store
            .apply(
                ChangeRef {
                    flow: flow.into(),
                    source: "biq".into(),
                    change_id: "change-1".into(),
                    event_type: Some("NameChanged".into()),
                    cursor: "2026-01-02T03:04:05Z".into(),
                },
                |_| {
                    Ok(ChangeOutcome::NotApplied {
                        reason: "test".into(),
                    })
                },
            )
            .await
            .expect("apply");
        store
            .record_pass(
                flow,
                "2026-01-02T03:00:00+00:00",
                PassOutcome::Failed {
                    error: "vendor call failed: 503".into(),
                },
            )
            .await
            .expect("pass");
        store
            .record_pass(
                flow,
                "2026-01-02T03:05:00+00:00",
                PassOutcome::Succeeded { items: 7 },
            )
            .await
            .expect("pass");
        // Held until 2100 (ms since the epoch).
        assert!(
            store
                .try_lease(flow, "pid-42-test", 4_102_444_800_000 - 60_000, 60_000)
                .await
                .expect("lease")
        );
    });
}

#[test]
fn status_of_a_used_database_in_text_and_json() {
    let scratch = Scratch::new();
    used_database(&scratch.path("used.sqlite"));
    let db = scratch.db("used.sqlite");
    let text = scratch.run(&["--db", &db, "sync", "status"]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    let text = stdout(&text);
    for expected in [
        "biq-change-reader: 2 pass(es), 7 item(s), 1 failure(s); cursor 2026-01-02T03:04:05Z",
        "last success: 2026-01-02T03:05:00+00:00",
        "last error: vendor call failed: 503 at 2026-01-02T03:00:00+00:00",
        "lease: pid-42-test until 2100-01-01T00:00:00+00:00",
        "pending uploads: biq-customer-shadow 2, consumer-intelligence 2",
        "change log: 1 change(s)",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    let json = scratch.run(&["--db", &db, "sync", "status", "--json"]);
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    let flow = &json["flows"][0];
    assert_eq!(flow["flow"], "biq-change-reader");
    assert_eq!(flow["passes"], 2);
    assert_eq!(flow["items"], 7);
    assert_eq!(flow["failures"], 1);
    assert_eq!(flow["cursor"], "2026-01-02T03:04:05Z");
    assert_eq!(flow["last_error"], "vendor call failed: 503");
    assert_eq!(flow["last_error_at"], "2026-01-02T03:00:00+00:00");
    assert_eq!(flow["last_success_at"], "2026-01-02T03:05:00+00:00");
    assert_eq!(flow["lease"]["holder"], "pid-42-test");
    assert_eq!(flow["lease"]["until_ms"], 4_102_444_800_000i64);
    assert_eq!(json["pending_uploads"]["consumer-intelligence"], 2);
    assert_eq!(json["change_log"], 1);
}

#[test]
fn a_bad_db_is_a_configuration_error_that_never_shows_the_password() {
    let scratch = Scratch::new();
    let malformed = scratch.run(&[
        "--db",
        "mysql://app:hunter2@db.example/crm",
        "sync",
        "status",
    ]);
    assert_eq!(code(&malformed), 3, "{}", stderr(&malformed));
    assert!(
        stderr(&malformed).contains("--db must be"),
        "{}",
        stderr(&malformed)
    );
    assert!(
        !stderr(&malformed).contains("hunter2"),
        "{}",
        stderr(&malformed)
    );
    // The same from the environment.
    let from_env = Command::new(BIN)
        .args(["sync", "status"])
        .current_dir(scratch.dir.path())
        .env("CUSTOMER_DATA_DB", "postgress://app:hunter2@db.example/crm")
        .output()
        .expect("run");
    assert_eq!(code(&from_env), 3, "{}", stderr(&from_env));
    assert!(
        !stderr(&from_env).contains("hunter2"),
        "{}",
        stderr(&from_env)
    );
    // A PostgreSQL URL that cannot be used (no support built in, or nothing listening):
    // configuration or store, never the password.
    let postgres = scratch.run(&[
        "--db",
        "postgres://app:hunter2@127.0.0.1:1/crm",
        "sync",
        "status",
    ]);
    let expected = if cfg!(feature = "postgres") { 4 } else { 3 };
    assert_eq!(code(&postgres), expected, "{}", stderr(&postgres));
    assert!(
        !stderr(&postgres).contains("hunter2"),
        "{}",
        stderr(&postgres)
    );
    // A SQLite file that cannot be opened is the store's failure.
    let nowhere = scratch.db("no/such/dir/db.sqlite");
    let unopenable = scratch.run(&["--db", &nowhere, "sync", "status"]);
    assert_eq!(code(&unopenable), 4, "{}", stderr(&unopenable));
}

#[test]
fn an_unknown_flow_is_a_usage_error_naming_the_known_flows() {
    let scratch = Scratch::new();
    let run = scratch.run(&["sync", "run", "--flow", "nope"]);
    assert_eq!(code(&run), 2, "{}", stderr(&run));
    for flow in customer_data_cli::flows::KNOWN_FLOWS {
        assert!(
            stderr(&run).contains(flow),
            "{flow} not named: {}",
            stderr(&run)
        );
    }
    assert!(
        !scratch.path("customer-data.sqlite").exists(),
        "nothing opened for a typo"
    );
}

#[test]
fn running_with_no_credentials_and_no_sandbox_is_a_configuration_error() {
    let scratch = Scratch::new();
    let run = scratch.run(&["sync", "run", "--once"]);
    assert_eq!(code(&run), 3, "{}", stderr(&run));
    assert!(stderr(&run).contains("--sandbox"), "{}", stderr(&run));
}

#[test]
fn credentials_that_are_set_but_incomplete_are_configuration_errors_naming_the_variable() {
    let scratch = Scratch::new();
    let run = |vars: &[(&str, &str)]| {
        let mut command = Command::new(BIN);
        command
            .args(["sync", "run", "--once"])
            .current_dir(scratch.dir.path())
            .env_remove("CUSTOMER_DATA_DB");
        for name in [
            "BIQ_API_KEY",
            "BIQ_SHADOW_SOURCE_ID",
            "CI_CLIENT_ID",
            "CI_CLIENT_SECRET",
            "CI_MARKET",
            "CI_BASE_URL",
            "CI_ENVIRONMENT",
        ] {
            command.env_remove(name);
        }
        command.envs(vars.iter().copied());
        command.output().expect("run")
    };
    let biq = run(&[
        ("BIQ_API_KEY", "key-do-not-print"),
        ("BIQ_SHADOW_SOURCE_ID", "first"),
    ]);
    assert_eq!(code(&biq), 3, "{}", stderr(&biq));
    assert!(
        stderr(&biq).contains("BIQ_SHADOW_SOURCE_ID is not a number"),
        "{}",
        stderr(&biq)
    );
    assert!(!stderr(&biq).contains("key-do-not-print"));
    let ci = run(&[("CI_CLIENT_ID", "client")]);
    assert_eq!(code(&ci), 3, "{}", stderr(&ci));
    assert!(stderr(&ci).contains("CI_CLIENT_SECRET"), "{}", stderr(&ci));
    let no_market = run(&[
        ("CI_CLIENT_ID", "client"),
        ("CI_CLIENT_SECRET", "secret-do-not-print"),
    ]);
    assert_eq!(code(&no_market), 3, "{}", stderr(&no_market));
    assert!(
        stderr(&no_market).contains("CI_MARKET"),
        "{}",
        stderr(&no_market)
    );
    assert!(!stderr(&no_market).contains("secret-do-not-print"));
}

#[test]
fn help_lists_the_commands_and_the_exit_codes() {
    let help = Command::new(BIN).arg("--help").output().expect("run");
    assert_eq!(code(&help), 0);
    let help = stdout(&help);
    for expected in [
        "customers import FILE",
        "customers export",
        "sync status",
        "sync run",
        "--sandbox",
        "--db",
        "Exit codes:",
        customer_data_cli::error::EXIT_CODES_HELP,
    ] {
        assert!(help.contains(expected), "{expected:?} not in:\n{help}");
    }
}
