//! The startup and authentication exchange as a state machine: bytes in, steps out.
//!
//! The connection layer opens a socket, creates a [`Startup`] and loops: it calls
//! [`Startup::advance`] with its read buffer, writes whatever [`Startup::output`] holds, and
//! acts on the [`Step`]: read more bytes, perform the TLS handshake, derive a SCRAM key off the
//! async threads, store a server parameter, or stop with the [`Session`]. Nothing here touches
//! a socket, a clock or a random number generator (the SCRAM nonce is passed in), so every
//! exchange can be replayed from recorded bytes.
//!
//! The authentication policy lives here too: `require_auth` (libpq 16) and `channel_binding`
//! are checked on each request *before* anything secret is written, and a server that asks for
//! another method once SCRAM has started gets a protocol error and no password. The rules come
//! from the protocol documentation ("Message Flow", "Start-up", "SASL Authentication",
//! "Protocol versions") and libpq's `fe-connect.c` / `fe-auth.c`.

use bytes::{Bytes, BytesMut};

mod policy;
mod types;

pub use policy::{AuthMethod, AuthPolicy, ChannelBindingPolicy, ProtocolVersion};
pub use types::{BackendKey, Encryption, Session, StartupSettings, Step};

use super::auth::{self, ChannelBinding, ScramSha256};
use super::backend::{Authentication, Message};
use super::frontend;
use crate::error::{Error, ErrorKind, Result};

/// The largest message accepted during startup. A real server's startup messages are at most
/// a few kilobytes (an ErrorResponse, a SASL challenge); refusing larger ones at their header
/// keeps a hostile server from making the client buffer them.
pub const MAX_STARTUP_MESSAGE: usize = 1 << 20;

/// The longest cancel key protocol 3.2 allows (BackendKeyData).
pub const MAX_CANCEL_KEY: usize = 256;

#[derive(Debug)]
enum State {
    SendSslRequest,
    AwaitSslResponse,
    AwaitTls,
    AwaitPlaintextDecision,
    SendStartup,
    /// Waiting for an authentication request, NegotiateProtocolVersion or an error.
    Auth,
    /// SCRAM started: only its continuation, final message, or an error may follow.
    Scram(Box<ScramSha256>, ScramStage),
    /// Authenticated: ParameterStatus, BackendKeyData, notices until ReadyForQuery.
    AfterAuth,
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScramStage {
    AwaitContinue,
    AwaitKey,
    AwaitFinal,
    /// The server's signature checked; AuthenticationOk must follow.
    Verified,
}

/// The client's side of the startup exchange on one socket.
#[derive(Debug)]
pub struct Startup {
    settings: StartupSettings,
    state: State,
    out: BytesMut,
    /// `Some` once TLS is up: the server certificate's `tls-server-end-point` hash, if its
    /// signature algorithm names one.
    tls: Option<Option<Vec<u8>>>,
    protocol: ProtocolVersion,
    negotiated: bool,
    auth: AuthMethod,
    channel_bound: bool,
    /// A method was requested (and answered) before AuthenticationOk.
    requested: Option<AuthMethod>,
    backend_key: Option<BackendKey>,
    server_rejected: bool,
}

impl Startup {
    /// A machine for one connection attempt.
    pub fn new(settings: StartupSettings, encryption: Encryption) -> Startup {
        let state = match encryption {
            Encryption::Plain => State::SendStartup,
            Encryption::SslRequest => State::SendSslRequest,
            Encryption::DirectTls => State::AwaitTls,
        };
        let protocol = settings.max_protocol;
        Startup {
            settings,
            state,
            out: BytesMut::with_capacity(256),
            tls: None,
            protocol,
            negotiated: false,
            auth: AuthMethod::None,
            channel_bound: false,
            requested: None,
            backend_key: None,
            server_rejected: false,
        }
    }

