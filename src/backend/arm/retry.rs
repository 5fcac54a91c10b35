//! When to try a request again, as data.
//!
//! Every failure of one attempt is classified here, and nowhere else. A retryable case names
//! its reason, which ends up in the final error ("gave up after 4 retries over 9.2s: throttled
//! (429)") and in `debug!` logs. The rules:
//!
//! | failure | retried | why |
//! | --- | --- | --- |
//! | 429 Too Many Requests | always, after `Retry-After` | ARM throttled the request before doing anything |
//! | 503 Service Unavailable | always, after `Retry-After` | the service refused the request before doing anything |
//! | 500, 502, 504 | idempotent requests only | the request may have been carried out; repeating a PUT is harmless, a POST may not be |
//! | 401 once | always, with a fresh token | the token expired or was revoked between reading it and using it |
//! | connection refused, unknown host, host unreachable | a few times, quickly | nothing was sent, and a host that is not there seldom appears within seconds |
//! | connecting timed out | always | nothing was sent; the network may be slow |
//! | TLS handshake failed (untrusted certificate, …) | never | trying again gets the same certificate |
//! | connection reset, timeout, cut response | idempotent requests only | the service may have received the request |
//! | anything else | never | the answer is final (400, 403, 404, 409, …) |
//!
//! Throttling (429, and 503 with `Retry-After`) is the service pacing its clients, not a
//! failure: it is retried up to [`RetryPolicy::max_throttled`] times, within the time budget;
//! a connection that could not be made up to [`RetryPolicy::max_unreachable`] times; every
//! other case up to [`RetryPolicy::max_retries`] times.

use std::time::Duration;

/// What happened to one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The service answered with a non-success status.
    Status {
        status: u16,
        /// The `Retry-After` header, in seconds (or as an HTTP date converted to a delay).
        retry_after: Option<Duration>,
    },
    /// The connection could not be made (refused, unknown host, host unreachable): nothing
    /// was sent.
    Connect,
    /// Connecting took longer than the client's connect timeout: nothing was sent.
    ConnectTimeout,
    /// The TLS handshake failed (the certificate is not trusted, or the peer does not speak
    /// TLS): nothing was sent, and trying again meets the same certificate.
    Tls,
    /// The connection was reset, the response was cut or did not come in time.
    Interrupted,
}

/// The decision about a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Try again after `after` (the server's `Retry-After`), or after the policy's backoff.
    Retry {
        reason: &'static str,
        after: Option<Duration>,
        /// Get a new token before the next attempt.
        refresh_token: bool,
        /// Which of the policy's limits the retry counts against.
        kind: RetryKind,
    },
    /// The failure is final.
    Final,
}

/// The limit a retry counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryKind {
    /// A failure that may pass: [`RetryPolicy::max_retries`].
    Failure,
    /// The service asked to slow down (429, 503): [`RetryPolicy::max_throttled`].
    Throttled,
    /// No connection could be made: [`RetryPolicy::max_unreachable`].
    Unreachable,
}

/// How a client retries.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for failures other than throttling.
    pub max_retries: u32,
    /// Retries of a throttled request; the budget usually ends them first.
    pub max_throttled: u32,
    /// Retries of a request that could not connect (refused, unknown host): a few, so that a
    /// wrong or stopped endpoint is reported within seconds.
    pub max_unreachable: u32,
    /// The first backoff; each later one doubles, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured as given; longer ones are cut to this.
    pub max_retry_after: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            max_throttled: 40,
            // With the backoff below: waits of about 0.5, 1 and 2 seconds.
            max_unreachable: 3,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            budget: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// Classifies the failure of attempt number `attempt` (0 for the first) of a request.
    pub fn classify(&self, failure: &Failure, idempotent: bool, attempt: u32) -> Verdict {
        let retry = |reason, after| Verdict::Retry {
            reason,
            after,
            refresh_token: false,
            kind: RetryKind::Failure,
        };
        let throttled = |reason, after| Verdict::Retry {
            reason,
            after,
            refresh_token: false,
            kind: RetryKind::Throttled,
        };
        match failure {
            Failure::Status {
                status: 429,
                retry_after,
            } => throttled("throttled (429)", *retry_after),
            Failure::Status {
                status: 503,
                retry_after,
            } => throttled("service unavailable (503)", *retry_after),
            Failure::Status {
                status: status @ (500 | 502 | 504),
                retry_after,
            } if idempotent => retry(server_error_reason(*status), *retry_after),
            Failure::Status { status: 401, .. } if attempt == 0 => Verdict::Retry {
                reason: "token refused (401)",
                after: Some(Duration::ZERO),
                refresh_token: true,
                kind: RetryKind::Failure,
            },
            Failure::Connect => Verdict::Retry {
                reason: "could not connect",
                after: None,
                refresh_token: false,
                kind: RetryKind::Unreachable,
            },
            Failure::ConnectTimeout => retry("connecting timed out", None),
            Failure::Tls => Verdict::Final,
            Failure::Interrupted if idempotent => retry("connection reset or timed out", None),
            _ => Verdict::Final,
        }
    }

    /// The wait before retry number `retry` (1 for the first), `server` being the
    /// `Retry-After` the service asked for.
    pub fn delay(&self, retry: u32, server: Option<Duration>) -> Duration {
        if let Some(after) = server {
            return after.min(self.max_retry_after);
        }
        let doubled = self
            .base_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let capped = doubled.min(self.max_backoff);
        // Up to a quarter less, so clients throttled together do not retry together.
        capped - capped.mul_f64(jitter() * 0.25)
    }
}

