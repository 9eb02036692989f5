//! Opening a connection: socket, StartupMessage, authentication, until ReadyForQuery.

use std::future::poll_fn;
use std::time::Duration;

use base64::Engine;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use tokio::net::{TcpStream, UnixStream};

use super::cancel::{CancelAddr, CancelToken};
use super::hosts;
use super::tls::{self, TlsConnect};
use super::{scram_key, Conn, Socket, Tuning};
use crate::config::{Config, Host, LoadBalanceHosts, Resolved, SslCertMode, SslMode, Target};
use crate::error::{Error, ErrorKind, Result};
use crate::proto::backend::Message;
use crate::proto::startup::{Encryption, Session, Startup, StartupSettings, Step};

const DEFAULT_CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the first target that accepts and suits `target_session_attrs`, like libpq
/// (see [`hosts::connect_any`]).
pub(crate) async fn connect(config: &Config, tuning: Tuning) -> Result<Box<Conn>> {
    let resolved = config.resolve(&|key| std::env::var(key).ok())?;
    if resolved.targets.is_empty() {
        return Err(Error::config("no host to connect to"));
    }
    let resolved = &resolved;
    hosts::connect_any(resolved, &mut StdRng::from_entropy(), |target| {
        let tuning = tuning.clone();
        async move { connect_target(resolved, &target, tuning).await }
    })
    .await
}

fn describe(target: &Target) -> String {
    match &target.host {
        Host::Tcp { name, .. } if name.contains(':') => format!("[{name}]:{}", target.port),
        Host::Tcp { name, .. } => format!("{name}:{}", target.port),
        Host::Unix(dir) => format!("{}/.s.PGSQL.{}", dir.display(), target.port),
    }
}

async fn open_socket(
    resolved: &Resolved,
    target: &Target,
    tuning: &Tuning,
) -> Result<(Socket, CancelAddr)> {
    let fail = |e: std::io::Error| {
        Error::new(
            ErrorKind::Connect,
            format!("could not connect to {}", describe(target)),
        )
        .with_source(e)
    };
    match &target.host {
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{}", target.port));
            let s = UnixStream::connect(&path).await.map_err(fail)?;
            if let Some(user) = &resolved.requirepeer {
                hosts::check_peer(&s, &path, user)?;
            }
            Ok((Socket::Unix(s), CancelAddr::Unix(path)))
        }
        Host::Tcp { name, addr } => {
            let mut addrs: Vec<std::net::SocketAddr> = match addr {
                Some(ip) => vec![(*ip, target.port).into()],
                None => tokio::net::lookup_host((name.as_str(), target.port))
                    .await
                    .map_err(fail)?
                    .collect(),
            };
            if resolved.load_balance_hosts == LoadBalanceHosts::Random {
                addrs.shuffle(&mut rand::thread_rng());
            }
            let mut last = None;
            for a in addrs {
                match TcpStream::connect(a).await {
                    Ok(s) => {
                        // Queries go out in one write; Nagle would only delay them.
                        s.set_nodelay(true).map_err(fail)?;
                        super::keepalive::apply(&s, tuning).map_err(fail)?;
                        return Ok((Socket::Tcp(s), CancelAddr::Tcp(a)));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(fail(last.unwrap_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the host name resolved to no address",
                )
            })))
        }
    }
}

/// One way of trying a target, in libpq's order for the `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Plain,
    /// TLS; `fallback` lets a server that refuses it (`N`) go on in plaintext (`prefer`).
    Tls {
        fallback: bool,
    },
}

/// libpq's plan (`select_next_encryption_method`): `allow` tries plaintext first and TLS if
/// the server rejects it, `prefer` the reverse; TLS is never tried on a Unix socket, whatever
/// `sslmode` says.
fn plan(resolved: &Resolved, target: &Target) -> &'static [Attempt] {
    if matches!(target.host, Host::Unix(_)) {
        return &[Attempt::Plain];
    }
    match resolved.tls.configured_mode {
        SslMode::Disable => &[Attempt::Plain],
        SslMode::Allow => &[Attempt::Plain, Attempt::Tls { fallback: false }],
        SslMode::Prefer => &[Attempt::Tls { fallback: true }, Attempt::Plain],
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            &[Attempt::Tls { fallback: false }]
        }
    }
}