    /// Bytes to write to the server before acting on the last step; the caller clears it.
    pub fn output(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    /// Whether the attempt failed because the server answered with an ErrorResponse before
    /// authentication completed (a `pg_hba.conf` rejection, a wrong password). libpq then
    /// retries with the other encryption when `sslmode` is `prefer` or `allow`.
    pub fn server_rejected(&self) -> bool {
        self.server_rejected
    }

    /// Whether TLS is in use on this connection.
    pub fn tls_in_use(&self) -> bool {
        self.tls.is_some()
    }

    /// Reports the completed TLS handshake, with the server's end-entity certificate (DER).
    ///
    /// # Errors
    /// A protocol error when called at the wrong time or with a certificate that is not DER.
    pub fn tls_established(&mut self, server_certificate: Option<&[u8]>) -> Result<()> {
        if !matches!(self.state, State::AwaitTls) {
            return self.fail(Error::protocol("TLS handshake reported at the wrong time"));
        }
        let binding = match server_certificate {
            Some(der) => match auth::tls_server_end_point(der) {
                Ok(hash) => hash,
                Err(e) => return self.fail(e),
            },
            None => None,
        };
        self.tls = Some(binding);
        self.state = State::SendStartup;
        Ok(())
    }

    /// After [`Step::TlsRefused`]: go on without TLS on the same socket.
    ///
    /// # Errors
    /// A protocol error when called at the wrong time.
    pub fn continue_without_tls(&mut self) -> Result<()> {
        if !matches!(self.state, State::AwaitPlaintextDecision) {
            return self.fail(Error::protocol("plaintext fallback at the wrong time"));
        }
        self.state = State::SendStartup;
        Ok(())
    }

    /// After [`Step::DeriveKey`]: the job's result.
    ///
    /// # Errors
    /// A protocol error when no key was asked for.
    pub fn salted_password(&mut self, salted: &[u8; 32]) -> Result<()> {
        let reply = match &mut self.state {
            State::Scram(scram, stage) if *stage == ScramStage::AwaitKey => {
                *stage = ScramStage::AwaitFinal;
                scram.client_final(salted)
            }
            _ => Err(Error::protocol("SCRAM key delivered at the wrong time")),
        };
        match reply.and_then(|reply| frontend::sasl_response(&mut self.out, &reply)) {
            Ok(()) => Ok(()),
            Err(e) => self.fail(e),
        }
    }

    fn fail<T>(&mut self, e: Error) -> Result<T> {
        self.state = State::Failed;
        Err(e)
    }

    /// Consumes what it can from `buf` and says what to do next.
    ///
    /// # Errors
    /// A protocol error for bytes that break the protocol, an auth error for a refused or
    /// failed authentication, the server's error (kind `Auth` for class 28, else `Connect`)
    /// when it rejects the connection. After an error the machine is finished.
    pub fn advance(&mut self, buf: &mut BytesMut) -> Result<Step> {
        match self.step(buf) {
            Ok(step) => Ok(step),
            Err(e) => self.fail(e),
        }
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Step> {
        loop {
            match &self.state {
                State::SendSslRequest => {
                    frontend::ssl_request(&mut self.out);
                    self.state = State::AwaitSslResponse;
                    return Ok(Step::Write);
                }
                State::AwaitSslResponse => {
                    let Some(&answer) = buf.first() else {
                        return Ok(Step::Read);
                    };
                    let _ = buf.split_to(1);
                    match answer {
                        b'S' => {
                            // Bytes after the `S` were not encrypted: a man in the middle may
                            // have injected them (CVE-2021-23222).
                            if !buf.is_empty() {
                                return Err(Error::protocol(
                                    "received unencrypted data after the server's SSL response",
                                ));
                            }
                            self.state = State::AwaitTls;
                            return Ok(Step::StartTls);
                        }
                        b'N' => {
                            self.state = State::AwaitPlaintextDecision;
                            return Ok(Step::TlsRefused);
                        }
                        // Unauthenticated, so its text is not worth trusting (libpq too).
                        b'E' => {
                            return Err(Error::new(
                                ErrorKind::Connect,
                                "the server sent an error response to the SSL request",
                            ))
                        }
                        other => {
                            return Err(Error::protocol(format!(
                                "invalid response to the SSL request: byte 0x{other:02x}"
                            )))
                        }
                    }
                }
                State::AwaitTls => {
                    return Err(Error::protocol(
                        "the startup was advanced before the TLS handshake completed",
                    ))
                }
                State::AwaitPlaintextDecision => {
                    return Err(Error::protocol(
                        "the startup was advanced before deciding on a plaintext fallback",
                    ))
                }
                State::SendStartup => {
                    self.write_startup()?;
                    self.state = State::Auth;
                    return Ok(Step::Write);
                }
                State::Done | State::Failed => {
                    return Err(Error::protocol("the startup exchange is over"));
                }
                State::Scram(_, ScramStage::AwaitKey) => {
                    return Err(Error::protocol(
                        "the startup was advanced before the SCRAM key was delivered",
                    ))
                }
                State::Auth | State::Scram(..) | State::AfterAuth => {
                    let Some(msg) = Message::parse(buf, MAX_STARTUP_MESSAGE)? else {
                        return Ok(Step::Read);
                    };
                    let written = self.out.len();
                    if let Some(step) = self.message(msg)? {
                        return Ok(step);
                    }
                    // A message answered with output: send it before handling the next.
                    if self.out.len() > written {
                        return Ok(Step::Write);
                    }
                }
            }
        }
    }

    fn write_startup(&mut self) -> Result<()> {
        let params: Vec<(&str, &str)> = self
            .settings
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        frontend::startup_version(&mut self.out, self.settings.max_protocol.code(), &params)
    }

    /// Handles one message; `Some` is a step for the caller, `None` means "go on".
    fn message(&mut self, msg: Message) -> Result<Option<Step>> {
        match msg {
            Message::ErrorResponse(db) => {
                let before_auth = !matches!(self.state, State::AfterAuth);
                self.server_rejected = before_auth;
                let e = Error::db(db);
                Err(if e.kind() == ErrorKind::Server {
                    e.with_kind(ErrorKind::Connect)
                } else {
                    e
                })
            }
            Message::NoticeResponse(notice) => Ok(Some(Step::Notice(notice))),
            Message::NegotiateProtocolVersion {
                version,
                unrecognized,
            } => {
                self.negotiate(version, &unrecognized)?;
                Ok(None)
            }
            Message::Authentication(request) => self.authentication(request),
            Message::ParameterStatus { name, value } if matches!(self.state, State::AfterAuth) => {
                Ok(Some(Step::Parameter(name, value)))
            }
            Message::BackendKeyData { pid, secret } if matches!(self.state, State::AfterAuth) => {
                self.backend_key(pid, secret)?;
                Ok(None)
            }
            Message::ReadyForQuery(status) if matches!(self.state, State::AfterAuth) => {
                self.state = State::Done;
                Ok(Some(Step::Ready(Session {
                    backend_key: self.backend_key.take(),
                    protocol: self.protocol,
                    tx_status: status,
                    auth: self.auth,
                    channel_bound: self.channel_bound,
                })))
            }
            other => Err(Error::protocol(format!(
                "unexpected {} {}",
                other.name(),
                if matches!(self.state, State::AfterAuth) {
                    "after authentication"
                } else {
                    "during authentication"
                }
            ))),
        }
    }

    /// NegotiateProtocolVersion: the server speaks an older minor version than asked, or did
    /// not recognise protocol options (jsonwire sends none).
    fn negotiate(&mut self, version: i32, unrecognized: &[String]) -> Result<()> {
        if !matches!(self.state, State::Auth) || self.requested.is_some() {
            return Err(Error::protocol(
                "NegotiateProtocolVersion arrived after authentication began",
            ));
        }
        if self.negotiated {
            return Err(Error::protocol(
                "the server sent NegotiateProtocolVersion twice",
            ));
        }
        self.negotiated = true;
        if let Some(option) = unrecognized.first() {
            return Err(Error::protocol(format!(
                "the server reported the protocol option {option:?} as unrecognized, \
                 but jsonwire sent no protocol options"
            )));
        }
        let asked = self.settings.max_protocol;
        let (major, minor) = (version >> 16, version & 0xffff);
        if major == 3 && minor >= asked.minor() {
            return Err(Error::protocol(format!(
                "the server sent NegotiateProtocolVersion for 3.{minor}, not older than the \
                 {} asked for",
                asked.as_str()
            )));
        }
        // Only a downgrade within major version 3 is a valid answer.
        let offered = match (major, minor) {
            (3, 0) => ProtocolVersion::V3_0,
            _ => {
                return Err(Error::protocol(format!(
                    "the server offered protocol version {major}.{minor} in reply to a \
                     request for {}",
                    asked.as_str()
                )))
            }
        };
        if offered < self.settings.min_protocol {
            return Err(Error::new(
                ErrorKind::Connect,
                format!(
                    "the server only supports protocol version 3.{minor}, but \
                     min_protocol_version is {}",
                    self.settings.min_protocol.as_str()
                ),
            ));
        }
        self.protocol = offered;
        Ok(())
    }

    fn backend_key(&mut self, pid: i32, secret: Bytes) -> Result<()> {
        if self.backend_key.is_some() {
            return Err(Error::protocol("the server sent BackendKeyData twice"));
        }
        let len = secret.len();
        let ok = match self.protocol {
            ProtocolVersion::V3_0 => len == 4,
            ProtocolVersion::V3_2 => (4..=MAX_CANCEL_KEY).contains(&len),
        };
        if !ok {
            return Err(Error::protocol(format!(
                "BackendKeyData has a {len}-byte cancel key, invalid under protocol {}",
                self.protocol.as_str()
            )));
        }
        self.backend_key = Some(BackendKey { pid, secret });
        Ok(())
    }

    fn password(&self) -> Result<&[u8]> {
        self.settings.password.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::Auth,
                "the server requires a password and none was given \
                 (set password in the connection string, PGPASSWORD, or a password file)",
            )
        })
    }

