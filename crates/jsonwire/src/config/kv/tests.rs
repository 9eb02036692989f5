//! Keyword strings: each keyword, quoting, errors and `Display`.

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
         sslrootcert=/r.crt sslcert='/c c.crt' sslkey=/k sslsni=0 sslnegotiation=direct \
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
         binary_results=off query_timeout=1min read_pacing=off",
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
    assert_eq!(c.get_query_timeout(), Some(Duration::from_secs(60)));
    assert!(!c.get_binary_results());
    assert!(!c.get_read_pacing());
    assert_eq!(
        c.to_string(),
        "keepalives=0 keepalives_idle=5 keepalives_interval=2 tcp_user_timeout=1500 \
         keepalives_count=3 read_buffer_size=8192 max_message_size=1048576 max_parameters=64 \
         drain_max_bytes=1000 drain_timeout=250ms query_timeout=1min cancel_timeout=3s \
         binary_results=false read_pacing=false"
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
        ("read_pacing=often", "expected true or false"),
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

#[test]
fn certificate_policy_keys_parse_print_and_name_bad_values() {
    let kv = "sslcertmode=require sslcrl=/etc/pg/root.crl sslcrldir=/etc/pg/crls \
              sslpassword='top secret' ssl_min_protocol_version=TLSv1.3 \
              ssl_max_protocol_version=''";
    let c = parse(kv);
    assert_eq!(c.get_ssl_cert_mode(), Some(crate::SslCertMode::Require));
    assert_eq!(c.get_ssl_crl(), Some("/etc/pg/root.crl"));
    assert_eq!(c.get_ssl_crl_dir(), Some("/etc/pg/crls"));
    assert_eq!(
        c.get_ssl_min_protocol_version(),
        Some(Some(crate::TlsVersion::Tls1_3))
    );
    assert_eq!(c.get_ssl_max_protocol_version(), Some(None));
    let shown = c.to_string();
    assert_eq!(
        shown,
        "sslcertmode=require sslcrl=/etc/pg/root.crl sslcrldir=/etc/pg/crls \
         sslpassword=<redacted> ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=''"
    );
    assert!(!format!("{c:?}").contains("top secret"));
    let url = parse(
        "postgresql://h/d?sslcertmode=disable&ssl_min_protocol_version=tlsv1.2&sslpassword=x",
    );
    assert_eq!(url.get_ssl_cert_mode(), Some(crate::SslCertMode::Disable));
    assert_eq!(
        url.get_ssl_min_protocol_version(),
        Some(Some(crate::TlsVersion::Tls1_2))
    );
    let mut built = Config::new();
    built
        .ssl_cert_mode(crate::SslCertMode::Require)
        .ssl_crl("/etc/pg/root.crl")
        .ssl_crl_dir("/etc/pg/crls")
        .ssl_password("top secret")
        .ssl_min_protocol_version(Some(crate::TlsVersion::Tls1_3))
        .ssl_max_protocol_version(None);
    assert_eq!(built, c);
    for (input, want) in [
        ("sslcertmode=yes", "invalid sslcertmode value: \"yes\""),
        (
            "ssl_max_protocol_version=SSLv3",
            "invalid \"ssl_max_protocol_version\" value: \"SSLv3\"",
        ),
    ] {
        assert!(error(input).contains(want), "{input}: {}", error(input));
    }
}
