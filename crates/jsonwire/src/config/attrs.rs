//! The keyword values that choose among several hosts, and GSSAPI encryption (which jsonwire
//! does not implement): libpq docs 34.1.2 `target_session_attrs`, `load_balance_hosts` and
//! `gssencmode`.

use std::str::FromStr;

use super::value::invalid;
use crate::error::{Error, Result};

/// libpq's `target_session_attrs`: which kind of server is acceptable when several hosts are
/// listed (libpq 14+ semantics).
///
/// The server's kind is read from the `in_hot_standby` and `default_transaction_read_only`
/// parameters that Postgres 14 and later report at startup; with older servers jsonwire asks
/// with `SHOW transaction_read_only` or `SELECT pg_is_in_recovery()`, as libpq does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TargetSessionAttrs {
    /// Any server (libpq's default).
    #[default]
    Any,
    /// A server that accepts read-write transactions by default: neither in hot standby nor
    /// with `default_transaction_read_only` on.
    ReadWrite,
    /// A server that does not accept read-write transactions by default.
    ReadOnly,
    /// A server that is not in hot standby mode.
    Primary,
    /// A server in hot standby mode.
    Standby,
    /// A standby if any host is one; otherwise, on a second pass over the hosts, any server.
    PreferStandby,
}

impl TargetSessionAttrs {
    /// The libpq keyword value (`"read-write"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSessionAttrs::Any => "any",
            TargetSessionAttrs::ReadWrite => "read-write",
            TargetSessionAttrs::ReadOnly => "read-only",
            TargetSessionAttrs::Primary => "primary",
            TargetSessionAttrs::Standby => "standby",
            TargetSessionAttrs::PreferStandby => "prefer-standby",
        }
    }
}

impl FromStr for TargetSessionAttrs {
    type Err = Error;

    /// Parses a libpq `target_session_attrs` value.
    ///
    /// # Errors
    ///
    /// A config error naming the value when libpq would not accept it.
    fn from_str(s: &str) -> Result<TargetSessionAttrs> {
        Ok(match s {
            "any" => TargetSessionAttrs::Any,
            "read-write" => TargetSessionAttrs::ReadWrite,
            "read-only" => TargetSessionAttrs::ReadOnly,
            "primary" => TargetSessionAttrs::Primary,
            "standby" => TargetSessionAttrs::Standby,
            "prefer-standby" => TargetSessionAttrs::PreferStandby,
            _ => return Err(invalid("target_session_attrs value", s, None)),
        })
    }
}

/// libpq's `load_balance_hosts` (libpq 16+): the order in which hosts are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LoadBalanceHosts {
    /// In the order given (libpq's default).
    #[default]
    Disable,
    /// In a random order chosen for each connection, and each host name's addresses in a
    /// random order too, so that clients spread over the hosts.
    Random,
}

impl LoadBalanceHosts {
    /// The libpq keyword value.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalanceHosts::Disable => "disable",
            LoadBalanceHosts::Random => "random",
        }
    }
}

impl FromStr for LoadBalanceHosts {
    type Err = Error;

    /// Parses a libpq `load_balance_hosts` value.
    ///
    /// # Errors
    ///
    /// A config error naming the value unless it is `disable` or `random`.
    fn from_str(s: &str) -> Result<LoadBalanceHosts> {
        match s {
            "disable" => Ok(LoadBalanceHosts::Disable),
            "random" => Ok(LoadBalanceHosts::Random),
            _ => Err(invalid("load_balance_hosts value", s, None)),
        }
    }
}

/// libpq's `gssencmode`. jsonwire has no GSSAPI support, so it behaves like a libpq built
/// without it: `disable` and `prefer` connect without GSSAPI encryption, and `require` is an
/// error when connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GssEncMode {
    /// Never use GSSAPI encryption (the default without GSSAPI support).
    #[default]
    Disable,
    /// Use GSSAPI encryption if possible; without GSSAPI support, never.
    Prefer,
    /// Only connect with GSSAPI encryption: refused by jsonwire when connecting.
    Require,
}

impl GssEncMode {
    /// The libpq keyword value.
    pub fn as_str(self) -> &'static str {
        match self {
            GssEncMode::Disable => "disable",
            GssEncMode::Prefer => "prefer",
            GssEncMode::Require => "require",
        }
    }
}

impl FromStr for GssEncMode {
    type Err = Error;

    /// Parses a libpq `gssencmode` value.
    ///
    /// # Errors
    ///
    /// A config error naming the value unless it is `disable`, `prefer` or `require`.
    fn from_str(s: &str) -> Result<GssEncMode> {
        match s {
            "disable" => Ok(GssEncMode::Disable),
            "prefer" => Ok(GssEncMode::Prefer),
            "require" => Ok(GssEncMode::Require),
            _ => Err(invalid("gssencmode value", s, None)),
        }
    }
}
