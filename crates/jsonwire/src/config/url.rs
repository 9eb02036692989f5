//! `postgresql://` URLs (libpq docs 34.1.1.2 "Connection URIs"):
//! `postgresql://[userspec@][hostspec][/dbname][?paramspec]`.

use percent_encoding::percent_decode_str;

use super::kv::{parse_ports, set};
use super::Config;
use crate::error::{Error, Result};

/// The URL without its `postgresql://` or `postgres://` prefix, if it has one.
pub(super) fn strip_scheme(s: &str) -> Option<&str> {
    s.strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
}

/// Given when a user name or password was probably not percent-encoded: the message must not
/// quote the part of the URL that holds it.
fn unencoded_userinfo() -> Error {
    Error::config(
        "invalid URL: an \"@\" appears where a host was expected; percent-encode \"@\", \"/\", \
         \"?\" and \",\" in the user name and password (%40, %2F, %3F, %2C)",
    )
}

/// Parses what follows the scheme, like libpq's `conninfo_uri_parse_options`.
pub(super) fn parse(uri: &str) -> Result<Config> {
    let mut config = Config::new();
    // libpq looks for the "@" up to the first "/" only; stopping at "?" too keeps an "@" in a
    // query value (`?application_name=me@host`) out of the user name.
    let at = uri
        .find(['@', '/', '?'])
        .filter(|&i| uri.as_bytes()[i] == b'@');
    let rest = match at {
        Some(at) => {
            let (user, password) = match uri[..at].split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (&uri[..at], None),
            };
            if !user.is_empty() {
                config.user = Some(decode(user, "user name", false)?);
            }
            if let Some(password) = password.filter(|p| !p.is_empty()) {
                config.password = Some(decode(password, "password", true)?);
            }
            &uri[at + 1..]
        }
        None => uri,
    };
    match parse_after_userinfo(&mut config, rest) {
        // A password holding a raw "/" or "?" ends the userspec early and would be parsed (and
        // quoted in the error) as a host and port.
        Err(_) if at.is_none() && uri.contains('@') => Err(unencoded_userinfo()),
        Err(e) => Err(e),
        Ok(()) => Ok(config),
    }
}

fn parse_after_userinfo(config: &mut Config, mut p: &str) -> Result<()> {
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    loop {
        let host;
        if let Some(after) = p.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| {
                Error::config("invalid URL: missing \"]\" after an IPv6 host address")
            })?;
            host = &after[..end];
            if host.is_empty() {
                return Err(Error::config(
                    "invalid URL: the IPv6 host address \"[]\" is empty",
                ));
            }
            p = &after[end + 1..];
            if let Some(c) = p
                .chars()
                .next()
                .filter(|c| !matches!(c, ':' | '/' | '?' | ','))
            {
                return Err(Error::config(format!(
                    "invalid URL: unexpected {c:?} after the IPv6 host address [{host}] \
                     (expected \":\", \",\", \"/\" or \"?\")"
                )));
            }
        } else {
            let end = p.find([':', '/', '?', ',']).unwrap_or(p.len());
            host = &p[..end];
            if host.contains('@') {
                return Err(unencoded_userinfo());
            }
            p = &p[end..];
        }
        hosts.push(host);
        let mut port = "";
        if let Some(after) = p.strip_prefix(':') {
            let end = after.find(['/', '?', ',']).unwrap_or(after.len());
            port = &after[..end];
            p = &after[end..];
        }
        ports.push(port);
        match p.strip_prefix(',') {
            Some(after) => p = after,
            None => break,
        }
    }
    // Like libpq, the host and port lists are stored as written, comma-joined, unless empty:
    // `host1,host2` without ports stores the port list "," (the default port for each), so
    // PGPORT does not apply to a multi-host URL.
    let hosts = hosts.join(",");
    if !hosts.is_empty() {
        config.hosts = decode(&hosts, "host", false)?
            .split(',')
            .map(String::from)
            .collect();
    }
    let ports = ports.join(",");
    if !ports.is_empty() {
        config.ports = parse_ports(&decode(&ports, "port", false)?, None)?;
    }

    if let Some(after) = p.strip_prefix('/') {
        let end = after.find('?').unwrap_or(after.len());
        // An empty dbname is not stored, so that PGDATABASE still applies (as in libpq).
        if end > 0 {
            config.dbname = Some(decode(&after[..end], "database name", false)?);
        }
        p = &after[end..];
    }
    if let Some(query) = p.strip_prefix('?') {
        parse_query(config, query)?;
    }
    Ok(())
}

