//! What goes in and out of the startup machine.

use bytes::Bytes;

#[cfg(doc)]
use super::Startup;
use super::{AuthMethod, AuthPolicy, ChannelBindingPolicy, ProtocolVersion};
use crate::error::DbError;
use crate::proto::auth::SaltedPasswordJob;

/// How the connection is encrypted when the machine starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encryption {
    /// Plaintext from the start: the StartupMessage is written at once.
    Plain,
    /// Send an SSLRequest; on `S` the machine asks for the TLS handshake, on `N` it reports
    /// [`Step::TlsRefused`].
    SslRequest,
    /// The caller has already completed a TLS handshake (direct TLS, `sslnegotiation=direct`);
    /// call [`Startup::tls_established`] before the first [`Startup::advance`].
    DirectTls,
}

/// What the startup needs to know.
#[derive(Clone)]
pub struct StartupSettings {
    /// Startup parameters (`user`, `database`, `client_encoding`, …), in order.
    pub params: Vec<(String, String)>,
    /// The user name, for MD5.
    pub user: String,
    /// The password, if one is known.
    pub password: Option<Vec<u8>>,
    /// Which methods the server may ask for.
    pub require_auth: AuthPolicy,
    /// Whether SCRAM binds to the TLS channel.
    pub channel_binding: ChannelBindingPolicy,
    /// The oldest protocol version acceptable.
    pub min_protocol: ProtocolVersion,
    /// The version asked for in the StartupMessage.
    pub max_protocol: ProtocolVersion,
    /// The SCRAM client nonce (printable ASCII without commas; 18 random bytes in base64).
    pub nonce: String,
}

impl std::fmt::Debug for StartupSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartupSettings")
            .field("params", &self.params)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("require_auth", &self.require_auth)
            .field("channel_binding", &self.channel_binding)
            .field("min_protocol", &self.min_protocol)
            .field("max_protocol", &self.max_protocol)
            .finish_non_exhaustive()
    }
}

/// What the caller does next.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// Write [`Startup::output`] to the server, then call [`Startup::advance`] again.
    Write,
    /// Read more bytes into the buffer, then call [`Startup::advance`] again.
    Read,
    /// The server agreed to TLS: perform the handshake on this socket, then call
    /// [`Startup::tls_established`] and [`Startup::advance`].
    StartTls,
    /// The server answered `N` to the SSLRequest. Either give up (TLS required) or call
    /// [`Startup::continue_without_tls`] and [`Startup::advance`] on the same socket.
    TlsRefused,
    /// Run the job (PBKDF2; up to a few hundred milliseconds, so off the async threads), pass
    /// its result to [`Startup::salted_password`] and call [`Startup::advance`].
    DeriveKey(SaltedPasswordJob),
    /// A server parameter (ParameterStatus) to record; call [`Startup::advance`] again.
    Parameter(String, String),
    /// A notice the server sent during startup; call [`Startup::advance`] again.
    Notice(Box<DbError>),
    /// The session is ready for queries.
    Ready(Session),
}

/// The backend's process id and cancel key (BackendKeyData).
#[derive(Clone, PartialEq, Eq)]
pub struct BackendKey {
    /// The backend's process id.
    pub pid: i32,
    /// The secret key: 4 bytes under protocol 3.0, up to 256 under 3.2.
    pub secret: Bytes,
}

impl std::fmt::Debug for BackendKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendKey")
            .field("pid", &self.pid)
            .field("secret_len", &self.secret.len())
            .finish()
    }
}

/// The outcome of a successful startup.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// `None` when the server sent no BackendKeyData (some poolers and proxies): such a
    /// connection cannot be cancelled.
    pub backend_key: Option<BackendKey>,
    /// The protocol version in use.
    pub protocol: ProtocolVersion,
    /// The transaction status of the first ReadyForQuery.
    pub tx_status: u8,
    /// How the server authenticated the client.
    pub auth: AuthMethod,
    /// Whether SCRAM was bound to the TLS channel (SCRAM-SHA-256-PLUS).
    pub channel_bound: bool,
}
