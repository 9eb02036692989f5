//! Retrying a connection that failed for a reason that may pass (the server is starting,
//! restarting, or out of connection slots). libpq has no such setting: the keys are jsonwire's
//! own (`connect_retry`, `connect_retry_attempts`, `connect_retry_backoff`,
//! `connect_retry_max_backoff`).

use std::fmt;
use std::time::Duration;

use super::duration::{self, MILLIS};
use crate::error::{Error, Result};

/// How connecting retries transient failures, with capped exponential backoff and jitter.
/// Off unless set with [`Config::connect_retry`](crate::Config::connect_retry) or the
/// `connect_retry` key (libpq never retries).
///
/// An attempt is one pass over the hosts (two with `prefer-standby`). When an attempt fails
/// and at least one host failed transiently — connection refused or reset, a missing Unix
/// socket, the server closing the connection during startup, SQLSTATE `57P03` (cannot connect
/// now: starting up, shutting down, in recovery) or `53300` (too many connections) — jsonwire
/// waits and tries again. Any other failure (a wrong password, an unknown database, a host name
/// that does not resolve) ends the connection attempt at once.
///
/// The budget bounds everything: no attempt starts after it, each attempt is cut off at its
/// end (on top of `connect_timeout`), and no wait outlasts it.
///
/// As keys: `connect_retry=30s` (the budget; a bare number is milliseconds, `0` is off),
/// `connect_retry_attempts=5`, `connect_retry_backoff=100ms`, `connect_retry_max_backoff=5s`.
///
/// ```
/// use std::time::Duration;
/// use jsonwire::{Config, ConnectRetry};
///
/// let mut config = Config::parse("host=db1,db2 target_session_attrs=read-write")?;
/// config.connect_retry(
///     ConnectRetry::new(Duration::from_secs(30))
///         .backoff(Duration::from_millis(100), Duration::from_secs(2)),
/// );
/// # Ok::<(), jsonwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectRetry {
    pub(super) budget: Duration,
    pub(super) max_attempts: u32,
    pub(super) initial_backoff: Duration,
    pub(super) max_backoff: Duration,
}

/// Off: a zero budget.
impl Default for ConnectRetry {
    fn default() -> ConnectRetry {
        ConnectRetry::new(Duration::ZERO)
    }
}

