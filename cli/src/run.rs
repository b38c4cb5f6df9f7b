//! `sync run`: the selected flows run concurrently, each with [`flow::run`], until the shutdown
//! future (Ctrl-C / SIGTERM) completes; then every flow stops gracefully (its lease released).
//!
//! Without `--once`, a flow that fails for good (a fatal error, or the store) stops the others
//! too and the command exits non-zero: a supervisor sees the failure instead of a process that
//! silently runs half its flows. With `--once`, each flow runs its one pass to the end.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use customer_data_sync::Store;
use customer_data_sync::flow::{self, Flow, FlowError, Progress, RunEnd, RunOptions};
use futures_util::future::join_all;
use tokio::sync::watch;

use crate::error::CliError;

/// How one flow's run ended.
#[derive(Debug)]
pub struct FlowEnd {
    /// The flow.
    pub flow: String,
    /// What [`flow::run`] returned.
    pub end: Result<RunEnd, FlowError>,
}

/// How a `sync run` ended.
#[derive(Debug)]
pub struct RunReport {
    /// Each flow's end, in the order given.
    pub ends: Vec<FlowEnd>,
    /// The shutdown future completed (Ctrl-C or SIGTERM).
    pub interrupted: bool,
}

impl RunReport {
    /// One summary line per flow, for stdout.
    pub fn summary(&self) -> Vec<String> {
        self.ends
            .iter()
            .map(|FlowEnd { flow, end }| match end {
                Ok(RunEnd::Done { items }) => format!("{flow}: done, {items} item(s)"),
                Ok(RunEnd::Standby) => {
                    format!("{flow}: another instance holds its lease; nothing ran")
                }
                Ok(RunEnd::Stopped) => format!("{flow}: stopped"),
                Err(error) => format!("{flow}: failed: {error}"),
            })
            .collect()
    }

    /// The command's result: a failed flow (exit 1, or 4 when the store failed), else an
    /// interruption (exit 130), else success.
    pub fn outcome(&self) -> Result<(), CliError> {
        let failed: Vec<&FlowEnd> = self.ends.iter().filter(|e| e.end.is_err()).collect();
        if !failed.is_empty() {
            return Err(CliError::Flows {
                store: failed
                    .iter()
                    .any(|e| matches!(e.end, Err(FlowError::Store(_)))),
                lines: failed
                    .iter()
                    .filter_map(|e| e.end.as_ref().err().map(|err| (e, err)))
                    .map(|(e, err)| format!("flow {} failed: {err}", e.flow))
                    .collect(),
            });
        }
        if self.interrupted {
            return Err(CliError::Interrupted);
        }
        Ok(())
    }
}

