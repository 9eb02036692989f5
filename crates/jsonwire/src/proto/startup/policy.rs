//! The policies the startup machine enforces: protocol versions, `require_auth` and
//! `channel_binding`.

use crate::error::{Error, ErrorKind, Result};

/// A protocol version the client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// 3.0, spoken by every server since 7.4 (libpq's default).
    #[default]
    V3_0,
    /// 3.2 (Postgres 18): variable-length cancel keys up to 256 bytes.
    V3_2,
}

impl ProtocolVersion {
    /// The minor version number.
    pub fn minor(self) -> i32 {
        match self {
            ProtocolVersion::V3_0 => 0,
            ProtocolVersion::V3_2 => 2,
        }
    }

    /// `"3.0"` or `"3.2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V3_0 => "3.0",
            ProtocolVersion::V3_2 => "3.2",
        }
    }

    /// The version code sent in the StartupMessage.
    pub fn code(self) -> i32 {
        (3 << 16) | self.minor()
    }
}

/// Authentication methods, as `require_auth` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// The server asked for no authentication (trust, peer, a client certificate alone).
    None,
    /// Cleartext password.
    Password,
    /// MD5 challenge-response.
    Md5,
    /// SCRAM-SHA-256 (with or without channel binding).
    ScramSha256,
    /// GSSAPI (never completed by jsonwire).
    Gss,
    /// SSPI (never completed by jsonwire).
    Sspi,
}

impl AuthMethod {
    /// Every method, in libpq's documentation order.
    pub const ALL: [AuthMethod; 6] = [
        AuthMethod::Password,
        AuthMethod::Md5,
        AuthMethod::Gss,
        AuthMethod::Sspi,
        AuthMethod::ScramSha256,
        AuthMethod::None,
    ];

    /// The `require_auth` keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
            AuthMethod::Gss => "gss",
            AuthMethod::Sspi => "sspi",
        }
    }

    pub(super) fn bit(self) -> u8 {
        1 << (self as u8)
    }

    pub(super) fn request(self) -> &'static str {
        match self {
            AuthMethod::None => "no authentication",
            AuthMethod::Password => "a cleartext password",
            AuthMethod::Md5 => "an MD5-hashed password",
            AuthMethod::ScramSha256 => "SCRAM-SHA-256 authentication",
            AuthMethod::Gss => "GSSAPI authentication",
            AuthMethod::Sspi => "SSPI authentication",
        }
    }
}

/// Which authentication methods the server may use (`require_auth`, resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPolicy {
    allowed: u8,
    /// The `require_auth` text, for error messages; empty when every method is allowed.
    pub(super) label: String,
}

impl Default for AuthPolicy {
    fn default() -> AuthPolicy {
        AuthPolicy::any()
    }
}

impl AuthPolicy {
    /// Every method allowed (no `require_auth`).
    pub fn any() -> AuthPolicy {
        AuthPolicy {
            allowed: u8::MAX,
            label: String::new(),
        }
    }

    /// Only `methods` allowed; `label` is the `require_auth` setting named in refusals.
    pub fn only(methods: &[AuthMethod], label: impl Into<String>) -> AuthPolicy {
        AuthPolicy {
            allowed: methods.iter().fold(0, |bits, m| bits | m.bit()),
            label: label.into(),
        }
    }

    /// Whether `method` is allowed.
    pub fn allows(&self, method: AuthMethod) -> bool {
        self.allowed & method.bit() != 0
    }

    pub(super) fn refuse(&self, method: AuthMethod) -> Result<()> {
        if self.allows(method) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Auth,
            format!(
                "require_auth={} refuses the server's request for {}; nothing was sent",
                self.label,
                method.request()
            ),
        ))
    }
}

/// `channel_binding`, as libpq spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ChannelBindingPolicy {
    /// Never bind.
    Disable,
    /// Bind when TLS is in use and the server offers SCRAM-SHA-256-PLUS.
    #[default]
    Prefer,
    /// Authenticate only with SCRAM-SHA-256-PLUS.
    Require,
}