async fn connect_target(resolved: &Resolved, target: &Target, tuning: Tuning) -> Result<Box<Conn>> {
    let attempts = plan(resolved, target);
    let mut last = None;
    for (i, &attempt) in attempts.iter().enumerate() {
        match connect_once(resolved, target, tuning.clone(), attempt).await {
            Ok(conn) => return Ok(conn),
            Err(failure) => {
                let retry = failure.retry && i + 1 < attempts.len();
                let e = connect_error(target, failure.error);
                if !retry {
                    return Err(e);
                }
                tracing::debug!(error = %e, ?attempt, "retrying with the other encryption (sslmode)");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::config("no connection attempt was possible")))
}

/// A failed attempt; `retry` when libpq would try the next encryption method: the TLS
/// handshake failed, or the server rejected the connection before authentication completed.
struct Failure {
    error: Error,
    retry: bool,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            error,
            retry: false,
        }
    }
}

async fn connect_once(
    resolved: &Resolved,
    target: &Target,
    tuning: Tuning,
    attempt: Attempt,
) -> std::result::Result<Box<Conn>, Failure> {
    let tls = match (attempt, &target.host) {
        (Attempt::Tls { .. }, Host::Tcp { name, .. }) => {
            Some(TlsConnect::new(&resolved.tls, name)?)
        }
        _ => None,
    };
    let (socket, cancel_addr) = open_socket(resolved, target, &tuning).await?;
    let mut conn = Box::new(Conn::new(socket, tuning));
    let settings = startup_settings(resolved, target);
    let encryption = match &tls {
        None => Encryption::Plain,
        Some(tls) if tls.direct => Encryption::DirectTls,
        Some(_) => Encryption::SslRequest,
    };
    let mut machine = Startup::new(settings, encryption);
    if encryption == Encryption::DirectTls {
        if let Some(tls) = &tls {
            upgrade(&mut conn, &mut machine, tls)
                .await
                .map_err(|error| Failure { error, retry: true })?;
        }
    }
    let fallback = matches!(attempt, Attempt::Tls { fallback: true });
    let mut handshake_failed = false;
    let result = drive(
        &mut conn,
        &mut machine,
        tls.as_ref(),
        fallback,
        &mut handshake_failed,
    )
    .await;
    let session = result.map_err(|error| Failure {
        retry: handshake_failed || machine.server_rejected(),
        error: match (&tls, conn.socket.is_tls()) {
            (Some(tls), true) => tls_read_error(error, tls),
            _ => error,
        },
    })?;
    if resolved.tls.policy.cert_mode == SslCertMode::Require && !conn.socket.is_tls() {
        return Err(Error::new(
            ErrorKind::Connect,
            "server did not request an SSL certificate (sslcertmode=require): the connection \
             does not use TLS",
        )
        .into());
    }
    conn.tx_status = session.tx_status;
    if let Some(key) = session.backend_key {
        conn.cancel = Some(CancelToken {
            addr: cancel_addr,
            pid: key.pid,
            secret: key.secret,
            timeout: (conn.tuning.cancel_timeout)
                .or(resolved.connect_timeout)
                .unwrap_or(DEFAULT_CANCEL_TIMEOUT),
            tls: tls.filter(|_| conn.socket.is_tls()),
        });
    }
    Ok(conn)
}

/// Hands the TCP socket to the TLS handshake and tells the machine.
async fn upgrade(conn: &mut Conn, machine: &mut Startup, tls: &TlsConnect) -> Result<()> {
    let Socket::Tcp(tcp) = std::mem::replace(&mut conn.socket, Socket::Upgrading) else {
        return Err(Error::protocol("TLS requested on a socket that is not TCP"));
    };
    let stream = tls.handshake(tcp).await?;
    machine.tls_established(tls::server_certificate(&stream))?;
    conn.socket = Socket::Tls(Box::new(stream));
    Ok(())
}

