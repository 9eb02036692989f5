//! Opening a connection: socket, StartupMessage, authentication, until ReadyForQuery.

use std::time::Duration;

use base64::Engine;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use tokio::net::{TcpStream, UnixStream};

use super::cancel::{CancelAddr, CancelToken};
use super::hosts;
use super::{Conn, Socket, Tuning};
use crate::config::{
    Config, Host, LoadBalanceHosts, Resolved, SslMode, Target, TargetSessionAttrs,
};
use crate::error::{Error, ErrorKind, Result};
use crate::proto::auth::{self, ChannelBinding, ScramSha256};
use crate::proto::backend::{Authentication, Message};
use crate::proto::frontend;

const DEFAULT_CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the first target that accepts, in order, like libpq.
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
    if resolved.target_session_attrs != TargetSessionAttrs::Any {
        return Err(Error::config(format!(
            "target_session_attrs={} is not supported yet; only \"any\" is",
            resolved.target_session_attrs.as_str()
        )));
    }
    if resolved.targets.is_empty() {
        return Err(Error::config("no host to connect to"));
    }
    let mut errors = Vec::new();
    let targets = hosts::order(
        &resolved.targets,
        resolved.load_balance_hosts,
        &mut StdRng::from_entropy(),
    );
    for target in &targets {
        let attempt = connect_target(&resolved, target, tuning.clone());
        let result = match resolved.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "timed out after {limit:?} connecting to {}",
                            describe(target)
                        ),
                    ))
                }),
            None => attempt.await,
        };
        match result {
            Ok(conn) => return Ok(conn),
            Err(e) => errors.push(hosts::explain_auth_error(e, &resolved, target)),
        }
    }
    // With one host its error is the answer; with several the last one is, the others logged.
    let last = errors.pop().expect("at least one target was tried");
    for e in errors {
        tracing::debug!(error = %e, "connection attempt failed");
    }
    Err(last)
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

    let mut params: Vec<(&str, &str)> = vec![
        ("user", &resolved.user),
        ("database", &resolved.dbname),
        ("client_encoding", "UTF8"),
    ];
    if let Some(name) = &resolved.application_name {
        params.push(("application_name", name));
    }
    if let Some(options) = &resolved.options {
        params.push(("options", options));
    }
    frontend::startup(&mut conn.wbuf, &params)?;
    conn.flush().await.map_err(|e| connect_error(target, e))?;

    let password = resolved.password_for(target);
    authenticate(&mut conn, &resolved.user, password.as_deref())
        .await
        .map_err(|e| connect_error(target, e))?;

    let mut key = None;
    loop {
        match conn
            .next_sync_message()
            .await
            .map_err(|e| connect_error(target, e))?
        {
            Message::BackendKeyData { pid, secret } => key = Some((pid, secret)),
            Message::ReadyForQuery(status) => {
                conn.tx_status = status;
                break;
            }
            Message::ErrorResponse(db) => return Err(startup_error(db)),
            Message::NegotiateProtocolVersion { .. } => {}
            other => return Err(unexpected(&other, "after authentication")),
        }
    }
    if let Some((pid, secret)) = key {
        conn.cancel = Some(CancelToken {
            addr: cancel_addr,
            pid,
            secret,
            timeout: (conn.tuning.cancel_timeout)
                .or(resolved.connect_timeout)
                .unwrap_or(DEFAULT_CANCEL_TIMEOUT),
        });
    }
    Ok(conn)
}

fn connect_error(target: &Target, e: Error) -> Error {
    if e.kind() == ErrorKind::Closed {
        return Error::new(
            ErrorKind::Connect,
            format!(
                "the server at {} closed the connection during startup",
                describe(target)
            ),
        );
    }
    e
}

fn startup_error(db: Box<crate::DbError>) -> Error {
    let e = Error::db(db);
    if e.kind() == ErrorKind::Server {
        e.with_kind(ErrorKind::Connect)
    } else {
        e
    }
}

fn unexpected(msg: &Message, when: &str) -> Error {
    Error::protocol(format!("unexpected {} {when}", msg.name()))
}

fn need_password(password: Option<&str>) -> Result<&[u8]> {
    password.map(str::as_bytes).ok_or_else(|| {
        Error::new(
            ErrorKind::Auth,
            "the server requires a password and none was given \
             (set password in the connection string, PGPASSWORD, or a password file)",
        )
    })
}

fn unsupported_method(code: i32) -> Error {
    let name = match code {
        2 => "KerberosV5",
        6 => "SCM credentials",
        7 | 8 => "GSSAPI",
        9 => "SSPI",
        _ => "unknown",
    };
    Error::new(
        ErrorKind::Auth,
        format!("the server requested {name} authentication (request code {code}), which jsonwire does not support"),
    )
}

async fn authenticate(conn: &mut Conn, user: &str, password: Option<&str>) -> Result<()> {
    let mut scram: Option<ScramSha256> = None;
    loop {
        let msg = conn.next_sync_message().await?;
        let auth = match msg {
            Message::Authentication(auth) => auth,
            Message::ErrorResponse(db) => return Err(startup_error(db)),
            Message::NegotiateProtocolVersion { .. } => continue,
            other => return Err(unexpected(&other, "during authentication")),
        };
        match auth {
            Authentication::Ok => {
                if scram.is_some() {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        "the server ended SCRAM authentication without proving it knows the password",
                    ));
                }
                return Ok(());
            }
            Authentication::CleartextPassword => {
                frontend::password(&mut conn.wbuf, need_password(password)?)?;
            }
            Authentication::Md5Password(salt) => {
                let hashed = auth::md5_password(user.as_bytes(), need_password(password)?, salt);
                frontend::password(&mut conn.wbuf, &hashed)?;
            }
            Authentication::Sasl(mechanisms) => {
                if !mechanisms.iter().any(|m| m == auth::SCRAM_SHA_256) {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        format!(
                            "the server offers SASL mechanisms {mechanisms:?}, none of which jsonwire supports"
                        ),
                    ));
                }
                let password = need_password(password)?;
                let mut raw = [0u8; 18];
                rand::thread_rng().fill_bytes(&mut raw);
                let nonce = base64::engine::general_purpose::STANDARD.encode(raw);
                // Without TLS there is no channel to bind to: `n` says the client cannot bind.
                let client = ScramSha256::new("", password, &nonce, ChannelBinding::Unsupported);
                frontend::sasl_initial_response(
                    &mut conn.wbuf,
                    auth::SCRAM_SHA_256,
                    &client.client_first(),
                )?;
                scram = Some(client);
            }
            Authentication::SaslContinue(data) => {
                let Some(client) = scram.as_mut() else {
                    return Err(Error::protocol("SASL challenge without a SASL exchange"));
                };
                let reply = client.handle_server_first(&data)?;
                frontend::sasl_response(&mut conn.wbuf, &reply)?;
            }
            Authentication::SaslFinal(data) => {
                let Some(mut client) = scram.take() else {
                    return Err(Error::protocol("SASL outcome without a SASL exchange"));
                };
                client.verify_server_final(&data)?;
                continue;
            }
            Authentication::Unsupported(code) => return Err(unsupported_method(code)),
        }
        conn.flush().await?;
    }
}
