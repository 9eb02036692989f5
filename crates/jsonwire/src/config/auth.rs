//! The authentication and protocol keywords: `require_auth`, `channel_binding`,
//! `min_protocol_version` and `max_protocol_version` (libpq docs 34.1.2 "Parameter Key
//! Words").

use std::fmt;
use std::str::FromStr;

use super::value::invalid;
use super::Config;
use crate::error::{Error, Result};
use crate::proto::startup::{AuthMethod, AuthPolicy, ChannelBindingPolicy, ProtocolVersion};

/// libpq's `channel_binding`: whether SCRAM authentication binds to the TLS channel
/// (SCRAM-SHA-256-PLUS with `tls-server-end-point`), which proves the server that
/// authenticated the client is the one at the other end of the TLS connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChannelBinding {
    /// Never bind.
    Disable,
    /// Bind when the connection uses TLS and the server offers SCRAM-SHA-256-PLUS (libpq's
    /// default).
    #[default]
    Prefer,
    /// Authenticate only with SCRAM-SHA-256-PLUS: any other request, or a server that skips
    /// authentication, is refused before a password is sent.
    Require,
}

impl ChannelBinding {
    /// The libpq keyword value.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelBinding::Disable => "disable",
            ChannelBinding::Prefer => "prefer",
            ChannelBinding::Require => "require",
        }
    }

    pub(crate) fn policy(self) -> ChannelBindingPolicy {
        match self {
            ChannelBinding::Disable => ChannelBindingPolicy::Disable,
            ChannelBinding::Prefer => ChannelBindingPolicy::Prefer,
            ChannelBinding::Require => ChannelBindingPolicy::Require,
        }
    }
}

impl FromStr for ChannelBinding {
    type Err = Error;

    /// Parses a libpq `channel_binding` value.
    ///
    /// # Errors
    /// A config error naming the value when it is not `disable`, `prefer` or `require`.
    fn from_str(s: &str) -> Result<ChannelBinding> {
        Ok(match s {
            "disable" => ChannelBinding::Disable,
            "prefer" => ChannelBinding::Prefer,
            "require" => ChannelBinding::Require,
            _ => return Err(invalid("channel_binding value", s, None)),
        })
    }
}

impl FromStr for ProtocolVersion {
    type Err = Error;

    /// Parses a libpq 18 protocol version: `3.0`, `3.2` or `latest` (3.2).
    ///
    /// # Errors
    /// A config error naming the value otherwise.
    fn from_str(s: &str) -> Result<ProtocolVersion> {
        Ok(match s {
            "3.0" => ProtocolVersion::V3_0,
            "3.2" | "latest" => ProtocolVersion::V3_2,
            _ => return Err(invalid("protocol version", s, None)),
        })
    }
}

impl FromStr for AuthMethod {
    type Err = Error;

    /// Parses one `require_auth` method name.
    ///
    /// # Errors
    /// A config error naming the value when libpq does not know it.
    fn from_str(s: &str) -> Result<AuthMethod> {
        AuthMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| invalid("require_auth value", s, None))
    }
}

/// libpq 16's `require_auth`: the authentication methods the server may ask for, as a comma
/// list (`scram-sha-256,none`) or a list of exclusions (`!password,!md5`). A server that asks
/// for anything else is refused before any secret leaves the process; `none` allows a server
/// that asks for no authentication at all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequireAuth {
    negated: bool,
    methods: Vec<AuthMethod>,
}

impl RequireAuth {
    /// Only these methods (`none` for no authentication).
    pub fn only(methods: &[AuthMethod]) -> RequireAuth {
        RequireAuth {
            negated: false,
            methods: methods.to_vec(),
        }
    }

    /// Every method except these.
    pub fn except(methods: &[AuthMethod]) -> RequireAuth {
        RequireAuth {
            negated: true,
            methods: methods.to_vec(),
        }
    }

    /// Whether the server may authenticate the client with `method`.
    pub fn allows(&self, method: AuthMethod) -> bool {
        self.methods.contains(&method) != self.negated
    }

    pub(crate) fn policy(&self) -> AuthPolicy {
        let allowed: Vec<AuthMethod> = AuthMethod::ALL
            .into_iter()
            .filter(|&m| self.allows(m))
            .collect();
        AuthPolicy::only(&allowed, self.to_string())
    }
}