fn server_error_reason(status: u16) -> &'static str {
    match status {
        500 => "server error (500)",
        502 => "bad gateway (502)",
        _ => "gateway timeout (504)",
    }
}

/// A number in [0, 1) that differs between calls; good enough to spread retries.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default(),
    );
    (hasher.finish() % 10_000) as f64 / 10_000.0
}

/// Reads a `Retry-After` header: seconds, or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let format = time::format_description::well_known::Rfc2822;
    let at = time::OffsetDateTime::parse(value, &format).ok()?;
    let wait = at - time::OffsetDateTime::now_utc();
    Some(wait.try_into().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Failure {
        Failure::Status {
            status,
            retry_after: None,
        }
    }

    fn reason(verdict: Verdict) -> Option<&'static str> {
        match verdict {
            Verdict::Retry { reason, .. } => Some(reason),
            Verdict::Final => None,
        }
    }

    #[test]
    fn classifies_failures() {
        let policy = RetryPolicy::default();
        let table: &[(Failure, bool, Option<&str>)] = &[
            (status(429), false, Some("throttled (429)")),
            (status(503), false, Some("service unavailable (503)")),
            (status(500), true, Some("server error (500)")),
            (status(500), false, None),
            (status(502), true, Some("bad gateway (502)")),
            (status(504), true, Some("gateway timeout (504)")),
            (status(400), true, None),
            (status(404), true, None),
            (status(409), true, None),
            (status(403), true, None),
            (Failure::Connect, false, Some("could not connect")),
            (Failure::ConnectTimeout, false, Some("connecting timed out")),
            (Failure::Tls, true, None),
            (
                Failure::Interrupted,
                true,
                Some("connection reset or timed out"),
            ),
            (Failure::Interrupted, false, None),
        ];
        for (failure, idempotent, expected) in table {
            assert_eq!(
                reason(policy.classify(failure, *idempotent, 1)),
                *expected,
                "{failure:?} idempotent={idempotent}"
            );
        }
    }

    #[test]
    fn each_kind_of_retry_has_its_own_limit() {
        let policy = RetryPolicy::default();
        let kind = |failure: &Failure| match policy.classify(failure, true, 1) {
            Verdict::Retry { kind, .. } => Some(kind),
            Verdict::Final => None,
        };
        assert_eq!(kind(&status(429)), Some(RetryKind::Throttled));
        assert_eq!(kind(&status(503)), Some(RetryKind::Throttled));
        assert_eq!(kind(&status(502)), Some(RetryKind::Failure));
        assert_eq!(kind(&Failure::Interrupted), Some(RetryKind::Failure));
        assert_eq!(kind(&Failure::ConnectTimeout), Some(RetryKind::Failure));
        assert_eq!(kind(&Failure::Connect), Some(RetryKind::Unreachable));
        assert_eq!(kind(&Failure::Tls), None);
        // A connection that cannot be made is given up within a few seconds.
        let waits: Duration = (1..=policy.max_unreachable)
            .map(|retry| policy.delay(retry, None))
            .sum();
        assert!(waits <= Duration::from_secs(4), "{waits:?}");
    }

    #[test]
    fn a_refused_token_is_refreshed_once() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.classify(&status(401), false, 0),
            Verdict::Retry {
                reason: "token refused (401)",
                after: Some(Duration::ZERO),
                refresh_token: true,
                kind: RetryKind::Failure,
            }
        );
        assert_eq!(policy.classify(&status(401), false, 1), Verdict::Final);
    }

    #[test]
    fn honours_retry_after_and_backs_off() {
        let policy = RetryPolicy::default();
        let throttled = Failure::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
        };
        let Verdict::Retry { after, .. } = policy.classify(&throttled, false, 0) else {
            panic!("429 is retried");
        };
        assert_eq!(policy.delay(1, after), Duration::from_secs(7));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            policy.max_retry_after
        );
        let first = policy.delay(1, None);
        assert!(first <= policy.base_backoff && first >= policy.base_backoff.mul_f64(0.75));
        let fourth = policy.delay(4, None);
        assert!(
            fourth <= policy.base_backoff * 8 && fourth >= (policy.base_backoff * 8).mul_f64(0.75)
        );
        assert!(policy.delay(30, None) <= policy.max_backoff);
    }

    #[test]
    fn reads_retry_after() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
    }
}
