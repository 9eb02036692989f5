//! `Config::parse(&config.to_string()) == config`, over generated configs and URLs.

use std::time::Duration;

use proptest::prelude::*;

use crate::config::{
    Config, ConnectRetry, GssEncMode, LoadBalanceHosts, SslMode, TargetSessionAttrs,
};

/// Text that exercises quoting, escaping and the URL and list separators.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9 '\\\\=,%/@:?&\\[\\]é\t\n_.-]{0,12}").unwrap()
}

fn host() -> impl Strategy<Value = String> {
    // A host never holds a comma: `host()` and both parsers split on it.
    text().prop_map(|h| h.replace(',', ""))
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..5).prop_map(Duration::from_secs),
        (0u64..100_000).prop_map(Duration::from_millis),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn opt<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    proptest::option::of(s)
}

fn lists() -> impl Strategy<Value = (Vec<String>, Vec<String>, Vec<u16>)> {
    (0usize..4).prop_flat_map(|n| {
        let addr = prop_oneof![
            Just(String::new()),
            Just("127.0.0.1".to_owned()),
            Just("::1".to_owned()),
            Just("fe80::1".to_owned()),
        ];
        let addrs = prop_oneof![Just(0), Just(n.max(1))]
            .prop_flat_map(move |k| proptest::collection::vec(addr.clone(), k));
        let ports = prop_oneof![Just(0), Just(1), Just(n.max(1))]
            .prop_flat_map(|k| proptest::collection::vec(any::<u16>(), k));
        (proptest::collection::vec(host(), n), addrs, ports)
    })
}

prop_compose! {
    fn config()(
        (hosts, hostaddrs, ports) in lists(),
        texts in proptest::collection::vec(opt(text()), 6),
        connect_timeout in opt(duration()),
        ssl in opt(0usize..6),
        attrs in opt(0usize..6),
        tuning in (any::<u16>(), any::<u32>(), any::<u16>(), any::<u64>(), duration(), any::<bool>()),
        paced in any::<bool>(),
        keepalives in (any::<bool>(), duration(), duration(), any::<u32>(), duration(), duration()),
        query_timeout in duration(),
        host_keys in (opt(0usize..2), opt(0usize..3), proptest::collection::vec(opt(text()), 4)),
        retry in (duration(), any::<u32>(), duration(), duration()),
    ) -> Config {
        let mut c = Config::new();
        c.hosts = hosts;
        c.hostaddrs = hostaddrs;
        for p in ports {
            c.port(p);
        }
        let [user, dbname, app, fallback, options, passfile] =
            <[Option<String>; 6]>::try_from(texts).unwrap();
        c.user = user;
        c.dbname = dbname;
        c.application_name = app;
        c.fallback_application_name = fallback;
        c.options = options;
        c.passfile = passfile.map(Into::into);
        c.connect_timeout = connect_timeout;
        c.ssl_mode = ssl.map(|i| [SslMode::Disable, SslMode::Allow, SslMode::Prefer, SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull][i]);
        c.target_session_attrs = attrs.map(|i| [
            TargetSessionAttrs::Any, TargetSessionAttrs::ReadWrite, TargetSessionAttrs::ReadOnly,
            TargetSessionAttrs::Primary, TargetSessionAttrs::Standby, TargetSessionAttrs::PreferStandby,
        ][i]);
        let (read, max_msg, params, drain_bytes, drain_time, binary) = tuning;
        c.read_buffer_size(read.into())
            .max_message_size(max_msg as usize)
            .max_parameters(params.into())
            .drain_limits(drain_bytes, drain_time)
            .binary_results(binary)
            .read_pacing(paced);
        let (on, idle, interval, count, user_timeout, cancel) = keepalives;
        c.keepalives(on)
            .keepalives_idle(idle)
            .keepalives_interval(interval)
            .keepalives_count(count)
            .tcp_user_timeout(user_timeout)
            .cancel_timeout(cancel)
            .query_timeout(query_timeout);
        let (balance, gss, texts) = host_keys;
        c.load_balance_hosts = balance.map(|i| [LoadBalanceHosts::Disable, LoadBalanceHosts::Random][i]);
        c.gssencmode = gss.map(|i| [GssEncMode::Disable, GssEncMode::Prefer, GssEncMode::Require][i]);
        let [service, servicefile, requirepeer, krbsrvname] =
            <[Option<String>; 4]>::try_from(texts).unwrap();
        c.service = service;
        c.servicefile = servicefile.map(Into::into);
        c.requirepeer = requirepeer;
        c.krbsrvname = krbsrvname;
        let (budget, attempts, initial, max) = retry;
        c.connect_retry(ConnectRetry::new(budget).max_attempts(attempts).backoff(initial, max));
        c
    }
}

/// Percent-encodes every byte outside a few safe ones, so generated URL parts may hold
/// anything, commas and `%` included.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn display_parses_back_to_the_same_config(c in config()) {
        prop_assume!(c.check_counts().is_ok());
        let shown = c.to_string();
        let parsed = Config::parse(&shown)
            .map_err(|e| TestCaseError::fail(format!("{shown:?}: {e}")))?;
        prop_assert_eq!(parsed, c, "{}", shown);
    }

    #[test]
    fn a_url_parses_to_a_config_that_displays_and_parses_back(
        user in text(),
        hosts in proptest::collection::vec((text(), opt(1u16..)), 1..4),
        dbname in text(),
        app in text(),
    ) {
        let hosts: Vec<String> = hosts
            .iter()
            .map(|(h, p)| match p {
                Some(p) => format!("{}:{p}", encode(h)),
                None => encode(h),
            })
            .collect();
        let url = format!(
            "postgresql://{}@{}/{}?application_name={}",
            encode(&user),
            hosts.join(","),
            encode(&dbname),
            encode(&app)
        );
        if let Ok(c) = Config::parse(&url) {
            let shown = c.to_string();
            let parsed = Config::parse(&shown)
                .map_err(|e| TestCaseError::fail(format!("{url} -> {shown:?}: {e}")))?;
            prop_assert_eq!(parsed, c, "{} -> {}", url, shown);
        }
    }
}

#[test]
fn the_password_never_prints_and_reads_back_redacted() {
    let mut c = Config::parse("host=h user=u").unwrap();
    c.password("hunter2");
    let parsed = Config::parse(&c.to_string()).unwrap();
    assert_eq!(parsed.get_password(), Some("<redacted>"));
    c.password("<redacted>");
    assert_eq!(parsed, c);
}

#[test]
fn the_ssl_password_never_prints_and_reads_back_redacted() {
    // Found by the config fuzz target: an empty sslpassword printed as `<redacted>`.
    for secret in ["", "hunter2"] {
        let mut c = Config::parse("host=h").unwrap();
        c.ssl_password(secret);
        let shown = c.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        let parsed = Config::parse(&shown).unwrap();
        assert_eq!(parsed.get_ssl_password(), Some("<redacted>"));
        c.ssl_password("<redacted>");
        assert_eq!(parsed, c);
    }
}