    fn require_channel_binding(&self, method: AuthMethod) -> Result<()> {
        if self.settings.channel_binding == ChannelBindingPolicy::Require {
            return Err(Error::new(
                ErrorKind::Auth,
                format!(
                    "channel_binding=require refuses the server's request for {}; only \
                     SCRAM-SHA-256-PLUS binds to the TLS channel; nothing was sent",
                    method.request()
                ),
            ));
        }
        Ok(())
    }

    fn authentication(&mut self, request: Authentication) -> Result<Option<Step>> {
        if let State::Scram(scram, stage) = &mut self.state {
            return match (request, *stage) {
                (Authentication::SaslContinue(data), ScramStage::AwaitContinue) => {
                    let job = scram.server_first(&data)?;
                    *stage = ScramStage::AwaitKey;
                    Ok(Some(Step::DeriveKey(job)))
                }
                (Authentication::SaslFinal(data), ScramStage::AwaitFinal) => {
                    scram.verify_server_final(&data)?;
                    *stage = ScramStage::Verified;
                    Ok(None)
                }
                (Authentication::Ok, ScramStage::Verified) => {
                    self.authenticated();
                    Ok(None)
                }
                (Authentication::Ok, _) => Err(Error::new(
                    ErrorKind::Auth,
                    "the server ended SCRAM authentication without proving it knows the password",
                )),
                (other, _) => Err(Error::protocol(format!(
                    "the server switched to {} in the middle of SCRAM authentication; \
                     nothing more was sent",
                    request_name(&other)
                ))),
            };
        }
        if !matches!(self.state, State::Auth) {
            return Err(Error::protocol(
                "an authentication request arrived after authentication completed",
            ));
        }
        let policy = self.settings.require_auth.clone();
        match request {
            Authentication::Ok => {
                if self.requested.is_none() {
                    policy.refuse(AuthMethod::None).map_err(|_| {
                        Error::new(
                            ErrorKind::Auth,
                            format!(
                                "require_auth={} failed: the server accepted the connection \
                                 without authenticating the client",
                                policy.label
                            ),
                        )
                    })?;
                    if self.settings.channel_binding == ChannelBindingPolicy::Require {
                        return Err(Error::new(
                            ErrorKind::Auth,
                            "channel_binding=require failed: the server accepted the \
                             connection without SCRAM-SHA-256-PLUS authentication",
                        ));
                    }
                }
                self.authenticated();
                Ok(None)
            }
            Authentication::CleartextPassword => {
                policy.refuse(AuthMethod::Password)?;
                self.require_channel_binding(AuthMethod::Password)?;
                self.answered(AuthMethod::Password)?;
                let password = self.password()?.to_vec();
                frontend::password(&mut self.out, &password)?;
                Ok(None)
            }
            Authentication::Md5Password(salt) => {
                policy.refuse(AuthMethod::Md5)?;
                self.require_channel_binding(AuthMethod::Md5)?;
                self.answered(AuthMethod::Md5)?;
                let hashed =
                    auth::md5_password(self.settings.user.as_bytes(), self.password()?, salt);
                frontend::password(&mut self.out, &hashed)?;
                Ok(None)
            }
            Authentication::Sasl(mechanisms) => {
                policy.refuse(AuthMethod::ScramSha256)?;
                self.answered(AuthMethod::ScramSha256)?;
                let scram = self.start_scram(&mechanisms)?;
                frontend::sasl_initial_response(
                    &mut self.out,
                    scram.mechanism(),
                    &scram.client_first(),
                )?;
                self.channel_bound = scram.mechanism() == auth::SCRAM_SHA_256_PLUS;
                self.state = State::Scram(Box::new(scram), ScramStage::AwaitContinue);
                Ok(None)
            }
            Authentication::SaslContinue(_) | Authentication::SaslFinal(_) => {
                Err(Error::protocol("SASL message without a SASL exchange"))
            }
            Authentication::Unsupported(code) => {
                let method = match code {
                    7 | 8 => Some(AuthMethod::Gss),
                    9 => Some(AuthMethod::Sspi),
                    _ => None,
                };
                if let Some(method) = method {
                    policy.refuse(method)?;
                }
                Err(unsupported_method(code))
            }
        }
    }

