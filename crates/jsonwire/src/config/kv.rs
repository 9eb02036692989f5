//! libpq keywords, their values, and `key=value` connection strings (libpq docs 34.1.1.1
//! "Keyword/Value Connection Strings" and 34.1.2 "Parameter Key Words").

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::duration::{self, MILLIS, SECONDS};
use super::tls::parse_sni;
use super::tuning::Tuning;
use super::value::{invalid, is_space, parse_bool, parse_count, parse_int};
use super::{retry, Config, DEFAULT_PORT};
use crate::error::{Error, Result};

/// A comma-separated port list; an empty entry is the default port, as in libpq.
pub(super) fn parse_ports(list: &str, var: Option<&str>) -> Result<Vec<u16>> {
    list.split(',')
        .map(|port| {
            if port.is_empty() {
                return Ok(DEFAULT_PORT);
            }
            parse_int(port)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p != 0)
                .ok_or_else(|| invalid("port number", port, var))
        })
        .collect()
}

/// A comma-separated `hostaddr` list; empty entries are kept (that host is resolved by name).
pub(super) fn parse_hostaddrs(list: &str, var: Option<&str>) -> Result<Vec<String>> {
    list.split(',')
        .map(|addr| {
            if !addr.is_empty() && addr.parse::<IpAddr>().is_err() {
                return Err(invalid("hostaddr value", addr, var));
            }
            Ok(addr.to_owned())
        })
        .collect()
}

/// libpq's `connect_timeout`: whole seconds, zero or less meaning none (returned as zero) and
/// one meaning two, because libpq's one-second clock could otherwise expire it at once.
pub(super) fn parse_timeout(s: &str) -> Option<Duration> {
    let secs = parse_int(s)?;
    Some(match secs {
        ..=0 => Duration::ZERO,
        1 => Duration::from_secs(2),
        secs => Duration::from_secs(secs.unsigned_abs().into()),
    })
}

/// `connect_timeout`: libpq's whole seconds, or a duration with a unit (`1500ms`), which
/// libpq does not read but which lets every `Duration` print and parse back exactly.
fn parse_connect_timeout(s: &str) -> Option<Duration> {
    if duration::has_unit(s) {
        duration::parse(s, SECONDS)
    } else {
        parse_timeout(s)
    }
}

/// A libpq integer setting where zero or less means "the system default" (`None`), or a
/// duration with a unit.
fn parse_system_default(s: &str, bare: u128) -> Option<Option<Duration>> {
    if duration::has_unit(s) {
        return duration::parse(s, bare).map(|d| (!d.is_zero()).then_some(d));
    }
    let n = parse_int(s)?;
    Some((n > 0).then(|| {
        let nanos = u128::from(n.unsigned_abs()) * bare;
        Duration::from_nanos(nanos as u64)
    }))
}

/// The encodings the server spells as UTF8; it ignores case and punctuation in names.
fn is_utf8(name: &str) -> bool {
    let name: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    name.eq_ignore_ascii_case("utf8") || name.eq_ignore_ascii_case("unicode")
}

