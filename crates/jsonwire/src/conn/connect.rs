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
use super::{scram_key, Conn, Socket, Tuning};
use crate::config::{Config, Host, LoadBalanceHosts, Resolved, SslMode, Target};
use crate::error::{Error, ErrorKind, Result};
use crate::proto::backend::Message;
use crate::proto::startup::{Encryption, Session, Startup, StartupSettings, Step};

const DEFAULT_CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the first target that accepts and suits `target_session_attrs`, like libpq
/// (see [`hosts::connect_any`]).
pub(crate) async fn connect(config: &Config, tuning: Tuning) -> Result<Box<Conn>> {
    let resolved = config.resolve(&|key| std::env::var(key).ok())?;
    match resolved.ssl_mode {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer => {}
        mode => {
            return Err(Error::config(format!(
                "sslmode={} requires TLS, which this version of jsonwire does not support yet; \
                 use sslmode=disable or prefer",
                mode.as_str()
            )))
        }
    }
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
            format!("could not connect to {}: {e}", describe(target)),
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

async fn connect_target(resolved: &Resolved, target: &Target, tuning: Tuning) -> Result<Box<Conn>> {
    let (socket, cancel_addr) = open_socket(resolved, target, &tuning).await?;
    let mut conn = Box::new(Conn::new(socket, tuning));
    let mut machine = Startup::new(startup_settings(resolved, target), Encryption::Plain);
    let session = drive(&mut conn, &mut machine)
        .await
        .map_err(|e| connect_error(target, e))?;
    conn.tx_status = session.tx_status;
    if let Some(key) = session.backend_key {
        conn.cancel = Some(CancelToken {
            addr: cancel_addr,
            pid: key.pid,
            secret: key.secret,
            timeout: (conn.tuning.cancel_timeout)
                .or(resolved.connect_timeout)
                .unwrap_or(DEFAULT_CANCEL_TIMEOUT),
        });
    }
    Ok(conn)
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
        require_auth: resolved.require_auth.clone(),
        channel_binding: resolved.channel_binding.policy(),
        min_protocol: resolved.min_protocol,
        max_protocol: resolved.max_protocol,
        nonce: base64::engine::general_purpose::STANDARD.encode(raw),
    }
}

/// Runs the startup machine on `conn` until the session is ready.
pub(crate) async fn drive(conn: &mut Conn, machine: &mut Startup) -> Result<Session> {
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
            other => {
                return Err(Error::protocol(format!(
                    "the startup asked for {other:?} on a connection without TLS"
                )))
            }
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
