//! Choosing among several hosts, as libpq 16 does (`PQconnectPoll`'s `CONNECTION_CHECK_TARGET`
//! and `try_next_host`): the order they are tried in (`load_balance_hosts`), the checks a
//! server must pass before it is used (`requirepeer`, `target_session_attrs`), and jsonwire's
//! own retry of transient failures (`connect_retry`).

use std::error::Error as _;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use tokio::net::UnixStream;
use tokio::time::Instant;

use super::Conn;
use crate::config::{Host, LoadBalanceHosts, PasswordSource, Resolved, Target, TargetSessionAttrs};
use crate::error::{Error, ErrorKind, Result};
use crate::proto::backend::Message;
use crate::proto::frontend;

/// Connects to the first target that accepts and suits `target_session_attrs`, trying them in
/// `load_balance_hosts` order; with `prefer-standby`, a second pass takes any server. `open`
/// opens and authenticates one target. With `connect_retry`, a pass that failed transiently
/// is repeated after a backoff, within the budget.
///
/// Each attempt (open plus the check) is bounded by `connect_timeout` and by what is left of
/// the retry budget, so every wait here ends.
pub(crate) async fn connect_any<R, F, Fut>(
    resolved: &Resolved,
    rng: &mut R,
    mut open: F,
) -> Result<Box<Conn>>
where
    R: Rng + ?Sized,
    F: FnMut(Target) -> Fut,
    Fut: Future<Output = Result<Box<Conn>>>,
{
    let started = Instant::now();
    let deadline = resolved
        .connect_retry
        .map(|retry| started + retry.get_budget());
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let targets = order(&resolved.targets, resolved.load_balance_hosts, rng);
        let (errors, budget_spent) = match attempt(resolved, &targets, deadline, &mut open).await {
            Ok(conn) => return Ok(conn),
            Err(failed) => failed,
        };
        let Some(retry) = resolved.connect_retry else {
            return Err(combine(resolved, errors, None));
        };
        let gave_up = |why: String| {
            format!(
                "gave up after {attempts} attempt{} in {:.1?} ({why})",
                if attempts == 1 { "" } else { "s" },
                started.elapsed()
            )
        };
        let budget = || format!("connect_retry budget {:?}", retry.get_budget());
        if budget_spent {
            return Err(combine(resolved, errors, Some(gave_up(budget()))));
        }
        if !errors.iter().any(|(target, e)| is_transient(target, e)) {
            return Err(combine(resolved, errors, None));
        }
        if attempts >= retry.get_max_attempts() {
            let why = format!("connect_retry_attempts={}", retry.get_max_attempts());
            return Err(combine(resolved, errors, Some(gave_up(why))));
        }
        let delay = retry.delay(attempts, rng.gen::<f64>());
        if deadline.is_some_and(|d| Instant::now() + delay >= d) {
            return Err(combine(resolved, errors, Some(gave_up(budget()))));
        }
        tracing::debug!(attempts, ?delay, "connecting failed transiently; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// Each failed target with its last error, in the order tried, and whether the retry budget
/// ran out.
type Failed = (Vec<(Target, Error)>, bool);

/// One attempt: every target once (twice for `prefer-standby`), until one suits or the retry
/// budget runs out.
async fn attempt<F, Fut>(
    resolved: &Resolved,
    targets: &[Target],
    deadline: Option<Instant>,
    open: &mut F,
) -> Result<Box<Conn>, Failed>
where
    F: FnMut(Target) -> Fut,
    Fut: Future<Output = Result<Box<Conn>>>,
{
    let passes: &[TargetSessionAttrs] = match resolved.target_session_attrs {
        TargetSessionAttrs::PreferStandby => {
            &[TargetSessionAttrs::Standby, TargetSessionAttrs::Any]
        }
        TargetSessionAttrs::Any => &[TargetSessionAttrs::Any],
        TargetSessionAttrs::ReadWrite => &[TargetSessionAttrs::ReadWrite],
        TargetSessionAttrs::ReadOnly => &[TargetSessionAttrs::ReadOnly],
        TargetSessionAttrs::Primary => &[TargetSessionAttrs::Primary],
        TargetSessionAttrs::Standby => &[TargetSessionAttrs::Standby],
    };
    let mut errors: Vec<(Target, Error)> = Vec::new();
    for &want in passes {
        for target in targets {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) && !errors.is_empty() {
                return Err((errors, true));
            }
            // Which bound cuts the attempt: connect_timeout, or what is left of the budget.
            let (limit, by_budget) = match (resolved.connect_timeout, left) {
                (Some(timeout), Some(left)) if left < timeout => (Some(left), true),
                (None, Some(left)) => (Some(left), true),
                (timeout, _) => (timeout, false),
            };
            let one = async {
                let mut conn = open(target.clone()).await?;
                match mismatch(&mut conn, want).await? {
                    None => Ok(conn),
                    Some(reason) => {
                        conn.terminate().await;
                        Err(Error::new(
                            ErrorKind::Connect,
                            format!("the server at {target} does not suit target_session_attrs={}: {reason}", resolved.target_session_attrs.as_str()),
                        ))
                    }
                }
            };
            let result = match limit {
                Some(limit) => tokio::time::timeout(limit, one).await.unwrap_or_else(|_| {
                    let why = if by_budget {
                        "the connect_retry budget ran out"
                    } else {
                        "timed out"
                    };
                    Err(Error::new(
                        ErrorKind::Timeout,
                        format!("{why} after {limit:?} connecting to {target}"),
                    ))
                }),
                None => one.await,
            };
            match result {
                Ok(conn) => return Ok(conn),
                Err(e) => {
                    let e = explain_auth_error(e, resolved, target);
                    errors.retain(|(t, _)| t != target);
                    errors.push((target.clone(), e));
                    if by_budget && deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err((errors, true));
                    }
                }
            }
        }
    }
    Err((errors, false))
}

