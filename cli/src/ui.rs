//! What the user sees while work runs: progress bars (indicatif) when stderr is a terminal,
//! plain `tracing` lines otherwise (logs, pipes, CI), so no escape codes reach a file.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use customer_data_sync::flow::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;

/// Where progress goes.
#[derive(Debug, Clone, Default)]
pub struct Ui {
    /// The bars' area on stderr; `None` off a terminal (no bars at all).
    pub multi: Option<MultiProgress>,
}

impl Ui {
    /// Bars when `terminal` (stderr is a terminal), lines otherwise.
    pub fn new(terminal: bool) -> Self {
        Ui {
            multi: terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A bar of `length` steps, or a hidden one off a terminal.
    pub fn bar(&self, length: u64, message: &'static str) -> ProgressBar {
        match &self.multi {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new(length));
                bar.set_style(
                    ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_message(message);
                bar
            }
            None => ProgressBar::hidden(),
        }
    }

    /// The progress of the named flows: a spinner per flow on a terminal, a `tracing` line
    /// per flow at most every `interval` otherwise.
    pub fn flow_progress(&self, flows: &[String], interval: Duration) -> FlowProgress {
        match &self.multi {
            Some(multi) => {
                let style = ProgressStyle::with_template("{spinner} {prefix}: {pos} item(s)")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
                let bars = flows
                    .iter()
                    .map(|flow| {
                        let bar = multi.add(ProgressBar::new_spinner());
                        bar.set_style(style.clone());
                        bar.set_prefix(flow.clone());
                        bar.enable_steady_tick(Duration::from_millis(200));
                        (flow.clone(), bar)
                    })
                    .collect();
                FlowProgress::Bars(bars)
            }
            None => FlowProgress::Lines(LineProgress {
                interval,
                flows: flows
                    .iter()
                    .map(|flow| (flow.clone(), (AtomicU64::new(0), Mutex::new(None))))
                    .collect(),
            }),
        }
    }
}

/// A flow's items since the run started, and when a line was last written for it.
type LineState = (AtomicU64, Mutex<Option<Instant>>);

/// [`Progress`] off a terminal: `tracing` lines, at most one per flow per interval.
#[derive(Debug)]
pub struct LineProgress {
    interval: Duration,
    flows: HashMap<String, LineState>,
}

/// The progress of a run of flows.
#[derive(Debug)]
pub enum FlowProgress {
    /// A spinner per flow (terminal).
    Bars(HashMap<String, ProgressBar>),
    /// Lines (no terminal).
    Lines(LineProgress),
}

impl FlowProgress {
    /// Stops the spinners (they stay on screen with their last count).
    pub fn finish(&self) {
        if let FlowProgress::Bars(bars) = self {
            for bar in bars.values() {
                bar.finish();
            }
        }
    }
}

impl Progress for FlowProgress {
    fn advanced(&self, flow: &str, items: u64) {
        match self {
            FlowProgress::Bars(bars) => {
                if let Some(bar) = bars.get(flow) {
                    bar.inc(items);
                }
            }
            FlowProgress::Lines(lines) => {
                let Some((count, last)) = lines.flows.get(flow) else {
                    return;
                };
                let total = count.fetch_add(items, Ordering::Relaxed) + items;
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                let due = last.is_none_or(|at| at.elapsed() >= lines.interval);
                if due {
                    *last = Some(Instant::now());
                    tracing::info!(flow, items = total, "progress");
                }
            }
        }
    }
}

/// A `tracing` writer to stderr that hides the bars while it writes a line (else lines and
/// bars garble each other on a terminal).
#[derive(Debug, Clone, Default)]
pub struct StderrWriter {
    multi: Option<MultiProgress>,
}

impl StderrWriter {
    /// Writes around the bars of `ui`.
    pub fn new(ui: &Ui) -> Self {
        StderrWriter {
            multi: ui.multi.clone(),
        }
    }
}

/// One event's text, written whole when dropped.
#[derive(Debug)]
pub struct EventWriter<'a> {
    multi: Option<&'a MultiProgress>,
    buffer: Vec<u8>,
}

impl Write for EventWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter<'_> {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        let write = || {
            // Nothing sensible to do if stderr is gone.
            let _ = io::stderr().lock().write_all(&buffer);
        };
        match self.multi {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }
}

impl<'a> MakeWriter<'a> for StderrWriter {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            multi: self.multi.as_ref(),
            buffer: Vec::new(),
        }
    }
}