impl ConnectRetry {
    /// Retries for at most `budget` from the start of the first attempt, with no limit on the
    /// number of attempts, waiting 100 ms after the first failure and doubling up to 5 s. A
    /// zero budget is off.
    pub fn new(budget: Duration) -> ConnectRetry {
        ConnectRetry {
            budget,
            max_attempts: u32::MAX,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }

    /// At most `attempts` attempts in all (the first included; at least one).
    pub fn max_attempts(mut self, attempts: u32) -> ConnectRetry {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait after the first failed attempt, and the most any wait may grow to by doubling
    /// (never less than `initial`). Each wait is drawn at random between half its nominal
    /// value and all of it, so that clients that failed together do not come back together.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> ConnectRetry {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// The time allowed for all attempts and waits together.
    pub fn get_budget(&self) -> Duration {
        self.budget
    }

    /// The most attempts made, the first included.
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The first wait and the cap on waits, before jitter.
    pub fn get_backoff(&self) -> (Duration, Duration) {
        (self.initial_backoff, self.max_backoff)
    }

    /// Whether retrying is on: a non-zero budget.
    pub(crate) fn is_on(&self) -> bool {
        !self.budget.is_zero()
    }

    /// The wait after the `failures`-th failed attempt (1 for the first), given `unit`, a
    /// random number in `[0, 1)`: between half and all of `initial × 2^(failures-1)`, capped.
    pub(crate) fn delay(&self, failures: u32, unit: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let nominal = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff.max(self.initial_backoff));
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        let half = nominal / 2;
        half.saturating_add(half.mul_f64(unit))
    }
}

/// Sets one of the retry keys; `Ok(false)` if `key` is not one of them.
pub(super) fn set_key(retry: &mut ConnectRetry, key: &str, value: &str) -> Result<bool> {
    let bad = |what: &str| Error::config(format!("invalid {key} value: {value:?} ({what})"));
    let duration = || {
        duration::parse(value, MILLIS)
            .ok_or_else(|| bad("expected milliseconds or a duration like 5s"))
    };
    match key {
        "connect_retry" => retry.budget = duration()?,
        "connect_retry_backoff" => retry.initial_backoff = duration()?,
        "connect_retry_max_backoff" => retry.max_backoff = duration()?,
        "connect_retry_attempts" => {
            let attempts: u32 = value
                .trim()
                .parse()
                .map_err(|_| bad("expected a whole number"))?;
            retry.max_attempts = attempts.max(1);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The retry keys that differ from the defaults, each as `set_key` reads it back.
pub(super) fn fmt_keys(
    retry: &ConnectRetry,
    pair: &mut dyn FnMut(&str, &str) -> fmt::Result,
) -> fmt::Result {
    let d = ConnectRetry::default();
    for (key, value, default) in [
        ("connect_retry", retry.budget, d.budget),
        (
            "connect_retry_backoff",
            retry.initial_backoff,
            d.initial_backoff,
        ),
        (
            "connect_retry_max_backoff",
            retry.max_backoff,
            d.max_backoff,
        ),
    ] {
        if value != default {
            pair(key, &duration::format(value, MILLIS, 0))?;
        }
    }
    if retry.max_attempts != d.max_attempts {
        pair("connect_retry_attempts", &retry.max_attempts.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let retry = ConnectRetry::new(Duration::from_secs(60))
            .backoff(Duration::from_millis(100), Duration::from_millis(1000));
        let ms = |failures, unit| retry.delay(failures, unit).as_millis();
        assert_eq!(
            [1, 2, 3, 4, 5, 40].map(|n| ms(n, 0.0)),
            [50, 100, 200, 400, 500, 500]
        );
        assert_eq!(
            [1, 2, 3, 4, 5, 40].map(|n| ms(n, 0.999_999)),
            [99, 199, 399, 799, 999, 999]
        );
        assert_eq!(ms(3, 0.5), 300);
    }

    #[test]
    fn retry_keys_parse_and_print_back() {
        let c = crate::Config::parse(
            "connect_retry=30s connect_retry_attempts=5 connect_retry_backoff=50 \
             connect_retry_max_backoff=2s",
        )
        .unwrap();
        let retry = c.get_connect_retry().unwrap();
        assert_eq!(retry.get_budget(), Duration::from_secs(30));
        assert_eq!(retry.get_max_attempts(), 5);
        assert_eq!(
            retry.get_backoff(),
            (Duration::from_millis(50), Duration::from_secs(2))
        );
        let shown = c.to_string();
        assert_eq!(
            shown,
            "connect_retry=30s connect_retry_backoff=50ms connect_retry_max_backoff=2s \
             connect_retry_attempts=5"
        );
        assert_eq!(crate::Config::parse(&shown).unwrap(), c);
        assert!(crate::Config::parse("connect_retry=0")
            .unwrap()
            .get_connect_retry()
            .is_none());
        for bad in ["connect_retry=soon", "connect_retry_attempts=-1"] {
            let err = crate::Config::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid connect_retry"), "{err}");
        }
    }

    #[test]
    fn limits_are_sane_whatever_is_asked() {
        let retry = ConnectRetry::new(Duration::from_secs(1))
            .max_attempts(0)
            .backoff(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(retry.get_max_attempts(), 1);
        assert_eq!(retry.delay(3, 0.0), Duration::from_secs(1));
        assert!(!ConnectRetry::default().is_on() && retry.is_on());
        let huge = ConnectRetry::new(Duration::MAX).backoff(Duration::MAX, Duration::MAX);
        assert!(huge.delay(u32::MAX, 2.0) >= Duration::MAX / 2);
        assert_eq!(huge.delay(1, f64::NAN), Duration::MAX / 2);
    }
}