/// Runs `flows` over `store` concurrently until each ends (with `once`) or `shutdown`
/// completes. `options` makes each flow's [`RunOptions`] (`once` is set from the argument;
/// every flow gets the same lease holder, this process).
pub async fn run_flows<S: Store>(
    store: &S,
    flows: &[Box<dyn Flow<S>>],
    once: bool,
    options: &(dyn Fn() -> RunOptions + Sync),
    progress: &dyn Progress,
    shutdown: impl Future<Output = ()>,
) -> RunReport {
    let (stop, stopped) = watch::channel(false);
    let interrupted = AtomicBool::new(false);
    let holder = flow::default_holder();
    let runs = flows.iter().map(|flow| {
        let mut stopped = stopped.clone();
        let stop = &stop;
        let holder = holder.clone();
        async move {
            let options = RunOptions {
                once,
                holder,
                ..options()
            };
            let flow_shutdown = async move {
                // An error means the sender is gone: this function is over, stop too.
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let end = flow::run(store, flow.as_ref(), &options, progress, flow_shutdown).await;
            if let Err(error) = &end {
                tracing::error!(flow = flow.name(), %error, "flow failed");
                if !once {
                    stop.send_replace(true);
                }
            }
            FlowEnd {
                flow: flow.name().to_string(),
                end,
            }
        }
    });
    let all = join_all(runs);
    let watch_signal = async {
        shutdown.await;
        tracing::warn!("stopping: finishing the items in hand and releasing the leases");
        interrupted.store(true, Ordering::SeqCst);
        stop.send_replace(true);
        std::future::pending::<std::convert::Infallible>().await
    };
    let ends = tokio::select! {
        ends = all => ends,
        never = watch_signal => match never {},
    };
    RunReport {
        ends,
        interrupted: interrupted.load(Ordering::SeqCst),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use customer_data_sync::flow::{BoxFuture, NoProgress};
    use customer_data_sync::sqlite::SqliteStore;
    use customer_data_sync::{StoreError, flow::Progress};
    use tokio::sync::{Barrier, Notify};

    use super::*;
    use crate::error::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_STORE};

    /// What a test flow's pass does.
    enum Pass {
        /// Meets the other flows at the barrier (only possible if they run at once), then
        /// handles `items`.
        Meet(Arc<Barrier>, u64),
        /// Handles `items`, tells `passed`.
        Items(u64, Arc<Notify>),
        /// Fails with this error every time.
        Fail(fn() -> FlowError),
    }

    struct TestFlow {
        name: &'static str,
        pass: Pass,
        passes: AtomicU64,
    }

    fn test_flow(name: &'static str, pass: Pass) -> Box<dyn Flow<SqliteStore>> {
        Box::new(TestFlow {
            name,
            pass,
            passes: AtomicU64::new(0),
        })
    }

    impl Flow<SqliteStore> for TestFlow {
        fn name(&self) -> &str {
            self.name
        }

        fn pass<'a>(
            &'a self,
            _store: &'a SqliteStore,
            progress: &'a dyn Progress,
        ) -> BoxFuture<'a, Result<u64, FlowError>> {
            Box::pin(async move {
                self.passes.fetch_add(1, Ordering::SeqCst);
                match &self.pass {
                    Pass::Meet(barrier, items) => {
                        barrier.wait().await;
                        progress.advanced(self.name, *items);
                        Ok(*items)
                    }
                    Pass::Items(items, passed) => {
                        progress.advanced(self.name, *items);
                        passed.notify_one();
                        Ok(*items)
                    }
                    Pass::Fail(error) => Err(error()),
                }
            })
        }
    }

    fn quick_options() -> RunOptions {
        RunOptions {
            idle_wait: Duration::from_secs(3600),
            max_failures: 1,
            retry: customer_data::runtime::retry::RetryPolicy::default()
                .with_backoff(Duration::from_millis(1), Duration::from_millis(1)),
            ..RunOptions::default()
        }
    }

    async fn store() -> SqliteStore {
        SqliteStore::open(":memory:")
            .await
            .expect("in-memory store")
    }

    #[tokio::test]
    async fn flows_run_concurrently_and_once_ends_each_after_a_pass() {
        let store = store().await;
        // Each pass waits for the other at the barrier: one after the other would never end.
        let barrier = Arc::new(Barrier::new(2));
        let flows = vec![
            test_flow("a", Pass::Meet(barrier.clone(), 3)),
            test_flow("b", Pass::Meet(barrier, 4)),
        ];
        let report = tokio::time::timeout(
            Duration::from_secs(10),
            run_flows(
                &store,
                &flows,
                true,
                &quick_options,
                &NoProgress,
                std::future::pending(),
            ),
        )
        .await
        .expect("the flows ran at once");
        assert!(report.outcome().is_ok(), "{report:?}");
        assert_eq!(
            report.summary(),
            vec!["a: done, 3 item(s)", "b: done, 4 item(s)"]
        );
        let statuses = store.flow_statuses().await.unwrap();
        assert_eq!(statuses.iter().map(|s| s.items).collect::<Vec<_>>(), [3, 4]);
    }

    #[tokio::test]
    async fn shutdown_stops_every_flow_releases_the_leases_and_exits_130() {
        let store = store().await;
        let (a_passed, b_passed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let flows = vec![
            test_flow("a", Pass::Items(1, a_passed.clone())),
            test_flow("b", Pass::Items(1, b_passed.clone())),
        ];
        // "Ctrl-C" once both have passed and wait idle (an hour) for the next pass.
        let ctrl_c = async {
            a_passed.notified().await;
            b_passed.notified().await;
        };
        let report = tokio::time::timeout(
            Duration::from_secs(10),
            run_flows(&store, &flows, false, &quick_options, &NoProgress, ctrl_c),
        )
        .await
        .expect("stopped promptly");
        assert!(report.interrupted);
        assert_eq!(report.summary(), vec!["a: stopped", "b: stopped"]);
        let error = report.outcome().unwrap_err();
        assert_eq!(error.exit_code(), EXIT_INTERRUPTED);
        for flow in ["a", "b"] {
            let now = chrono_now_ms();
            assert!(
                store
                    .try_lease(flow, "another-instance", now, 60_000)
                    .await
                    .unwrap(),
                "the lease of {flow} was released"
            );
        }
    }

    fn chrono_now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    #[tokio::test]
    async fn a_flow_that_fails_for_good_stops_the_others_and_exits_1() {
        let store = store().await;
        let passed = Arc::new(Notify::new());
        let flows = vec![
            test_flow("steady", Pass::Items(1, passed)),
            test_flow(
                "broken",
                Pass::Fail(|| FlowError::Fatal("credentials refused".into())),
            ),
        ];
        let report = tokio::time::timeout(
            Duration::from_secs(10),
            run_flows(
                &store,
                &flows,
                false,
                &quick_options,
                &NoProgress,
                std::future::pending(),
            ),
        )
        .await
        .expect("the failure stopped the steady flow too");
        assert!(!report.interrupted);
        let error = report.outcome().unwrap_err();
        assert_eq!(error.exit_code(), EXIT_FAILED);
        assert_eq!(
            error.lines(),
            vec!["flow broken failed: cannot run: credentials refused"]
        );
        assert_eq!(report.summary()[0], "steady: stopped");
    }

    #[tokio::test]
    async fn a_store_failure_exits_4_and_a_once_run_lets_the_others_finish() {
        let store = store().await;
        let passed = Arc::new(Notify::new());
        let flows = vec![
            test_flow(
                "broken",
                Pass::Fail(|| FlowError::Store(StoreError::Database("disk I/O error".into()))),
            ),
            test_flow("steady", Pass::Items(2, passed)),
        ];
        let report = run_flows(
            &store,
            &flows,
            true,
            &quick_options,
            &NoProgress,
            std::future::pending(),
        )
        .await;
        assert_eq!(report.outcome().unwrap_err().exit_code(), EXIT_STORE);
        assert_eq!(report.summary()[1], "steady: done, 2 item(s)");
    }

    #[test]
    fn off_a_terminal_progress_is_tracing_lines_not_bars() {
        let ui = crate::ui::Ui::new(false);
        let progress = ui.flow_progress(&["a".to_string()], Duration::ZERO);
        assert!(matches!(progress, crate::ui::FlowProgress::Lines(_)));
        let lines = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || CaptureWriter(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            progress.advanced("a", 2);
            progress.advanced("a", 3);
        });
        let text = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
        assert!(text.contains("progress flow=\"a\" items=2"), "{text}");
        assert!(text.contains("progress flow=\"a\" items=5"), "{text}");
        assert!(!text.contains('\u{1b}'), "no escape codes: {text:?}");
    }

    struct CaptureWriter(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for CaptureWriter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