    /// Records the method the server asked for; a second request for a different method
    /// before AuthenticationOk is a protocol violation (the exchange has begun).
    fn answered(&mut self, method: AuthMethod) -> Result<()> {
        if let Some(previous) = self.requested {
            return Err(Error::protocol(format!(
                "the server asked for {} after it had asked for {}; nothing more was sent",
                method.request(),
                previous.request()
            )));
        }
        self.requested = Some(method);
        self.auth = method;
        Ok(())
    }

    fn start_scram(&mut self, mechanisms: &[String]) -> Result<ScramSha256> {
        let plus_offered = mechanisms.iter().any(|m| m == auth::SCRAM_SHA_256_PLUS);
        let plain_offered = mechanisms.iter().any(|m| m == auth::SCRAM_SHA_256);
        let policy = self.settings.channel_binding;
        let binding = match &self.tls {
            None if plus_offered => {
                // The server cannot have a TLS channel to bind to: a man in the middle is
                // stripping TLS and hoping the client does not notice (libpq refuses too).
                return Err(Error::protocol(
                    "the server offered SCRAM-SHA-256-PLUS over a connection without TLS",
                ));
            }
            None => ChannelBinding::Unsupported,
            Some(_) if policy == ChannelBindingPolicy::Disable => ChannelBinding::Unsupported,
            Some(Some(hash)) if plus_offered => ChannelBinding::TlsServerEndPoint(hash.clone()),
            // The client could bind but the server does not offer it: `y` lets a server that
            // does support it detect that a man in the middle removed the offer.
            Some(Some(_)) => ChannelBinding::NotOffered,
            // The certificate's signature algorithm names no hash to bind with.
            Some(None) => ChannelBinding::Unsupported,
        };
        let bound = matches!(binding, ChannelBinding::TlsServerEndPoint(_));
        if policy == ChannelBindingPolicy::Require && !bound {
            let why = match (&self.tls, plus_offered) {
                (None, _) => "the connection does not use TLS",
                (Some(None), true) => {
                    "the server certificate's signature algorithm has no hash to bind with"
                }
                _ => "the server did not offer SCRAM-SHA-256-PLUS",
            };
            return Err(Error::new(
                ErrorKind::Auth,
                format!("channel_binding=require cannot be met: {why}; nothing was sent"),
            ));
        }
        if !bound && !plain_offered {
            return Err(Error::new(
                ErrorKind::Auth,
                format!(
                    "the server offers SASL mechanisms {mechanisms:?}, none of which jsonwire \
                     can use here"
                ),
            ));
        }
        let password = self.password()?;
        Ok(ScramSha256::new(
            "",
            password,
            &self.settings.nonce,
            binding,
        ))
    }

    fn authenticated(&mut self) {
        self.state = State::AfterAuth;
    }
}

fn request_name(request: &Authentication) -> &'static str {
    match request {
        Authentication::Ok => "AuthenticationOk",
        Authentication::CleartextPassword => "a cleartext password request",
        Authentication::Md5Password(_) => "an MD5 password request",
        Authentication::Sasl(_) => "a new SASL exchange",
        Authentication::SaslContinue(_) => "an out-of-order SASL challenge",
        Authentication::SaslFinal(_) => "an out-of-order SASL outcome",
        Authentication::Unsupported(_) => "another authentication method",
    }
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
        format!(
            "the server requested {name} authentication (request code {code}), which jsonwire \
             does not support"
        ),
    )
}

#[cfg(test)]
mod tests;