/// A read error on a TLS connection during startup, named after the TLS alert behind it: with
/// TLS 1.3 the server's rejection of a client certificate arrives after the handshake.
fn tls_read_error(e: Error, tls: &TlsConnect) -> Error {
    use std::error::Error as _;
    let inner = e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(|io| io.get_ref())
        .and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls_error) => Error::new(ErrorKind::Connect, tls::describe(rustls_error, tls)),
        None => e,
    }
}

/// What the startup machine needs from the resolved configuration.
fn startup_settings(resolved: &Resolved, target: &Target) -> StartupSettings {
    let mut params = vec![
        ("user".to_owned(), resolved.user.clone()),
        ("database".to_owned(), resolved.dbname.clone()),
        ("client_encoding".to_owned(), "UTF8".to_owned()),
    ];
    if let Some(name) = &resolved.application_name {
        params.push(("application_name".to_owned(), name.clone()));
    }
    if let Some(options) = &resolved.options {
        params.push(("options".to_owned(), options.clone()));
    }
    let mut raw = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut raw);
    StartupSettings {
        params,
        user: resolved.user.clone(),
        password: resolved.password_for(target).map(String::into_bytes),
        require_auth: resolved.auth_policy(),
        channel_binding: resolved.channel_binding.policy(),
        min_protocol: resolved.min_protocol,
        max_protocol: resolved.max_protocol,
        nonce: base64::engine::general_purpose::STANDARD.encode(raw),
    }
}

/// Runs the startup machine on `conn` until the session is ready. `tls` is the handshake to
/// run when the server agrees to TLS; `fallback` lets a server that refuses it go on in
/// plaintext. `handshake_failed` is set when the TLS handshake itself failed.
pub(crate) async fn drive(
    conn: &mut Conn,
    machine: &mut Startup,
    tls: Option<&TlsConnect>,
    fallback: bool,
    handshake_failed: &mut bool,
) -> Result<Session> {
    loop {
        let step = machine.advance(&mut conn.rbuf)?;
        let out = machine.output();
        if !out.is_empty() {
            conn.wbuf.extend_from_slice(out);
            out.clear();
            conn.flush().await?;
        }
        match step {
            Step::Write => {}
            Step::Read => poll_fn(|cx| conn.poll_fill(cx)).await?,
            Step::StartTls => {
                let Some(tls) = tls else {
                    return Err(Error::protocol(
                        "the server answered an SSLRequest never sent",
                    ));
                };
                if let Err(e) = upgrade(conn, machine, tls).await {
                    *handshake_failed = true;
                    return Err(e);
                }
            }
            Step::TlsRefused if fallback => machine.continue_without_tls()?,
            Step::TlsRefused => {
                let mode = tls.map_or("require", |t| t.mode.as_str());
                return Err(Error::new(
                    ErrorKind::Connect,
                    if mode == "allow" {
                        "the server rejected the connection without SSL and does not support \
                         SSL (sslmode=allow tried both)"
                            .to_owned()
                    } else {
                        format!("the server does not support SSL, but sslmode={mode} requires it")
                    },
                ));
            }
            Step::DeriveKey(job) => {
                let salted = scram_key::derive(job).await?;
                machine.salted_password(&salted)?;
            }
            Step::Parameter(name, value) => {
                conn.dispatch_async(Message::ParameterStatus { name, value });
            }
            Step::Notice(notice) => {
                conn.dispatch_async(Message::NoticeResponse(notice));
            }
            Step::Ready(session) => return Ok(session),
        }
    }
}

fn connect_error(target: &Target, e: Error) -> Error {
    if e.kind() == ErrorKind::Closed {
        return Error::new(
            ErrorKind::Connect,
            format!(
                "the server at {} closed the connection during startup",
                describe(target)
            ),
        )
        // Kept so that connect_retry can tell it from a final failure.
        .with_source(e);
    }
    e
}