/// `key=value&...` like libpq's `conninfo_uri_parse_params`; one trailing `&` is allowed.
fn parse_query(config: &mut Config, query: &str) -> Result<()> {
    let query = query.strip_suffix('&').unwrap_or(query);
    if query.is_empty() {
        return Ok(());
    }
    for param in query.split('&') {
        let (key, value) = param.split_once('=').ok_or_else(|| {
            Error::config(format!(
                "invalid URL: missing \"=\" in the query parameter {param:?}"
            ))
        })?;
        let key = decode(key, "query parameter name", false)?;
        if value.contains('=') {
            return Err(Error::config(format!(
                "invalid URL: extra \"=\" in the value of the query parameter {key:?}; \
                 percent-encode it as %3D"
            )));
        }
        let value = decode(
            value,
            &format!("value of the query parameter {key:?}"),
            key == "password",
        )?;
        // libpq accepts JDBC's `ssl=true`.
        if key == "ssl" && value == "true" {
            set(config, "sslmode", "require")?;
        } else {
            set(config, &key, &value)?;
        }
    }
    Ok(())
}

/// Percent-decodes one URL component as libpq 17 does: spaces around it are dropped and a
/// space inside it is an error (it must be written `%20`); so is a malformed escape, `%00` or
/// invalid UTF-8. A `secret` component is never quoted in the message.
fn decode(s: &str, what: &str, secret: bool) -> Result<String> {
    let shown = |token: &str| {
        if secret {
            String::new()
        } else {
            format!(": {token:?}")
        }
    };
    let trimmed = s.trim_matches(' ');
    if trimmed.contains(' ') {
        return Err(Error::config(format!(
            "invalid URL: unexpected spaces in the {what}{}; percent-encode spaces as %20",
            shown(s)
        )));
    }
    let s = trimmed;
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'%') {
        let start = i + offset;
        let hex = bytes
            .get(start + 1..start + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        match hex {
            None => {
                let token: String = s[start..].chars().take(3).collect();
                return Err(Error::config(format!(
                    "invalid URL: invalid percent-encoded token in the {what}{}",
                    shown(&token)
                )));
            }
            Some(b"00") => {
                return Err(Error::config(format!(
                    "invalid URL: %00 is not allowed in the {what}"
                )));
            }
            Some(_) => i = start + 3,
        }
    }
    percent_decode_str(s)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| {
            Error::config(format!(
                "invalid URL: the {what} is not valid UTF-8 after percent-decoding{}",
                shown(s)
            ))
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{Config, SslMode, TargetSessionAttrs};
    use crate::ErrorKind;

    fn parse(s: &str) -> Config {
        Config::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    /// Each example URL of the libpq documentation (34.1.1.2) next to its `key=value`
    /// equivalent, plus the forms the grammar allows around them.
    #[test]
    fn libpq_url_examples_equal_their_keyword_forms() {
        let cases: &[(&str, &str)] = &[
            ("postgresql://", ""),
            ("postgres://", ""),
            ("postgresql://localhost", "host=localhost"),
            ("postgresql://localhost:5433", "host=localhost port=5433"),
            ("postgresql://localhost/mydb", "host=localhost dbname=mydb"),
            ("postgresql://user@localhost", "host=localhost user=user"),
            ("postgresql://user:secret@localhost", "host=localhost user=user password=secret"),
            (
                "postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp",
                "host=localhost user=other dbname=otherdb connect_timeout=10 application_name=myapp",
            ),
            (
                "postgresql://host1:123,host2:456/somedb?target_session_attrs=any&application_name=myapp",
                "host=host1,host2 port=123,456 dbname=somedb target_session_attrs=any application_name=myapp",
            ),
            ("postgresql:///dbname?host=/var/lib/postgresql", "dbname=dbname host=/var/lib/postgresql"),
            ("postgresql://%2Fvar%2Flib%2Fpostgresql/dbname", "host=/var/lib/postgresql dbname=dbname"),
            ("postgresql://[2001:db8::1234]/database", "host=2001:db8::1234 dbname=database"),
            ("postgresql://[::1]:5433", "host=::1 port=5433"),
            ("postgresql://user@host:5432/db?sslmode=require", "user=user host=host port=5432 dbname=db sslmode=require"),
            ("postgresql://host?ssl=true", "host=host sslmode=require"),
            ("postgresql://:5433", "port=5433"),
            ("postgresql://user@", "user=user"),
            ("postgresql://user:@host", "user=user host=host"),
            ("postgresql://:pw@host", "password=pw host=host"),
            ("postgresql://host/", "host=host"),
            ("postgresql://host?", "host=host"),
            ("postgresql://host?port=1&", "host=host port=1"),
            ("postgresql://h1,h2/db", "host=h1,h2 port=, dbname=db"),
            ("postgresql://h1:1,h2/db", "host=h1,h2 port=1,5432 dbname=db"),
            ("postgresql://,h2", "host=,h2 port=,"),
            ("postgresql://h?host=other", "host=other"),
            ("postgresql://h?application_name=me@home", "host=h application_name=me@home"),
            ("postgresql://u%40corp:p%3Aw%2F@h/d%20b", "user=u@corp password=p:w/ host=h dbname='d b'"),
            ("postgresql://u:pa:ss@h", "user=u password=pa:ss host=h"),
            ("postgresql://h/db?options=-c%20geqo%3Doff", "host=h dbname=db options='-c geqo=off'"),
            ("postgresql://h/caf%C3%A9", "host=h dbname=café"),
            ("postgresql://h?host=%2Ftmp", "host=/tmp"),
            ("postgresql://h?application_name=a+b", "host=h application_name=a+b"),
            ("postgresql://h?hostaddr=127.0.0.1", "host=h hostaddr=127.0.0.1"),
        ];
        for &(url, keywords) in cases {
            assert_eq!(parse(url), parse(keywords), "{url} vs {keywords}");
        }
    }

    #[test]
    fn spaces_around_url_parts_are_trimmed_as_in_libpq_17() {
        let cases: &[(&str, &str)] = &[
            (
                "postgresql://host?  user = u & port  = 12345 ",
                "host=host user=u port=12345",
            ),
            (
                "postgresql:// u :pw @ h /db ",
                "user=u password=pw host=h dbname=db",
            ),
            ("postgresql:// h1,h2:5 /db", "host=h1,h2 port=,5 dbname=db"),
            (
                "postgresql://h?application_name=a%20b",
                "host=h application_name='a b'",
            ),
            ("postgresql://h? ssl = true ", "host=h sslmode=require"),
        ];
        for &(url, keywords) in cases {
            assert_eq!(parse(url), parse(keywords), "{url} vs {keywords}");
        }
    }

    #[test]
    fn a_space_inside_a_url_part_is_an_error_that_hides_passwords() {
        let cases: &[(&str, &str)] = &[
            ("postgresql://h?user=a b", "unexpected spaces in the value of the query parameter \"user\": \"a b\"; percent-encode spaces as %20"),
            ("postgresql://h/my db", "unexpected spaces in the database name"),
            ("postgresql://a b@h", "unexpected spaces in the user name"),
            ("postgresql://h1, h 2", "unexpected spaces in the host: \"h1, h 2\""),
            ("postgresql://h?my key=1", "unexpected spaces in the query parameter name"),
        ];
        for &(url, want) in cases {
            let err = Config::parse(url).expect_err(url);
            assert!(err.to_string().contains(want), "{url}: {err}");
        }
        for url in [
            "postgresql://u:s3cret pw@h",
            "postgresql://h?password=s3cret pw",
        ] {
            let err = Config::parse(url).expect_err(url);
            assert!(
                err.to_string().contains("unexpected spaces in the"),
                "{err}"
            );
            assert!(!err.to_string().contains("s3cret"), "{url}: {err}");
        }
    }

    #[test]
    fn a_multi_host_url_without_ports_sets_the_default_port_for_each() {
        assert_eq!(parse("postgresql://h1,h2,h3").get_ports(), [5432; 3]);
        assert_eq!(parse("postgresql://h1:7,h2").get_ports(), [7, 5432]);
        assert!(parse("postgresql://h1").get_ports().is_empty());
        assert!(parse("postgresql://h1:/").get_ports().is_empty());
    }

    #[test]
    fn url_with_ipv6_host_keeps_brackets_off() {
        let c = parse("postgresql://[fe80::1%25eth0]:5433,[::1]/db");
        assert_eq!(c.get_hosts(), ["fe80::1%eth0", "::1"]);
        assert_eq!(c.get_ports(), [5433, 5432]);
    }

    #[test]
    fn url_query_sets_typed_values() {
        let c = parse(
            "postgresql://h/db?connect_timeout=1&sslmode=verify-ca&target_session_attrs=read-only",
        );
        assert_eq!(c.get_connect_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(c.get_ssl_mode(), Some(SslMode::VerifyCa));
        assert_eq!(
            c.get_target_session_attrs(),
            Some(TargetSessionAttrs::ReadOnly)
        );
    }

    #[test]
    fn url_without_host_leaves_hosts_and_ports_unset() {
        let c = parse("postgresql:///db");
        assert!(c.get_hosts().is_empty() && c.get_ports().is_empty());
        assert_eq!(c.get_dbname(), Some("db"));
    }

    #[test]
    fn malformed_urls_are_errors_naming_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("postgresql://h?foo=1", "invalid connection option \"foo\""),
            ("postgresql://h:abc", "invalid port number: \"abc\""),
            ("postgresql://h:0", "invalid port number: \"0\""),
            ("postgresql://h?sslmode=x", "invalid sslmode value: \"x\""),
            (
                "postgresql://h?connect_timeout=soon",
                "invalid connect_timeout value: \"soon\"",
            ),
            (
                "postgresql://h%zz",
                "invalid percent-encoded token in the host: \"%zz\"",
            ),
            (
                "postgresql://h%4",
                "invalid percent-encoded token in the host: \"%4\"",
            ),
            (
                "postgresql://h/d%00b",
                "%00 is not allowed in the database name",
            ),
            ("postgresql://h/%ff", "database name is not valid UTF-8"),
            ("postgresql://[::1", "missing \"]\""),
            ("postgresql://[]/db", "\"[]\" is empty"),
            (
                "postgresql://[::1]x",
                "unexpected 'x' after the IPv6 host address [::1]",
            ),
            (
                "postgresql://h?sslmode",
                "missing \"=\" in the query parameter \"sslmode\"",
            ),
            (
                "postgresql://h?port=1&&sslmode=require",
                "missing \"=\" in the query parameter \"\"",
            ),
            (
                "postgresql://h?options=a=b",
                "extra \"=\" in the value of the query parameter \"options\"",
            ),
            (
                "postgresql://h?client_encoding=SQL_ASCII",
                "unsupported client_encoding value",
            ),
            (
                "postgresql://a,b,c:1/db?port=1,2",
                "could not match 2 port numbers to 3 hosts",
            ),
        ];
        for &(url, want) in cases {
            let err = Config::parse(url).expect_err(url);
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.to_string().contains(want), "{url}: {err}");
        }
    }

    #[test]
    fn url_errors_never_show_the_password() {
        for url in [
            "postgresql://u:s3cret%zz@h",
            "postgresql://u:s3cret%ff@h",
            "postgresql://u:s3cret/x@h/db",
            "postgresql://u:s3cret?x@h/db",
            "postgresql://u:s3cret@x@h/db",
            "postgresql://h?password=s3cret%zz",
            "postgresql://h?password=s3cret=x",
        ] {
            let err = Config::parse(url).expect_err(url);
            assert!(!err.to_string().contains("s3cret"), "{url}: {err}");
            assert!(!format!("{err:?}").contains("s3cret"), "{url}: {err:?}");
        }
    }
}