/// Why the server behind `conn` does not suit `want`, in libpq's words; `None` if it does.
/// The state comes from the `in_hot_standby` and `default_transaction_read_only` parameters
/// that Postgres 14+ reports at startup, else from a query, as libpq asks it.
async fn mismatch(conn: &mut Conn, want: TargetSessionAttrs) -> Result<Option<&'static str>> {
    let param = |conn: &Conn, name: &str| {
        let params = conn.params.lock().unwrap_or_else(|e| e.into_inner());
        params.get(name).map(|v| v == "on")
    };
    Ok(match want {
        TargetSessionAttrs::Any => None,
        TargetSessionAttrs::ReadWrite | TargetSessionAttrs::ReadOnly => {
            let read_only = match (
                param(conn, "default_transaction_read_only"),
                param(conn, "in_hot_standby"),
            ) {
                (Some(default_read_only), Some(standby)) => default_read_only || standby,
                _ => query_value(conn, "SHOW transaction_read_only")
                    .await?
                    .starts_with("on"),
            };
            match (want, read_only) {
                (TargetSessionAttrs::ReadWrite, true) => Some("session is read-only"),
                (TargetSessionAttrs::ReadOnly, false) => Some("session is not read-only"),
                _ => None,
            }
        }
        TargetSessionAttrs::Primary
        | TargetSessionAttrs::Standby
        | TargetSessionAttrs::PreferStandby => {
            let standby = match param(conn, "in_hot_standby") {
                Some(standby) => standby,
                None => query_value(conn, "SELECT pg_catalog.pg_is_in_recovery()")
                    .await?
                    .starts_with('t'),
            };
            match (want, standby) {
                (TargetSessionAttrs::Primary, true) => Some("server is in hot standby mode"),
                (TargetSessionAttrs::Primary, false) => None,
                (_, false) => Some("server is not in hot standby mode"),
                (_, true) => None,
            }
        }
    })
}

/// The single value `sql` returns, as text, through the simple query protocol.
async fn query_value(conn: &mut Conn, sql: &str) -> Result<String> {
    frontend::query(&mut conn.wbuf, sql)?;
    conn.flush().await?;
    let mut value = None;
    let mut error = None;
    loop {
        match conn.next_sync_message().await? {
            Message::RowDescription(_) | Message::CommandComplete(_) => {}
            Message::DataRow(row) => value = row.into_single_value()?,
            Message::ErrorResponse(db) => error = Some(db),
            Message::ReadyForQuery(status) => {
                conn.tx_status = status;
                break;
            }
            other => {
                return Err(Error::protocol(format!(
                    "unexpected {} in the answer to {sql:?}",
                    other.name()
                )))
            }
        }
    }
    if let Some(db) = error {
        return Err(Error::db(db)
            .with_kind(ErrorKind::Connect)
            .with_note(&format!("{sql:?} failed")));
    }
    let value =
        value.ok_or_else(|| Error::protocol(format!("no value in the answer to {sql:?}")))?;
    String::from_utf8(value.to_vec())
        .map_err(|_| Error::protocol(format!("the answer to {sql:?} is not UTF-8")))
}

