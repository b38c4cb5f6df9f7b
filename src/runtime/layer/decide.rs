//! What the layer does after each attempt, decided by a pure function of what happened
//! ([`next_step`]): the attempt loop in `mod.rs` only sends, sleeps and renews credentials as
//! told, so every rule of the module docs is tested here without a server or a clock.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::runtime::retry::{self, RetryPolicy};
use crate::runtime::rules::FinalAnswerRule;

/// What the loop knows about a call after one of its attempts.
#[derive(Debug, Clone, Copy)]
pub struct AttemptState {
    /// The number of the attempt that just ended (1 for the first; a replay after a 401
    /// counts).
    pub attempt: u32,
    /// The request may be sent again after a failure: its method is idempotent or its
    /// service declares the operation retry-safe.
    pub retry_safe: bool,
    /// The request was already replayed once after a 401.
    pub replayed_after_401: bool,
    /// The request can be sent again at all (a streamed body cannot).
    pub resendable: bool,
    /// Time since the call started.
    pub elapsed: Duration,
    /// The operation deadline, as time from the call's start (`None`: unbounded). A retry
    /// whose wait would end past it is not made: the caller gets the last outcome now.
    pub deadline: Option<Duration>,
    /// The wall-clock time the attempt ended (for a `Retry-After` given as a date).
    pub now: SystemTime,
}

/// What one attempt ended with, as far as the decision needs it.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// A whole answer.
    Answer {
        status: StatusCode,
        headers: &'a HeaderMap,
        body: &'a [u8],
    },
    /// `401 Unauthorized` to a request sent with credentials.
    Unauthorized,
    /// No whole answer. `connect_failed`: the connection failed, so nothing reached the
    /// server. `final_cause`: trying again cannot help (a TLS failure, an answer over the
    /// size limit, a refused redirect).
    NoAnswer {
        connect_failed: bool,
        final_cause: bool,
    },
}

/// What the loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send the request again after `after`. `server_directed`: the wait is a 429's
    /// `Retry-After` (the server chose the pace: not charged to the budget, counted as
    /// rate-limited).
    Retry {
        after: Duration,
        server_directed: bool,
    },
    /// Forget the refused token, get a new one and send again at once (once per call).
    ReplayAfterReauth,
    /// Hand the outcome to the caller.
    Return,
}

/// The hold a 429 puts on every call of the client: its `Retry-After`, when the policy would
/// wait that long, unless the answer is final under `final_answer`.
pub fn rate_limit_hold(
    outcome: &Outcome<'_>,
    policy: &RetryPolicy,
    final_answer: FinalAnswerRule,
    now: SystemTime,
) -> Option<Duration> {
    let Outcome::Answer {
        status,
        headers,
        body,
    } = *outcome
    else {
        return None;
    };
    if status != StatusCode::TOO_MANY_REQUESTS || final_answer.is_final(status.as_u16(), body) {
        return None;
    }
    retry::retry_after(headers, now).filter(|asked| *asked <= policy.max_retry_after())
}

