//! PostgreSQL's own URI regression cases (`src/interfaces/libpq/t/001_uri.pl`, 63 cases as of
//! PostgreSQL 18), with libpq's expected outcomes, checked against `Config::parse`.
//!
//! libpq's test program parses each URI and prints the options that differ from
//! `PQconndefaults()` (in libpq's keyword order, then `(local)` or `(inet)`), or the parse
//! error. [`regress_output`] prints a jsonwire `Config` the same way, with the defaults taken
//! from [`Config::effective`] under the case's environment. Errors are compared by outcome:
//! libpq's wording is in the table for reference, and jsonwire's message must name the same
//! offending token.
//!
//! Alone in its binary because it sets environment variables.

use jsonwire::{Config, ErrorKind};

enum Want {
    /// libpq's stdout.
    Ok(&'static str),
    /// libpq's stderr, and what jsonwire's message must contain.
    Err(&'static str, &'static str),
}
use Want::{Err, Ok};

/// Environment variables set for one case.
type Env = &'static [(&'static str, &'static str)];

/// `(uri, libpq's outcome, environment)`.
const CASES: &[(&str, Want, Env)] = &[
    (
        "postgresql://uri-user:secret@host:12345/db",
        Ok("user='uri-user' password='secret' dbname='db' host='host' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://uri-user@host:12345/db",
        Ok("user='uri-user' dbname='db' host='host' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://uri-user@host/db",
        Ok("user='uri-user' dbname='db' host='host' (inet)"),
        &[],
    ),
    (
        "postgresql://host:12345/db",
        Ok("dbname='db' host='host' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://host/db",
        Ok("dbname='db' host='host' (inet)"),
        &[],
    ),
    (
        "postgresql://uri-user@host:12345/",
        Ok("user='uri-user' host='host' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://uri-user@host/",
        Ok("user='uri-user' host='host' (inet)"),
        &[],
    ),
    ("postgresql://uri-user@", Ok("user='uri-user' (local)"), &[]),
    (
        "postgresql://host:12345/",
        Ok("host='host' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://host:12345",
        Ok("host='host' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://host/db",
        Ok("dbname='db' host='host' (inet)"),
        &[],
    ),
    ("postgresql://host/", Ok("host='host' (inet)"), &[]),
    ("postgresql://host", Ok("host='host' (inet)"), &[]),
    ("postgresql://", Ok("(local)"), &[]),
    (
        "postgresql://?hostaddr=127.0.0.1",
        Ok("hostaddr='127.0.0.1' (inet)"),
        &[],
    ),
    (
        "postgresql://example.com?hostaddr=63.1.2.4",
        Ok("host='example.com' hostaddr='63.1.2.4' (inet)"),
        &[],
    ),
    ("postgresql://%68ost/", Ok("host='host' (inet)"), &[]),
    (
        "postgresql://host/db?user=uri-user",
        Ok("user='uri-user' dbname='db' host='host' (inet)"),
        &[],
    ),
    (
        "postgresql://host/db?user=uri-user&port=12345",
        Ok("user='uri-user' dbname='db' host='host' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://host/db?u%73er=someotheruser&port=12345",
        Ok("user='someotheruser' dbname='db' host='host' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://host/db?u%7aer=someotheruser&port=12345",
        Err(
            "libpq_uri_regress: invalid URI query parameter: \"uzer\"",
            "invalid connection option \"uzer\"",
        ),
        &[],
    ),
    (
        "postgresql://host:12345?user=uri-user",
        Ok("user='uri-user' host='host' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://host?user=uri-user",
        Ok("user='uri-user' host='host' (inet)"),
        &[],
    ),
    (
        "postgresql://host?  user = uri-user & port  = 12345 ",
        Ok("user='uri-user' host='host' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://host?  user user  =  uri  & port = 12345 12 ",
        Err(
            "libpq_uri_regress: unexpected spaces found in \"  user user  \", use percent-encoded spaces (%20) instead",
            "unexpected spaces in the query parameter name: \"  user user  \"",
        ),
        &[],
    ),
    (
        "postgresql://host?  user  =  uri-user  & port = 12345 12 ",
        Err(
            "libpq_uri_regress: unexpected spaces found in \" 12345 12 \", use percent-encoded spaces (%20) instead",
            "unexpected spaces in the value of the query parameter \"port\": \" 12345 12 \"",
        ),
        &[],
    ),
    ("postgresql://host?", Ok("host='host' (inet)"), &[]),
    (
        "postgresql://[::1]:12345/db",
        Ok("dbname='db' host='::1' port='12345' (inet)"),
        &[],
    ),
    (
        "postgresql://[::1]/db",
        Ok("dbname='db' host='::1' (inet)"),
        &[],
    ),
    (
        "postgresql://[2001:db8::1234]/",
        Ok("host='2001:db8::1234' (inet)"),
        &[],
    ),
    (
        "postgresql://[200z:db8::1234]/",
        Ok("host='200z:db8::1234' (inet)"),
        &[],
    ),
    ("postgresql://[::1]", Ok("host='::1' (inet)"), &[]),
    ("postgres://", Ok("(local)"), &[]),
    ("postgres:///", Ok("(local)"), &[]),
    ("postgres:///db", Ok("dbname='db' (local)"), &[]),
    (
        "postgres://uri-user@/db",
        Ok("user='uri-user' dbname='db' (local)"),
        &[],
    ),
    (
        "postgres://?host=/path/to/socket/dir",
        Ok("host='/path/to/socket/dir' (local)"),
        &[],
    ),
    (
        "postgresql://host?uzer=",
        Err(
            "libpq_uri_regress: invalid URI query parameter: \"uzer\"",
            "invalid connection option \"uzer\"",
        ),
        &[],
    ),
    (
        "postgre://",
        Err(
            "libpq_uri_regress: missing \"=\" after \"postgre://\" in connection info string",
            "missing \"=\" after \"postgre://\"",
        ),
        &[],
    ),
    (
        "postgres://[::1",
        Err(
            "libpq_uri_regress: end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"postgres://[::1\"",
            "missing \"]\" after an IPv6 host address",
        ),
        &[],
    ),
    (
        "postgres://[]",
        Err(
            "libpq_uri_regress: IPv6 host address may not be empty in URI: \"postgres://[]\"",
            "the IPv6 host address \"[]\" is empty",
        ),
        &[],
    ),
    (
        "postgres://[::1]z",
        Err(
            "libpq_uri_regress: unexpected character \"z\" at position 17 in URI (expected \":\" or \"/\"): \"postgres://[::1]z\"",
            "unexpected 'z' after the IPv6 host address [::1]",
        ),
        &[],
    ),
    (
        "postgresql://host?zzz",
        Err(
            "libpq_uri_regress: missing key/value separator \"=\" in URI query parameter: \"zzz\"",
            "missing \"=\" in the query parameter \"zzz\"",
        ),
        &[],
    ),
    (
        "postgresql://host?value1&value2",
        Err(
            "libpq_uri_regress: missing key/value separator \"=\" in URI query parameter: \"value1\"",
            "missing \"=\" in the query parameter \"value1\"",
        ),
        &[],
    ),
    (
        "postgresql://host?key=key=value",
        Err(
            "libpq_uri_regress: extra key/value separator \"=\" in URI query parameter: \"key\"",
            "extra \"=\" in the value of the query parameter \"key\"",
        ),
        &[],
    ),
    (
        "postgres://host?dbname=%XXfoo",
        Err(
            "libpq_uri_regress: invalid percent-encoded token: \"%XXfoo\"",
            "invalid percent-encoded token in the value of the query parameter \"dbname\": \"%XX\"",
        ),
        &[],
    ),
    (
        "postgresql://a%00b",
        Err(
            "libpq_uri_regress: forbidden value %00 in percent-encoded value: \"a%00b\"",
            "%00 is not allowed in the host",
        ),
        &[],
    ),
    (
        "postgresql://%zz",
        Err(
            "libpq_uri_regress: invalid percent-encoded token: \"%zz\"",
            "invalid percent-encoded token in the host: \"%zz\"",
        ),
        &[],
    ),
    (
        "postgresql://%1",
        Err(
            "libpq_uri_regress: invalid percent-encoded token: \"%1\"",
            "invalid percent-encoded token in the host: \"%1\"",
        ),
        &[],
    ),
    (
        "postgresql://%",
        Err(
            "libpq_uri_regress: invalid percent-encoded token: \"%\"",
            "invalid percent-encoded token in the host: \"%\"",
        ),
        &[],
    ),
    ("postgres://@host", Ok("host='host' (inet)"), &[]),
    ("postgres://host:/", Ok("host='host' (inet)"), &[]),
    ("postgres://:12345/", Ok("port='12345' (local)"), &[]),
    (
        "postgres://otheruser@?host=/no/such/directory",
        Ok("user='otheruser' host='/no/such/directory' (local)"),
        &[],
    ),
    (
        "postgres://otheruser@/?host=/no/such/directory",
        Ok("user='otheruser' host='/no/such/directory' (local)"),
        &[],
    ),
    (
        "postgres://otheruser@:12345?host=/no/such/socket/path",
        Ok("user='otheruser' host='/no/such/socket/path' port='12345' (local)"),
        &[],
    ),
    (
        "postgres://otheruser@:12345/db?host=/path/to/socket",
        Ok("user='otheruser' dbname='db' host='/path/to/socket' port='12345' (local)"),
        &[],
    ),
    (
        "postgres://:12345/db?host=/path/to/socket",
        Ok("dbname='db' host='/path/to/socket' port='12345' (local)"),
        &[],
    ),
    (
        "postgres://:12345?host=/path/to/socket",
        Ok("host='/path/to/socket' port='12345' (local)"),
        &[],
    ),
    (
        "postgres://%2Fvar%2Flib%2Fpostgresql/dbname",
        Ok("dbname='dbname' host='/var/lib/postgresql' (local)"),
        &[],
    ),
    // Usually the default sslmode is 'prefer'; sslrootcert=system makes it 'verify-full'.
    (
        "postgresql://host?sslmode=disable",
        Ok("host='host' sslmode='disable' (inet)"),
        &[("PGSSLROOTCERT", "system")],
    ),
    (
        "postgresql://host?sslmode=prefer",
        Ok("host='host' sslmode='prefer' (inet)"),
        &[("PGSSLROOTCERT", "system")],
    ),
    (
        "postgresql://host?sslmode=verify-full",
        Ok("host='host' (inet)"),
        &[("PGSSLROOTCERT", "system")],
    ),
];

/// Cases where jsonwire knowingly differs from libpq: `(uri, jsonwire's output, why)`. The test
/// fails when one of them starts to match, so that the exemption is removed. None today.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[];

/// What `libpq_uri_regress` prints for `config`: each option set in it whose value differs
/// from the default, in libpq's keyword order, then whether it names a TCP host.
fn regress_output(config: &Config, defaults: &Config) -> String {
    let join = |list: &[String]| (!list.is_empty()).then(|| list.join(","));
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    let default_ports: Vec<String> = defaults.get_ports().iter().map(u16::to_string).collect();
    let options: [(&str, Option<String>, Option<String>); 11] = [
        ("service", config.get_service().map(Into::into), None),
        (
            "user",
            config.get_user().map(Into::into),
            defaults.get_user().map(Into::into),
        ),
        ("password", config.get_password().map(Into::into), None),
        // PQconndefaults leaves dbname unset: it defaults to the user only when connecting.
        ("dbname", config.get_dbname().map(Into::into), None),
        ("host", join(config.get_hosts()), None),
        ("hostaddr", join(config.get_hostaddrs()), None),
        ("port", join(&ports), join(&default_ports)),
        ("options", config.get_options().map(Into::into), None),
        (
            "application_name",
            config.get_application_name().map(Into::into),
            None,
        ),
        (
            "sslmode",
            config.get_ssl_mode().map(|m| m.as_str().into()),
            defaults.get_ssl_mode().map(|m| m.as_str().into()),
        ),
        (
            "target_session_attrs",
            config.get_target_session_attrs().map(|a| a.as_str().into()),
            defaults
                .get_target_session_attrs()
                .map(|a| a.as_str().into()),
        ),
    ];
    let mut out = String::new();
    for (key, value, default) in options {
        if let Some(value) = value.filter(|v| Some(v) != default.as_ref()) {
            out.push_str(&format!("{key}='{value}' "));
        }
    }
    let inet = !config.get_hostaddrs().iter().all(String::is_empty)
        || config
            .get_hosts()
            .first()
            .is_some_and(|h| !h.is_empty() && !h.starts_with('/'));
    out.push_str(if inet { "(inet)" } else { "(local)" });
    out
}

/// jsonwire's defaults: the effective configuration of an empty one.
fn defaults() -> Config {
    Config::new().effective().unwrap().config().clone()
}

#[test]
fn postgres_001_uri_cases_parse_as_libpq_parses_them() {
    // The TAP harness runs libpq_uri_regress with the PG* variables removed.
    for (key, _) in std::env::vars() {
        if key.starts_with("PG") {
            std::env::remove_var(key);
        }
    }
    assert_eq!(CASES.len(), 63);
    let mut matched = 0;
    let mut report = Vec::new();
    for (uri, want, env) in CASES {
        for (key, value) in *env {
            std::env::set_var(key, value);
        }
        let got = match Config::parse(uri) {
            Result::Ok(config) => Result::Ok(regress_output(&config, &defaults())),
            Result::Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Config, "{uri}");
                Result::Err(e.to_string())
            }
        };
        for (key, _) in *env {
            std::env::remove_var(key);
        }
        let known = KNOWN_DIFFERENCES.iter().find(|(u, _, _)| u == uri);
        let matches = match (want, &got) {
            (Ok(stdout), Result::Ok(output)) => output == stdout,
            (Err(_, token), Result::Err(message)) => {
                assert!(
                    message.contains(token),
                    "{uri}: the message should contain {token:?}: {message}"
                );
                true
            }
            _ => false,
        };
        match (matches, known) {
            (true, None) => matched += 1,
            (true, Some((_, _, why))) => report.push(format!(
                "{uri}: now matches libpq; remove it from KNOWN_DIFFERENCES ({why})"
            )),
            (false, Some((_, ours, _))) if got.as_deref() == Result::Ok(*ours) => {}
            (false, _) => {
                let want = match want {
                    Ok(stdout) => format!("Ok({stdout:?})"),
                    Err(stderr, _) => format!("Err({stderr:?})"),
                };
                report.push(format!("{uri}: libpq {want}, jsonwire {got:?}"));
            }
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
    assert_eq!(matched, CASES.len() - KNOWN_DIFFERENCES.len());
}