/// Sets one libpq keyword; a later value replaces an earlier one, lists included.
pub(super) fn set(config: &mut Config, key: &str, value: &str) -> Result<()> {
    let text = || Some(value.to_owned());
    let bad = |what: &str| Error::config(format!("invalid {key} value: {value:?} ({what})"));
    match key {
        "host" => config.hosts = value.split(',').map(String::from).collect(),
        "hostaddr" => config.hostaddrs = parse_hostaddrs(value, None)?,
        "port" => config.ports = parse_ports(value, None)?,
        "user" => config.user = text(),
        "password" => config.password = text(),
        "dbname" => config.dbname = text(),
        "application_name" => config.application_name = text(),
        "fallback_application_name" => config.fallback_application_name = text(),
        "options" => config.options = text(),
        "connect_timeout" => {
            let timeout = parse_connect_timeout(value)
                .ok_or_else(|| invalid("connect_timeout value", value, None))?;
            config.connect_timeout = Some(timeout);
        }
        "keepalives" => {
            let on = parse_int(value).ok_or_else(|| bad("expected 1 or 0"))?;
            config.keepalives(on != 0);
        }
        "keepalives_idle" | "keepalives_interval" | "tcp_user_timeout" => {
            let bare = if key == "tcp_user_timeout" {
                MILLIS
            } else {
                SECONDS
            };
            let unit = if bare == MILLIS {
                "milliseconds"
            } else {
                "seconds"
            };
            let d = parse_system_default(value, bare)
                .ok_or_else(|| bad(&format!("expected whole {unit} or a duration like 10s")))?;
            let d = d.unwrap_or_default();
            match key {
                "keepalives_idle" => config.keepalives_idle(d),
                "keepalives_interval" => config.keepalives_interval(d),
                _ => config.tcp_user_timeout(d),
            };
        }
        "keepalives_count" => {
            let n: i64 = parse_count(value).ok_or_else(|| bad("expected a whole number"))?;
            config.keepalives_count(u32::try_from(n.max(0)).map_err(|_| bad("too large"))?);
        }
        "read_buffer_size" | "max_message_size" | "max_parameters" => {
            let n = parse_count(value).ok_or_else(|| bad("expected a number of bytes"))?;
            match key {
                "read_buffer_size" => config.read_buffer_size(n),
                "max_message_size" => config.max_message_size(n),
                _ => config.max_parameters(n),
            };
        }
        "drain_max_bytes" => {
            config.tuning.drain_max_bytes =
                parse_count(value).ok_or_else(|| bad("expected a number of bytes"))?;
        }
        "drain_timeout" | "cancel_timeout" | "query_timeout" => {
            let d = duration::parse(value, MILLIS)
                .ok_or_else(|| bad("expected milliseconds or a duration like 5s"))?;
            match key {
                "drain_timeout" => config.tuning.drain_timeout = d,
                "cancel_timeout" => drop(config.cancel_timeout(d)),
                _ => drop(config.query_timeout(d)),
            }
        }
        "binary_results" => {
            config.tuning.binary_results =
                parse_bool(value).ok_or_else(|| bad("expected true or false"))?;
        }
        "read_pacing" => {
            config.tuning.read_pacing =
                parse_bool(value).ok_or_else(|| bad("expected true or false"))?;
        }
        "sslmode" => config.ssl_mode = Some(value.parse()?),
        "passfile" => config.passfile = Some(PathBuf::from(value)),
        "target_session_attrs" => config.target_session_attrs = Some(value.parse()?),
        "load_balance_hosts" => config.load_balance_hosts = Some(value.parse()?),
        "service" => config.service = text(),
        "servicefile" => config.servicefile = Some(PathBuf::from(value)),
        "requirepeer" => config.requirepeer = text(),
        "gssencmode" => config.gssencmode = Some(value.parse()?),
        "krbsrvname" => config.krbsrvname = text(),
        "sslrootcert" => config.ssl_root_cert = text(),
        "sslcert" => config.ssl_cert = text(),
        "sslkey" => config.ssl_key = text(),
        "sslsni" => config.ssl_sni = Some(parse_sni(value, None)?),
        "sslnegotiation" => config.ssl_negotiation = Some(value.parse()?),
        "require_auth" => config.require_auth = Some(value.parse()?),
        "channel_binding" => config.channel_binding = Some(value.parse()?),
        "min_protocol_version" => {
            config.min_protocol_version = Some(
                value
                    .parse()
                    .map_err(|_| invalid("min_protocol_version value", value, None))?,
            )
        }
        "max_protocol_version" => {
            config.max_protocol_version = Some(
                value
                    .parse()
                    .map_err(|_| invalid("max_protocol_version value", value, None))?,
            )
        }
        key if config.ssl.set(key, value)? => {}
        key if retry::set_key(&mut config.connect_retry, key, value)? => {}
        "client_encoding" if is_utf8(value) => {}
        "client_encoding" => {
            return Err(Error::config(format!(
                "unsupported client_encoding value: {value:?} (jsonwire only speaks UTF8)"
            )))
        }
        _ => return Err(Error::config(format!("invalid connection option {key:?}"))),
    }
    Ok(())
}

