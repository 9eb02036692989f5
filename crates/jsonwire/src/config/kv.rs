//! libpq keywords, their values, and `key=value` connection strings (libpq docs 34.1.1.1
//! "Keyword/Value Connection Strings" and 34.1.2 "Parameter Key Words").

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::duration::{self, MILLIS, SECONDS};
use super::tuning::Tuning;
use super::{retry, Config, DEFAULT_PORT};
use crate::error::{Error, Result};

/// An invalid value, named by its keyword meaning (`what`) and, when it came from the
/// environment, by the variable.
pub(super) fn invalid(what: &str, value: &str, var: Option<&str>) -> Error {
    match var {
        None => Error::config(format!("invalid {what}: {value:?}")),
        Some(var) => Error::config(format!(
            "invalid {what} in environment variable {var}: {value:?}"
        )),
    }
}

/// libpq's `parse_int_param`: an `int`, with surrounding whitespace allowed.
fn parse_int(s: &str) -> Option<i32> {
    s.trim_matches(is_space).parse().ok()
}

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

/// Postgres's spellings of a boolean setting.
fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" | "t" | "y" => Some(true),
        "0" | "off" | "false" | "no" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// A count or a size: a whole non-negative number.
fn parse_count<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.trim_matches(is_space).parse().ok()
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
        "drain_timeout" | "cancel_timeout" => {
            let d = duration::parse(value, MILLIS)
                .ok_or_else(|| bad("expected milliseconds or a duration like 5s"))?;
            if key == "drain_timeout" {
                config.tuning.drain_timeout = d;
            } else {
                config.cancel_timeout(d);
            }
        }
        "binary_results" => {
            config.tuning.binary_results =
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

/// C's `isspace` in the "C" locale, which libpq's parser uses.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
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

/// A `key=value` string for logs, with the password shown as `<redacted>`.
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
    if let Some(timeout) = t.cancel_timeout {
        pair("cancel_timeout", &duration::format(timeout, MILLIS, 0))?;
    }
    if t.binary_results != d.binary_results {
        pair(
            "binary_results",
            if t.binary_results { "true" } else { "false" },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GssEncMode, LoadBalanceHosts, SslMode, TargetSessionAttrs};
    use crate::ErrorKind;

    fn parse(s: &str) -> Config {
        Config::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn error(s: &str) -> String {
        let err = Config::parse(s).expect_err(s);
        assert_eq!(err.kind(), ErrorKind::Config, "{s}");
        err.to_string()
    }

    #[test]
    fn keyword_string_from_the_libpq_docs_sets_each_field() {
        let c = parse("host=localhost port=5432 dbname=mydb connect_timeout=10");
        assert_eq!(c.get_hosts(), ["localhost"]);
        assert_eq!(c.get_ports(), [5432]);
        assert_eq!(c.get_dbname(), Some("mydb"));
        assert_eq!(c.get_connect_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(c.get_user(), None);
    }

    #[test]
    fn every_supported_keyword_is_stored() {
        let c = parse(
            "host=a,/tmp hostaddr=10.0.0.1,::1 port=1,2 user=u password=p dbname=d \
             application_name=app fallback_application_name=fb options=-cgeqo=off \
             connect_timeout=3 sslmode=verify-full passfile=/x/pgpass \
             target_session_attrs=prefer-standby client_encoding=UTF8 load_balance_hosts=random \
             service=svc servicefile=/x/services requirepeer=postgres gssencmode=prefer \
             krbsrvname=pg",
        );
        assert_eq!(c.get_load_balance_hosts(), Some(LoadBalanceHosts::Random));
        assert_eq!(c.get_service(), Some("svc"));
        assert_eq!(
            c.get_servicefile(),
            Some(std::path::Path::new("/x/services"))
        );
        assert_eq!(c.get_requirepeer(), Some("postgres"));
        assert_eq!(c.get_gssencmode(), Some(GssEncMode::Prefer));
        assert_eq!(c.get_krbsrvname(), Some("pg"));
        assert_eq!(c.get_hosts(), ["a", "/tmp"]);
        assert_eq!(c.get_hostaddrs(), ["10.0.0.1", "::1"]);
        assert_eq!(c.get_ports(), [1, 2]);
        assert_eq!(c.get_password(), Some("p"));
        assert_eq!(c.get_application_name(), Some("app"));
        assert_eq!(c.get_fallback_application_name(), Some("fb"));
        assert_eq!(c.get_options(), Some("-cgeqo=off"));
        assert_eq!(c.get_ssl_mode(), Some(SslMode::VerifyFull));
        assert_eq!(c.get_passfile(), Some(std::path::Path::new("/x/pgpass")));
        assert_eq!(
            c.get_target_session_attrs(),
            Some(TargetSessionAttrs::PreferStandby)
        );
    }

    #[test]
    fn quoting_whitespace_and_escapes_follow_libpq() {
        let cases: &[(&str, &str, &str)] = &[
            ("user = alice", "user", "alice"),
            ("user=\talice\n", "user", "alice"),
            ("user='jo hn'", "user", "jo hn"),
            (r"user='it\'s'", "user", "it's"),
            (r"user='back\\slash'", "user", r"back\slash"),
            (r"user=esc\ aped", "user", "esc aped"),
            (r"user=a\'b", "user", "a'b"),
            ("user=''", "user", ""),
            ("user='' dbname=x", "user", ""),
            ("user='a'dbname=x", "dbname", "x"),
            (
                "options='-c search_path=a,b'",
                "options",
                "-c search_path=a,b",
            ),
            ("user=x user=y", "user", "y"),
            ("password='p w'", "password", "p w"),
        ];
        for &(input, key, want) in cases {
            let c = parse(input);
            let got = match key {
                "user" => c.get_user(),
                "dbname" => c.get_dbname(),
                "options" => c.get_options(),
                _ => c.get_password(),
            };
            assert_eq!(got, Some(want), "{input}");
        }
    }

    #[test]
    fn empty_unquoted_value_takes_the_next_word_like_libpq() {
        assert_eq!(parse("user= dbname=x").get_user(), Some("dbname=x"));
        assert_eq!(parse("user=").get_user(), Some(""));
        assert_eq!(parse("").get_user(), None);
        assert!(parse("   ").get_hosts().is_empty());
    }

    #[test]
    fn connect_timeout_follows_libpq_rounding() {
        let timeout = |s: &str| parse(&format!("connect_timeout={s}")).get_connect_timeout();
        assert_eq!(timeout("0"), Some(Duration::ZERO));
        assert_eq!(timeout("-5"), Some(Duration::ZERO));
        assert_eq!(timeout("1"), Some(Duration::from_secs(2)));
        assert_eq!(timeout("' 7 '"), Some(Duration::from_secs(7)));
    }

    #[test]
    fn empty_entries_in_lists_mean_defaults() {
        let c = parse("host=,b port=,5433 hostaddr=,127.0.0.1");
        assert_eq!(c.get_hosts(), ["", "b"]);
        assert_eq!(c.get_ports(), [5432, 5433]);
        assert_eq!(c.get_hostaddrs(), ["", "127.0.0.1"]);
    }

    #[test]
    fn client_encoding_accepts_only_utf8_spellings() {
        for ok in ["UTF8", "utf8", "UTF-8", "unicode"] {
            parse(&format!("client_encoding={ok}"));
        }
        assert!(error("client_encoding=LATIN1").contains("\"LATIN1\""));
    }

    #[test]
    fn invalid_keyword_strings_are_errors_naming_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("foo=bar", "invalid connection option \"foo\""),
            ("host=a foo=bar", "invalid connection option \"foo\""),
            ("port=abc", "invalid port number: \"abc\""),
            ("port=0", "invalid port number: \"0\""),
            ("port=65536", "invalid port number: \"65536\""),
            ("port=5432,x", "invalid port number: \"x\""),
            ("sslmode=x", "invalid sslmode value: \"x\""),
            (
                "target_session_attrs=master",
                "invalid target_session_attrs value: \"master\"",
            ),
            (
                "load_balance_hosts=roundrobin",
                "invalid load_balance_hosts value: \"roundrobin\"",
            ),
            ("gssencmode=always", "invalid gssencmode value: \"always\""),
            ("connect_timeout=ten", "invalid connect_timeout value"),
            ("connect_timeout=1.5", "\"1.5\""),
            ("connect_timeout=''", "invalid connect_timeout value"),
            (
                "hostaddr=not-an-ip",
                "invalid hostaddr value: \"not-an-ip\"",
            ),
            (
                "user='alice",
                "unterminated quoted string in the value of \"user\"",
            ),
            (r"user='alice\'", "unterminated quoted string"),
            ("host", "missing \"=\" after \"host\""),
            ("host localhost", "missing \"=\" after \"host\""),
            (
                "host=a,b,c port=1,2",
                "could not match 2 port numbers to 3 hosts",
            ),
            (
                "host=a,b hostaddr=::1",
                "could not match 2 host names to 1 hostaddr values",
            ),
        ];
        for &(input, want) in cases {
            let message = error(input);
            assert!(message.contains(want), "{input}: {message}");
        }
    }

    #[test]
    fn errors_never_show_the_password() {
        for input in [
            "password='s3cret other",
            "password=s3cret other",
            "password='s3cret other' foo=1",
        ] {
            let message = error(input);
            assert!(
                !message.contains("s3cret") && !message.contains("other"),
                "{input}: {message}"
            );
        }
    }

    #[test]
    fn one_port_for_many_hosts_is_accepted() {
        assert_eq!(parse("host=a,b,c port=5433").get_ports(), [5433]);
        assert_eq!(parse("port=1,2").get_ports(), [1, 2]);
    }

    #[test]
    fn display_redacts_the_password_and_reads_back() {
        let mut c = parse(
            "host=a,/tmp port=1,2 user='jo hn' dbname='' options='-c x=\\'y\\'' connect_timeout=9 \
             sslmode=require target_session_attrs=read-write passfile=/p \
             require_auth=!password,!md5 channel_binding=require min_protocol_version=3.0 \
             max_protocol_version=latest",
        );
        assert_eq!(parse(&c.to_string()), c);
        c.password("hunter2");
        let shown = c.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("password=<redacted>"), "{shown}");
    }

    #[test]
    fn every_keyword_prints_in_display_and_reads_back() {
        let c = parse(
            "host=a port=1 load_balance_hosts=random service='my svc' servicefile=/s \
             requirepeer=postgres gssencmode=require krbsrvname=kerb \
             target_session_attrs=prefer-standby",
        );
        let shown = c.to_string();
        for key in [
            "load_balance_hosts=random",
            "service='my svc'",
            "servicefile=/s",
            "requirepeer=postgres",
            "gssencmode=require",
            "krbsrvname=kerb",
        ] {
            assert!(shown.contains(key), "{key} in {shown}");
        }
        assert_eq!(parse(&shown), c);
    }

    #[test]
    fn display_keeps_timeouts_libpq_cannot_write_exact() {
        let mut c = Config::new();
        c.connect_timeout(Duration::from_millis(500));
        assert_eq!(c.to_string(), "connect_timeout=500ms");
        c.connect_timeout(Duration::from_secs(1));
        assert_eq!(c.to_string(), "connect_timeout=1s");
        c.connect_timeout(Duration::from_secs(10));
        assert_eq!(c.to_string(), "connect_timeout=10");
    }

    #[test]
    fn keepalive_and_jsonwire_keys_parse_and_print() {
        let c = parse(
            "keepalives=0 keepalives_idle=5 keepalives_interval=2s keepalives_count=3 \
             tcp_user_timeout=1500 read_buffer_size=8192 max_message_size=1048576 \
             max_parameters=64 drain_max_bytes=1000 drain_timeout=250 cancel_timeout=3s \
             binary_results=off",
        );
        assert_eq!(
            c.get_keepalives(),
            (
                false,
                Some(Duration::from_secs(5)),
                Some(Duration::from_secs(2)),
                Some(3)
            )
        );
        assert_eq!(c.get_tcp_user_timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(c.get_read_buffer_size(), 8192);
        assert_eq!(c.get_max_message_size(), 1 << 20);
        assert_eq!(c.get_max_parameters(), 64);
        assert_eq!(c.get_drain_limits(), (1000, Duration::from_millis(250)));
        assert_eq!(c.get_cancel_timeout(), Some(Duration::from_secs(3)));
        assert!(!c.get_binary_results());
        assert_eq!(
            c.to_string(),
            "keepalives=0 keepalives_idle=5 keepalives_interval=2 tcp_user_timeout=1500 \
             keepalives_count=3 read_buffer_size=8192 max_message_size=1048576 max_parameters=64 \
             drain_max_bytes=1000 drain_timeout=250ms cancel_timeout=3s binary_results=false"
        );
        // libpq: zero or less is the system default.
        let c = parse("keepalives_idle=0 keepalives_count=-1 tcp_user_timeout=0");
        assert_eq!(c, Config::new());
        for (input, want) in [
            (
                "keepalives=maybe",
                "invalid keepalives value: \"maybe\" (expected 1 or 0)",
            ),
            ("keepalives_idle=soon", "expected whole seconds"),
            ("tcp_user_timeout=1.5", "expected whole milliseconds"),
            ("read_buffer_size=-1", "invalid read_buffer_size value"),
            ("binary_results=2", "expected true or false"),
            ("drain_timeout='5 weeks'", "invalid drain_timeout value"),
        ] {
            assert!(error(input).contains(want), "{input}: {}", error(input));
        }
    }

    #[test]
    fn a_host_holding_a_comma_is_two_hosts_everywhere() {
        let url = parse("postgresql://a%2Cb:5433/d");
        assert_eq!(url.get_hosts(), ["a", "b"]);
        assert_eq!(parse(&url.to_string()), url);
        let mut built = Config::new();
        built.host("a,b").port(5433).dbname("d");
        assert_eq!(built, url);
    }
}

#[cfg(test)]
mod round_trip;