impl fmt::Display for RequireAuth {
    /// The `require_auth` value, as [`RequireAuth::from_str`] reads it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bang = if self.negated { "!" } else { "" };
        for (i, m) in self.methods.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            write!(f, "{comma}{bang}{}", m.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for RequireAuth {
    type Err = Error;

    /// Parses a `require_auth` list as libpq 16 does.
    ///
    /// # Errors
    /// A config error for an unknown method, a method listed twice, an empty list, or
    /// exclusions (`!md5`) mixed with inclusions.
    fn from_str(s: &str) -> Result<RequireAuth> {
        let mut negated = None;
        let mut methods = Vec::new();
        for item in s.split(',') {
            let (neg, name) = match item.strip_prefix('!') {
                Some(name) => (true, name),
                None => (false, item),
            };
            if *negated.get_or_insert(neg) != neg {
                return Err(Error::config(format!(
                    "invalid require_auth value: {s:?}: negative methods (\"!{}\") cannot be \
                     mixed with positive ones",
                    name
                )));
            }
            let method: AuthMethod = name
                .parse()
                .map_err(|_| invalid("require_auth value", item, None))?;
            if methods.contains(&method) {
                return Err(Error::config(format!(
                    "invalid require_auth value: {s:?}: {:?} is listed more than once",
                    method.as_str()
                )));
            }
            methods.push(method);
        }
        Ok(RequireAuth {
            negated: negated.unwrap_or(false),
            methods,
        })
    }
}

impl Config {
    /// Sets the authentication methods the server may use (libpq 16 `require_auth`).
    pub fn require_auth(&mut self, methods: RequireAuth) -> &mut Self {
        self.require_auth = Some(methods);
        self
    }

    /// Sets whether SCRAM binds to the TLS channel.
    pub fn channel_binding(&mut self, mode: ChannelBinding) -> &mut Self {
        self.channel_binding = Some(mode);
        self
    }

    /// Sets the oldest protocol version the client accepts (default 3.0).
    pub fn min_protocol_version(&mut self, version: ProtocolVersion) -> &mut Self {
        self.min_protocol_version = Some(version);
        self
    }

    /// Sets the protocol version the client asks for (default 3.0, or the minimum when that is
    /// higher, as in libpq 18). Protocol 3.2 (Postgres 18) brings longer cancel keys; an older
    /// server answers with the version it speaks.
    pub fn max_protocol_version(&mut self, version: ProtocolVersion) -> &mut Self {
        self.max_protocol_version = Some(version);
        self
    }

    /// The `require_auth` setting, if set.
    pub fn get_require_auth(&self) -> Option<&RequireAuth> {
        self.require_auth.as_ref()
    }

    /// The `channel_binding` setting, if set.
    pub fn get_channel_binding(&self) -> Option<ChannelBinding> {
        self.channel_binding
    }

    /// The `min_protocol_version` setting, if set.
    pub fn get_min_protocol_version(&self) -> Option<ProtocolVersion> {
        self.min_protocol_version
    }

    /// The `max_protocol_version` setting, if set.
    pub fn get_max_protocol_version(&self) -> Option<ProtocolVersion> {
        self.max_protocol_version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_auth_lists_parse_like_libpq() {
        let r: RequireAuth = "scram-sha-256,none".parse().unwrap();
        assert!(r.allows(AuthMethod::ScramSha256) && r.allows(AuthMethod::None));
        assert!(!r.allows(AuthMethod::Password) && !r.allows(AuthMethod::Md5));
        let r: RequireAuth = "!password,!md5".parse().unwrap();
        assert!(!r.allows(AuthMethod::Password) && !r.allows(AuthMethod::Md5));
        assert!(r.allows(AuthMethod::ScramSha256) && r.allows(AuthMethod::None));
        for (bad, needle) in [
            ("md5,!password", "cannot be mixed"),
            ("md5,md5", "more than once"),
            ("kerberos", "invalid require_auth value: \"kerberos\""),
            ("", "invalid require_auth value: \"\""),
            ("md5,", "invalid require_auth value: \"\""),
        ] {
            let err = bad.parse::<RequireAuth>().unwrap_err();
            assert!(err.to_string().contains(needle), "{bad}: {err}");
        }
        for text in ["!password,!md5", "scram-sha-256,none", "gss,sspi,md5"] {
            assert_eq!(text.parse::<RequireAuth>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn protocol_versions_and_channel_binding_parse() {
        assert_eq!(
            "latest".parse::<ProtocolVersion>().unwrap(),
            ProtocolVersion::V3_2
        );
        assert_eq!(
            "3.0".parse::<ProtocolVersion>().unwrap(),
            ProtocolVersion::V3_0
        );
        assert!("3.1".parse::<ProtocolVersion>().is_err());
        assert_eq!(
            "require".parse::<ChannelBinding>().unwrap(),
            ChannelBinding::Require
        );
        assert!("always".parse::<ChannelBinding>().is_err());
    }
}