/// Parses a `key=value` string the way libpq's `conninfo_parse` does: values may be
/// single-quoted, and a backslash escapes the next character, quoted or not.
pub(super) fn parse(s: &str) -> Result<Config> {
    let mut config = Config::new();
    let mut chars = s.chars().peekable();
    let mut after_unquoted_password = false;
    loop {
        while chars.next_if(|&c| is_space(c)).is_some() {}
        if chars.peek().is_none() {
            return Ok(config);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !is_space(c)) {
            key.push(c);
        }
        while chars.next_if(|&c| is_space(c)).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            // The word is probably the rest of a password that contained a space.
            if after_unquoted_password {
                return Err(Error::config(
                    "missing \"=\" after the password in the connection string; \
                     quote values that contain spaces: password='...'",
                ));
            }
            return Err(Error::config(format!(
                "missing \"=\" after {key:?} in the connection string"
            )));
        }
        while chars.next_if(|&c| is_space(c)).is_some() {}
        let mut value = String::new();
        let quoted = chars.next_if_eq(&'\'').is_some();
        if quoted {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::config(format!(
                            "unterminated quoted string in the value of {key:?} in the connection string"
                        )))
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|&c| !is_space(c)) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        after_unquoted_password = key == "password" && !quoted;
        set(&mut config, &key, &value)?;
    }
}

/// A value as `parse` reads it back.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if !s.is_empty() && !s.contains(|c| is_space(c) || c == '\'' || c == '\\') {
            return f.write_str(s);
        }
        f.write_str("'")?;
        for c in s.chars() {
            if c == '\'' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("'")
    }
}

/// A `key=value` string for logs, with the password and `sslpassword` shown as `<redacted>`.
///
/// It parses back to an equal [`Config`] ([`Config::parse`]`(&config.to_string()) == config`)
/// for every config whose host, hostaddr and port lists match (as connecting requires), except
/// for the password, which never prints, and a `passfile` path that is not UTF-8. libpq's
/// keys print as libpq writes them; jsonwire's own keys (`read_buffer_size`, `drain_timeout`,
/// …) and durations that libpq's whole seconds cannot hold (`connect_timeout=1500ms`) print
/// only when set, and libpq would refuse them.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        let mut pair = |f: &mut fmt::Formatter<'_>, key: &str, value: &str| {
            let result = write!(f, "{sep}{key}={}", Quoted(value));
            sep = " ";
            result
        };
        let join = |list: &[String]| list.join(",");
        if !self.hosts.is_empty() {
            pair(f, "host", &join(&self.hosts))?;
        }
        if !self.hostaddrs.is_empty() {
            pair(f, "hostaddr", &join(&self.hostaddrs))?;
        }
        if !self.ports.is_empty() {
            let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
            pair(f, "port", &join(&ports))?;
        }
        let texts = [
            ("user", &self.user),
            ("dbname", &self.dbname),
            ("application_name", &self.application_name),
            ("fallback_application_name", &self.fallback_application_name),
            ("options", &self.options),
        ];
        for (key, value) in texts {
            if let Some(value) = value {
                pair(f, key, value)?;
            }
        }
        if self.password.is_some() {
            pair(f, "password", "<redacted>")?;
        }
        if let Some(timeout) = self.connect_timeout {
            // Whole seconds as libpq writes them, except one second, which libpq reads as two.
            let shown = match timeout.as_secs() {
                1 if timeout.subsec_nanos() == 0 => "1s".to_owned(),
                _ => duration::format(timeout, SECONDS, i32::MAX as u128),
            };
            pair(f, "connect_timeout", &shown)?;
        }
        if let Some(mode) = self.ssl_mode {
            pair(f, "sslmode", mode.as_str())?;
        }
        if let Some(path) = &self.passfile {
            pair(f, "passfile", &path.to_string_lossy())?;
        }
        if let Some(attrs) = self.target_session_attrs {
            pair(f, "target_session_attrs", attrs.as_str())?;
        }
        if let Some(order) = self.load_balance_hosts {
            pair(f, "load_balance_hosts", order.as_str())?;
        }
        if let Some(service) = &self.service {
            pair(f, "service", service)?;
        }
        if let Some(path) = &self.servicefile {
            pair(f, "servicefile", &path.to_string_lossy())?;
        }
        if let Some(user) = &self.requirepeer {
            pair(f, "requirepeer", user)?;
        }
        if let Some(mode) = self.gssencmode {
            pair(f, "gssencmode", mode.as_str())?;
        }
        if let Some(name) = &self.krbsrvname {
            pair(f, "krbsrvname", name)?;
        }
        for (key, value) in [
            ("sslrootcert", &self.ssl_root_cert),
            ("sslcert", &self.ssl_cert),
            ("sslkey", &self.ssl_key),
        ] {
            if let Some(value) = value {
                pair(f, key, value)?;
            }
        }
        if let Some(sni) = self.ssl_sni {
            pair(f, "sslsni", if sni { "1" } else { "0" })?;
        }
        if let Some(negotiation) = self.ssl_negotiation {
            pair(f, "sslnegotiation", negotiation.as_str())?;
        }
        if let Some(methods) = &self.require_auth {
            pair(f, "require_auth", &methods.to_string())?;
        }
        if let Some(mode) = self.channel_binding {
            pair(f, "channel_binding", mode.as_str())?;
        }
        if let Some(version) = self.min_protocol_version {
            pair(f, "min_protocol_version", version.as_str())?;
        }
        if let Some(version) = self.max_protocol_version {
            pair(f, "max_protocol_version", version.as_str())?;
        }
        self.ssl.fmt_keys(&mut |key, value| pair(f, key, value))?;
        retry::fmt_keys(&self.connect_retry, &mut |key, value| pair(f, key, value))?;
        fmt_tuning(&self.tuning, &mut |key, value| pair(f, key, value))
    }
}