/// Whether retrying may help: the server refused, reset or is not there yet (a missing Unix
/// socket), closed the connection during startup, or said it cannot accept connections now
/// (57P03) or has too many (53300).
fn is_transient(target: &Target, e: &Error) -> bool {
    if let Some(code) = e.code() {
        return matches!(code, "57P03" | "53300");
    }
    let mut source = e.source();
    while let Some(s) = source {
        if s.downcast_ref::<Error>()
            .is_some_and(|e| e.kind() == ErrorKind::Closed)
        {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted => true,
                std::io::ErrorKind::NotFound => matches!(target.host, Host::Unix(_)),
                _ => false,
            };
        }
        source = s.source();
    }
    false
}

/// The outcome of a failed connect: with one target, its error as it is (SQLSTATE and kind
/// kept); with several, one error listing each target's with its causes, of their common kind
/// (else `Connect`), and no source: the causes are several, and each is said once, in the
/// message. `note` says why retrying stopped.
fn combine(resolved: &Resolved, mut errors: Vec<(Target, Error)>, note: Option<String>) -> Error {
    if errors.len() == 1 {
        let (_, e) = errors.pop().expect("one error");
        return match note {
            Some(note) => e.with_note(&note),
            None => e,
        };
    }
    let Some((_, last)) = errors.last() else {
        return Error::new(
            ErrorKind::Connect,
            note.unwrap_or_else(|| "no host was tried".to_owned()),
        );
    };
    let kind = last.kind();
    let kind = if errors.iter().all(|(_, e)| e.kind() == kind) {
        kind
    } else {
        ErrorKind::Connect
    };
    let mut message = match resolved.target_session_attrs {
        TargetSessionAttrs::Any => format!("could not connect to any of {} hosts", errors.len()),
        attrs => format!(
            "no host accepted a connection with target_session_attrs={}",
            attrs.as_str()
        ),
    };
    for (i, (target, e)) in errors.iter().enumerate() {
        let sep = if i == 0 { ": " } else { "; " };
        let reason = one_line(e);
        // Most errors name their target already ("could not connect to h:5432: ...").
        let target = target.to_string();
        if reason.contains(&target) {
            message.push_str(&format!("{sep}{reason}"));
        } else {
            message.push_str(&format!("{sep}{target}: {reason}"));
        }
    }
    if let Some(note) = note {
        message.push_str(&format!("\n{note}"));
    }
    Error::new(kind, message)
}

/// The first line of `e` and of each of its sources, joined by ": ".
fn one_line(e: &Error) -> String {
    let mut line = e.to_string().lines().next().unwrap_or_default().to_owned();
    let mut source = e.source();
    while let Some(s) = source {
        line.push_str(": ");
        line.push_str(s.to_string().lines().next().unwrap_or_default());
        source = s.source();
    }
    line
}

/// The targets in the order to try them: as given, or shuffled by `rng` for
/// `load_balance_hosts=random` (libpq 16 shuffles the same way, once per connection).
pub(crate) fn order<R: Rng + ?Sized>(
    targets: &[Target],
    balance: LoadBalanceHosts,
    rng: &mut R,
) -> Vec<Target> {
    let mut targets = targets.to_vec();
    if balance == LoadBalanceHosts::Random {
        targets.shuffle(rng);
    }
    targets
}

