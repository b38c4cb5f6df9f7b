//! What the benches share: a Consumer Intelligence client on the local sandbox, a raw token,
//! timed rounds of concurrent calls, and alternating comparisons.

#![allow(dead_code)] // each bench uses a part

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use customer_data::consumer_intelligence::{Client, Credentials, Environment, SLUG, connect};
use customer_data_sandbox::{Sandbox, credentials};

pub fn environment(sandbox: &Sandbox) -> Environment {
    let base_url = sandbox.url(SLUG);
    Environment::Custom {
        token_url: format!("{base_url}/oauth/token"),
        base_url,
    }
}

/// A client with the whole stack: token cache, layer, retries.
pub fn authed(sandbox: &Sandbox) -> Client {
    connect(
        environment(sandbox),
        Credentials::new(
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
            credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        ),
    )
    .expect("client")
}

/// An access token fetched by hand, for baselines without the runtime.
pub async fn raw_token(sandbox: &Sandbox) -> String {
    sandbox.consumer_intelligence_token().await.unwrap()
}

/// Calls per second for `calls` calls of `call`, `concurrency` at a time.
pub async fn round<C, F, Fut>(subject: &Arc<C>, calls: usize, concurrency: usize, call: F) -> f64
where
    C: Send + Sync + 'static,
    F: Fn(Arc<C>) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let per_worker = calls / concurrency;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let subject = subject.clone();
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    call(subject.clone()).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    (per_worker * concurrency) as f64 / started.elapsed().as_secs_f64()
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What [`compare`] measured: each round's rates of `a` and `b`, taken back to back.
pub struct Comparison {
    pub a_rates: Vec<f64>,
    pub b_rates: Vec<f64>,
}

impl Comparison {
    /// The median rate of `a`.
    pub fn a_median(&self) -> f64 {
        median(self.a_rates.clone())
    }

    /// The median rate of `b`.
    pub fn b_median(&self) -> f64 {
        median(self.b_rates.clone())
    }

    /// `a / b` of each round: the two ran back to back, so a round's ratio sees one load.
    pub fn ratios(&self) -> Vec<f64> {
        self.a_rates
            .iter()
            .zip(&self.b_rates)
            .map(|(a, b)| a / b)
            .collect()
    }

    /// Prints `figure <name> <median ratio>` and its spread over the rounds
    /// (`<name>_min`, `<name>_max`), plus both medians as `<a_name>` / `<b_name>`.
    pub fn print(&self, name: &str, a_name: &str, b_name: &str) {
        let ratios = self.ratios();
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!("figure {a_name} {:.0}", self.a_median());
        println!("figure {b_name} {:.0}", self.b_median());
        println!("figure {name} {:.3}", median(ratios.clone()));
        println!("figure {name}_min {min:.3}");
        println!("figure {name}_max {max:.3}");
        println!("figure {name}_rounds {}", ratios.len());
    }
}

/// `rounds` alternating measurements of `a` and `b` (who goes first alternates, so drift in
/// the machine's load hits both alike), after one warm-up of each.
pub async fn compare<A, B, FA, FB>(rounds: usize, mut a: A, mut b: B) -> Comparison
where
    A: FnMut() -> FA,
    B: FnMut() -> FB,
    FA: Future<Output = f64>,
    FB: Future<Output = f64>,
{
    a().await;
    b().await;
    let (mut a_rates, mut b_rates) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        if i % 2 == 0 {
            a_rates.push(a().await);
            b_rates.push(b().await);
        } else {
            b_rates.push(b().await);
            a_rates.push(a().await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Comparison { a_rates, b_rates }
}