/// The settings that differ from their defaults, each as `set` reads it back.
fn fmt_tuning(t: &Tuning, pair: &mut dyn FnMut(&str, &str) -> fmt::Result) -> fmt::Result {
    let d = Tuning::default();
    let int_max = i32::MAX as u128;
    if !t.keepalives {
        pair("keepalives", "0")?;
    }
    for (key, value, bare) in [
        ("keepalives_idle", t.keepalives_idle, SECONDS),
        ("keepalives_interval", t.keepalives_interval, SECONDS),
        ("tcp_user_timeout", t.tcp_user_timeout, MILLIS),
    ] {
        if let Some(value) = value {
            pair(key, &duration::format(value, bare, int_max))?;
        }
    }
    if let Some(count) = t.keepalives_count {
        pair("keepalives_count", &count.to_string())?;
    }
    for (key, value, default) in [
        ("read_buffer_size", t.read_buffer_size, d.read_buffer_size),
        ("max_message_size", t.max_message_size, d.max_message_size),
        ("max_parameters", t.max_parameters, d.max_parameters),
    ] {
        if value != default {
            pair(key, &value.to_string())?;
        }
    }
    if t.drain_max_bytes != d.drain_max_bytes {
        pair("drain_max_bytes", &t.drain_max_bytes.to_string())?;
    }
    if t.drain_timeout != d.drain_timeout {
        pair(
            "drain_timeout",
            &duration::format(t.drain_timeout, MILLIS, 0),
        )?;
    }
    if let Some(timeout) = t.query_timeout {
        pair("query_timeout", &duration::format(timeout, MILLIS, 0))?;
    }
    if let Some(timeout) = t.cancel_timeout {
        pair("cancel_timeout", &duration::format(timeout, MILLIS, 0))?;
    }
    if t.binary_results != d.binary_results {
        pair(
            "binary_results",
            if t.binary_results { "true" } else { "false" },
        )?;
    }
    if t.read_pacing != d.read_pacing {
        pair("read_pacing", if t.read_pacing { "true" } else { "false" })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod round_trip;