/// `requirepeer`: the server behind the Unix socket at `path` must run as the operating-system
/// user `required`, which the kernel reports as the socket's peer (SO_PEERCRED), as libpq
/// checks it before sending the startup packet.
pub(crate) fn check_peer(socket: &UnixStream, path: &Path, required: &str) -> Result<()> {
    let cred = socket.peer_cred().map_err(|e| {
        Error::new(
            ErrorKind::Auth,
            format!(
                "requirepeer: could not get the peer credentials of {}",
                path.display()
            ),
        )
        .with_source(e)
    })?;
    let uid = cred.uid();
    let name = crate::config::user_name(uid).ok_or_else(|| {
        Error::new(
            ErrorKind::Auth,
            format!(
                "requirepeer specifies {required:?}, but the server at {} runs as user id {uid}, \
                 which has no name on this machine",
                path.display()
            ),
        )
    })?;
    if name != required {
        return Err(Error::new(
            ErrorKind::Auth,
            format!(
                "requirepeer specifies {required:?}, but the server at {} runs as {name:?}",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// An authentication error for `target`, with where its password came from when that
/// explains it: a password file that was ignored (libpq only warns on stderr), or the file a
/// rejected password was read from (as libpq says).
pub(crate) fn explain_auth_error(e: Error, resolved: &Resolved, target: &Target) -> Error {
    if e.kind() != ErrorKind::Auth {
        return e;
    }
    match resolved.password(target).1 {
        PasswordSource::PasswordFileIgnored { path, reason } => e.with_note(&format!(
            "the password file {} was ignored because {reason}",
            path.display()
        )),
        PasswordSource::PasswordFile(path) if e.code() == Some("28P01") => e.with_note(&format!(
            "the password was read from the password file {}",
            path.display()
        )),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use std::cell::RefCell;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::config::{Config, ConnectRetry};
    use crate::DbError;

    fn targets(n: u16) -> Vec<Target> {
        (0..n)
            .map(|port| Target {
                host: Host::Tcp {
                    name: "h".to_owned(),
                    addr: None,
                },
                port,
            })
            .collect()
    }

    fn ports(targets: &[Target]) -> Vec<u16> {
        targets.iter().map(|t| t.port).collect()
    }

    #[test]
    fn hosts_keep_their_order_unless_load_balancing_is_random() {
        let mut rng = StdRng::seed_from_u64(7);
        let given = targets(5);
        assert_eq!(
            ports(&order(&given, LoadBalanceHosts::Disable, &mut rng)),
            [0, 1, 2, 3, 4]
        );
        // Every order of three hosts turns up, each a fair share of the time.
        let mut seen = std::collections::HashMap::new();
        for _ in 0..6000 {
            let shuffled = ports(&order(&targets(3), LoadBalanceHosts::Random, &mut rng));
            *seen.entry(shuffled).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 6, "{seen:?}");
        assert!(seen.values().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        let one: HashSet<u16> = ports(&order(&given, LoadBalanceHosts::Random, &mut rng))
            .into_iter()
            .collect();
        assert_eq!(one.len(), 5);
    }

    fn resolve(config: &str, retry: Option<ConnectRetry>) -> Resolved {
        let mut config = Config::parse(config).unwrap();
        if let Some(retry) = retry {
            config.connect_retry(retry);
        }
        config
            .resolve(&|name| (name == "USER").then(|| "u".to_owned()))
            .unwrap()
    }

    fn refused() -> Error {
        Error::new(ErrorKind::Connect, "could not connect")
            .with_source(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
    }

    fn server_error(code: &str) -> Error {
        Error::db(Box::new(DbError {
            severity: "FATAL".into(),
            code: code.into(),
            message: format!("failed with {code}"),
            ..DbError::default()
        }))
    }

    /// Runs the host loop with `fail` as every connection attempt; returns the error and
    /// the targets tried, in order.
    async fn run(resolved: &Resolved, fail: impl Fn(u16) -> Error) -> (Error, Vec<u16>) {
        let tried = RefCell::new(Vec::new());
        let err = connect_any(resolved, &mut StdRng::seed_from_u64(1), |target| {
            tried.borrow_mut().push(target.port);
            let e = fail(target.port);
            async move { Err(e) }
        })
        .await
        .map(|_| ())
        .unwrap_err();
        (err, tried.into_inner())
    }

    #[tokio::test(start_paused = true)]
    async fn without_retry_each_host_is_tried_once_and_one_hosts_error_is_returned_as_is() {
        let (err, tried) = run(&resolve("host=h port=1", None), |_| server_error("57P03")).await;
        assert_eq!(tried, [1]);
        assert_eq!(err.code(), Some("57P03"));
        let (err, tried) = run(&resolve("host=a,b port=1,2", None), |port| {
            if port == 1 {
                refused()
            } else {
                server_error("28P01")
            }
        })
        .await;
        assert_eq!(tried, [1, 2]);
        assert_eq!(err.kind(), ErrorKind::Connect);
        assert_eq!(
            err.to_string(),
            "could not connect to any of 2 hosts: a:1: could not connect: connection refused; \
             b:2: FATAL 28P01: failed with 28P01"
        );
        assert!(err.source().is_none(), "each cause is in the message once");
    }

    #[tokio::test(start_paused = true)]
    async fn prefer_standby_makes_a_second_pass() {
        let resolved = resolve(
            "host=a,b port=1,2 target_session_attrs=prefer-standby",
            None,
        );
        let (_, tried) = run(&resolved, |_| refused()).await;
        assert_eq!(tried, [1, 2, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_with_growing_waits_until_the_attempts_run_out() {
        let retry = ConnectRetry::new(Duration::from_secs(3600))
            .max_attempts(4)
            .backoff(Duration::from_millis(100), Duration::from_secs(1));
        let started = Instant::now();
        let io = |kind: std::io::ErrorKind| {
            move || Error::io("reading from the server", std::io::Error::from(kind))
        };
        let closed = || {
            Error::new(
                ErrorKind::Connect,
                "the server at b:2 closed the connection during startup",
            )
            .with_source(Error::new(
                ErrorKind::Closed,
                "the server closed the connection",
            ))
        };
        let transients: [&dyn Fn() -> Error; 6] = [
            &refused,
            &closed,
            &io(std::io::ErrorKind::ConnectionReset),
            &io(std::io::ErrorKind::ConnectionAborted),
            &|| server_error("57P03"),
            &|| server_error("53300"),
        ];
        for transient in transients {
            let message = transient().to_string();
            let resolved = resolve("host=a,b port=1,2", Some(retry));
            let (err, tried) = run(&resolved, |port| {
                if port == 1 {
                    server_error("3D000")
                } else {
                    transient()
                }
            })
            .await;
            assert_eq!(tried, [1, 2, 1, 2, 1, 2, 1, 2], "{message}");
            assert!(
                err.to_string().contains("\ngave up after 4 attempts in "),
                "{err}"
            );
        }
        // Three waits per run, each between half and all of 100, 200 and 400 ms.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(6 * 350) && waited <= Duration::from_millis(6 * 700),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_failure_is_not_retried_and_the_budget_bounds_the_rest() {
        let retry = ConnectRetry::new(Duration::from_secs(2))
            .backoff(Duration::from_millis(100), Duration::from_millis(400));
        for code in ["28P01", "3D000", "28000"] {
            let (err, tried) = run(&resolve("host=h port=1", Some(retry)), |_| {
                server_error(code)
            })
            .await;
            assert_eq!((tried.len(), err.code()), (1, Some(code)));
        }
        let not_found = |what: &str| {
            Error::new(ErrorKind::Connect, what)
                .with_source(std::io::Error::from(std::io::ErrorKind::NotFound))
        };
        let (_, tried) = run(&resolve("host=h port=1", Some(retry)), |_| {
            not_found("the host name resolved to no address")
        })
        .await;
        assert_eq!(tried.len(), 1, "a host name that does not resolve is final");
        let (_, tried) = run(&resolve("host=/nowhere port=1", Some(retry)), |_| {
            not_found("no socket")
        })
        .await;
        assert!(tried.len() > 1, "a missing Unix socket is retried");

        let started = Instant::now();
        let (err, tried) = run(&resolve("host=h port=1", Some(retry)), |_| refused()).await;
        assert!(
            started.elapsed() <= Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(tried.len() >= 6, "{tried:?}");
        assert!(
            err.to_string().ends_with("(connect_retry budget 2s)"),
            "{err}"
        );
    }

    #[test]
    fn the_host_loop_is_send() {
        fn send<T: Send>(_: T) {}
        let resolved = resolve("host=h", None);
        send(connect_any(
            &resolved,
            &mut StdRng::seed_from_u64(1),
            |_| async { Err::<Box<Conn>, _>(refused()) },
        ));
    }
}