/// The next step after an attempt (see the module docs of [`super`] for the rules).
/// `withdraw` spends one retry of the client's budget; it is asked only for a retry the
/// budget pays for, after every other rule allowed it.
pub fn next_step(
    state: &AttemptState,
    outcome: &Outcome<'_>,
    policy: &RetryPolicy,
    final_answer: FinalAnswerRule,
    withdraw: &mut dyn FnMut() -> bool,
) -> Step {
    let (wait, server_directed) = match *outcome {
        Outcome::Unauthorized if !state.replayed_after_401 && state.resendable => {
            return Step::ReplayAfterReauth;
        }
        // A second 401 is the caller's answer.
        Outcome::Unauthorized => return Step::Return,
        Outcome::Answer {
            status,
            headers,
            body,
        } => {
            let rate_limited = status == StatusCode::TOO_MANY_REQUESTS;
            // A 429 was refused unprocessed: any request may go again.
            if !retry::is_retryable_status(status)
                || !(state.retry_safe || rate_limited)
                || final_answer.is_final(status.as_u16(), body)
            {
                return Step::Return;
            }
            match retry::retry_after(headers, state.now) {
                Some(asked) if asked > policy.max_retry_after() => {
                    tracing::debug!(
                        attempt = state.attempt,
                        status = status.as_u16(),
                        retry_after_s = asked.as_secs(),
                        "Retry-After beyond the policy's bound: not retrying"
                    );
                    return Step::Return;
                }
                Some(asked) => (asked, rate_limited),
                None => (policy.backoff(state.attempt), false),
            }
        }
        Outcome::NoAnswer {
            final_cause: true, ..
        } => return Step::Return,
        // Nothing reached the server when the connection failed: always safe.
        Outcome::NoAnswer { connect_failed, .. } if state.retry_safe || connect_failed => {
            (policy.backoff(state.attempt), false)
        }
        Outcome::NoAnswer { .. } => return Step::Return,
    };
    let deadline = match (policy.deadline(), state.deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let past_deadline =
        deadline.is_some_and(|deadline| state.elapsed.saturating_add(wait) > deadline);
    if !state.resendable
        || state.attempt >= policy.max_attempts()
        || past_deadline
        || !(server_directed || withdraw())
    {
        return Step::Return;
    }
    Step::Retry {
        after: wait,
        server_directed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    const FAULT: &[u8] = br#"<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>Invalid customer</faultstring></soap:Fault></soap:Body></soap:Envelope>"#;

    fn state(attempt: u32, retry_safe: bool) -> AttemptState {
        AttemptState {
            attempt,
            retry_safe,
            replayed_after_401: false,
            resendable: true,
            elapsed: Duration::ZERO,
            deadline: None,
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        }
    }

    /// Backoff of at most 10 ms, so a retry's wait is known to be below it.
    fn policy() -> RetryPolicy {
        RetryPolicy::default().with_backoff(Duration::from_millis(10), Duration::from_millis(10))
    }

    fn answer<'a>(status: u16, headers: &'a HeaderMap, body: &'a [u8]) -> Outcome<'a> {
        Outcome::Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body,
        }
    }

    fn retry_after(seconds: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(seconds).unwrap());
        headers
    }

    fn decide(state: &AttemptState, outcome: &Outcome<'_>, policy: &RetryPolicy) -> Step {
        next_step(
            state,
            outcome,
            policy,
            FinalAnswerRule::StatusDecides,
            &mut || true,
        )
    }

    fn is_backoff_retry(step: Step) -> bool {
        matches!(step, Step::Retry { after, server_directed: false } if after <= Duration::from_millis(10))
    }

    #[test]
    fn a_transient_answer_is_retried_only_when_the_request_is_retry_safe() {
        let headers = HeaderMap::new();
        for status in [408, 500, 502, 503, 504] {
            let outcome = answer(status, &headers, b"");
            assert!(is_backoff_retry(decide(
                &state(1, true),
                &outcome,
                &policy()
            )));
            assert_eq!(
                decide(&state(1, false), &outcome, &policy()),
                Step::Return,
                "{status}: a POST not declared retry-safe is not repeated"
            );
        }
        for status in [200, 400, 404, 409, 501] {
            let outcome = answer(status, &headers, b"");
            assert_eq!(decide(&state(1, true), &outcome, &policy()), Step::Return);
        }
    }

    #[test]
    fn no_answer_is_retried_when_safe_or_when_nothing_was_sent() {
        let cut_short = Outcome::NoAnswer {
            connect_failed: false,
            final_cause: false,
        };
        let refused = Outcome::NoAnswer {
            connect_failed: true,
            final_cause: false,
        };
        assert!(is_backoff_retry(decide(
            &state(1, true),
            &cut_short,
            &policy()
        )));
        assert_eq!(
            decide(&state(1, false), &cut_short, &policy()),
            Step::Return
        );
        assert!(is_backoff_retry(decide(
            &state(1, false),
            &refused,
            &policy()
        )));
    }

    #[test]
    fn a_401_is_replayed_once_after_renewing_the_token() {
        let mut first = state(1, false);
        assert_eq!(
            decide(&first, &Outcome::Unauthorized, &policy()),
            Step::ReplayAfterReauth,
            "even a request that is not retry-safe: the server refused it unprocessed"
        );
        first.replayed_after_401 = true;
        assert_eq!(
            decide(&first, &Outcome::Unauthorized, &policy()),
            Step::Return
        );
        let mut streamed = state(1, true);
        streamed.resendable = false;
        assert_eq!(
            decide(&streamed, &Outcome::Unauthorized, &policy()),
            Step::Return
        );
        // The replay is not charged to the attempts: it happens on the last one too.
        assert_eq!(
            decide(
                &state(4, false),
                &Outcome::Unauthorized,
                &policy().with_max_attempts(4)
            ),
            Step::ReplayAfterReauth
        );
    }

    #[test]
    fn a_429_waits_its_retry_after_for_any_request_free_of_the_budget() {
        let headers = retry_after("7");
        let outcome = answer(429, &headers, b"");
        let mut budget_asked = false;
        let step = next_step(
            &state(1, false),
            &outcome,
            &policy(),
            FinalAnswerRule::StatusDecides,
            &mut || {
                budget_asked = true;
                false
            },
        );
        assert_eq!(
            step,
            Step::Retry {
                after: Duration::from_secs(7),
                server_directed: true
            }
        );
        assert!(!budget_asked, "a wait the server asked for is not charged");
        assert_eq!(
            rate_limit_hold(
                &outcome,
                &policy(),
                FinalAnswerRule::StatusDecides,
                state(1, false).now
            ),
            Some(Duration::from_secs(7)),
            "the wait holds every call of the client"
        );
        // A 503's Retry-After is honoured too, but charged and holding nobody else.
        let unavailable = answer(503, &headers, b"");
        assert_eq!(
            decide(&state(1, true), &unavailable, &policy()),
            Step::Retry {
                after: Duration::from_secs(7),
                server_directed: false
            }
        );
        assert_eq!(
            rate_limit_hold(
                &unavailable,
                &policy(),
                FinalAnswerRule::StatusDecides,
                state(1, true).now
            ),
            None
        );
    }

    #[test]
    fn a_retry_after_beyond_the_bound_returns_the_answer() {
        let headers = retry_after("120");
        let outcome = answer(429, &headers, b"");
        let bounded = policy().with_max_retry_after(Duration::from_secs(60));
        assert_eq!(decide(&state(1, true), &outcome, &bounded), Step::Return);
        assert_eq!(
            rate_limit_hold(
                &outcome,
                &bounded,
                FinalAnswerRule::StatusDecides,
                state(1, true).now
            ),
            None,
            "a wait the client will not honour holds nobody"
        );
    }

    #[test]
    fn an_exhausted_budget_or_attempt_limit_returns() {
        let headers = HeaderMap::new();
        let outcome = answer(503, &headers, b"");
        let step = next_step(
            &state(1, true),
            &outcome,
            &policy(),
            FinalAnswerRule::StatusDecides,
            &mut || false,
        );
        assert_eq!(step, Step::Return, "no budget left");
        let limited = policy().with_max_attempts(3);
        assert!(is_backoff_retry(decide(
            &state(2, true),
            &outcome,
            &limited
        )));
        assert_eq!(decide(&state(3, true), &outcome, &limited), Step::Return);
        let mut streamed = state(1, true);
        streamed.resendable = false;
        assert_eq!(decide(&streamed, &outcome, &policy()), Step::Return);
    }

    #[test]
    fn a_soap_fault_is_a_final_answer_under_its_rule() {
        let headers = HeaderMap::new();
        let fault = answer(500, &headers, FAULT);
        let gateway_page = answer(500, &headers, b"<html>upstream error</html>");
        let soap = |outcome: &Outcome<'_>| {
            next_step(
                &state(1, true),
                outcome,
                &policy(),
                FinalAnswerRule::SoapFault,
                &mut || true,
            )
        };
        #[cfg(feature = "soap")]
        assert_eq!(soap(&fault), Step::Return);
        assert!(is_backoff_retry(soap(&gateway_page)));
        assert!(
            is_backoff_retry(decide(&state(1, true), &fault, &policy())),
            "where the status decides, a 500 is retried whatever its body"
        );
    }

    #[test]
    fn no_retry_waits_past_the_deadline() {
        let headers = retry_after("5");
        let outcome = answer(503, &headers, b"");
        let policy = policy().with_deadline(Duration::from_secs(10));
        let mut early = state(1, true);
        early.elapsed = Duration::from_secs(4);
        assert!(matches!(
            decide(&early, &outcome, &policy),
            Step::Retry { .. }
        ));
        let mut late = state(1, true);
        late.elapsed = Duration::from_secs(6);
        assert_eq!(decide(&late, &outcome, &policy), Step::Return);
    }

    #[test]
    fn a_final_cause_is_never_retried() {
        // A TLS failure is a failed connect, yet trying again cannot help.
        let tls = Outcome::NoAnswer {
            connect_failed: true,
            final_cause: true,
        };
        assert_eq!(decide(&state(1, true), &tls, &policy()), Step::Return);
    }

    #[test]
    fn no_retry_waits_past_the_operation_deadline() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        let limited = answer(429, &headers, b"");
        let mut call = state(1, true);
        call.elapsed = Duration::from_secs(1);
        call.deadline = Some(Duration::from_secs(3));
        assert_eq!(
            decide(&call, &limited, &policy()),
            Step::Return,
            "a 5 s wait would end past the deadline: the caller gets the 429 now"
        );
        call.deadline = Some(Duration::from_secs(10));
        assert_eq!(
            decide(&call, &limited, &policy()),
            Step::Retry {
                after: Duration::from_secs(5),
                server_directed: true
            }
        );
    }
}
