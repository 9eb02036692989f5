//! Resolving against a fake environment.

use super::*;
use crate::ErrorKind;

/// A fake environment: `PG*` variables and `USER`/`HOME` from a list, nothing else.
fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn resolve(config: &str, vars: &[(&str, &str)]) -> Result<Resolved> {
    Config::parse(config).unwrap().resolve(&env(vars))
}

fn tcp(name: &str, port: u16) -> Target {
    Target {
        host: Host::Tcp {
            name: name.to_owned(),
            addr: None,
        },
        port,
    }
}

const FULL_ENV: &[(&str, &str)] = &[
    ("USER", "osuser"),
    ("HOME", "/home/osuser"),
    ("PGHOST", "envhost"),
    ("PGPORT", "6000"),
    ("PGUSER", "envuser"),
    ("PGPASSWORD", "envpw"),
    ("PGDATABASE", "envdb"),
    ("PGAPPNAME", "envapp"),
    ("PGCONNECT_TIMEOUT", "7"),
    ("PGSSLMODE", "disable"),
    ("PGOPTIONS", "-cenv=1"),
    ("PGPASSFILE", "/env/pgpass"),
    ("PGTARGETSESSIONATTRS", "standby"),
];

#[test]
fn explicit_values_beat_the_environment() {
    let r = resolve(
        "host=h port=1 user=u password=p dbname=d application_name=a connect_timeout=3 \
         sslmode=require options=-cx=1 passfile=/cfg/pgpass target_session_attrs=primary",
        FULL_ENV,
    )
    .unwrap();
    assert_eq!(r.targets, [tcp("h", 1)]);
    assert_eq!((r.user.as_str(), r.dbname.as_str()), ("u", "d"));
    assert_eq!(r.password.as_deref(), Some("p"));
    assert_eq!(r.application_name.as_deref(), Some("a"));
    assert_eq!(r.connect_timeout, Some(Duration::from_secs(3)));
    assert_eq!(r.ssl_mode, SslMode::Require);
    assert_eq!(r.options.as_deref(), Some("-cx=1"));
    assert_eq!(r.passfile, Some(PathBuf::from("/cfg/pgpass")));
    assert_eq!(r.target_session_attrs, TargetSessionAttrs::Primary);
}

#[test]
fn environment_fills_what_the_config_leaves_unset() {
    let r = resolve("", FULL_ENV).unwrap();
    assert_eq!(r.targets, [tcp("envhost", 6000)]);
    assert_eq!((r.user.as_str(), r.dbname.as_str()), ("envuser", "envdb"));
    assert_eq!(r.password.as_deref(), Some("envpw"));
    assert_eq!(r.application_name.as_deref(), Some("envapp"));
    assert_eq!(r.connect_timeout, Some(Duration::from_secs(7)));
    assert_eq!(r.ssl_mode, SslMode::Disable);
    assert_eq!(r.options.as_deref(), Some("-cenv=1"));
    assert_eq!(r.passfile, Some(PathBuf::from("/env/pgpass")));
    assert_eq!(r.target_session_attrs, TargetSessionAttrs::Standby);
}

#[test]
fn defaults_apply_when_neither_config_nor_environment_sets_a_value() {
    let r = resolve(
        "fallback_application_name=fb",
        &[("USER", "osuser"), ("HOME", "/home/o")],
    )
    .unwrap();
    assert_eq!((r.user.as_str(), r.dbname.as_str()), ("osuser", "osuser"));
    assert_eq!(r.password, None);
    assert_eq!(r.application_name.as_deref(), Some("fb"));
    assert_eq!((r.connect_timeout, r.ssl_mode), (None, SslMode::Prefer));
    assert_eq!(r.target_session_attrs, TargetSessionAttrs::Any);
    assert_eq!(r.passfile, Some(PathBuf::from("/home/o/.pgpass")));
    assert_eq!(r.targets.len(), 1);
    assert_eq!(r.targets[0].port, 5432);
    #[cfg(unix)]
    match &r.targets[0].host {
        Host::Unix(dir) => assert!(
            DEFAULT_SOCKET_DIRS.iter().any(|d| dir == Path::new(d)),
            "{dir:?}"
        ),
        other => panic!("expected the default socket directory, got {other:?}"),
    }
    let r = resolve("", &[("LOGNAME", "logname")]).unwrap();
    assert_eq!((r.user.as_str(), r.passfile.as_deref()), ("logname", None));
}

#[test]
fn explicit_empty_values_skip_the_environment_and_take_the_default() {
    let vars = [
        ("USER", "osuser"),
        ("PGUSER", "envuser"),
        ("PGDATABASE", "envdb"),
        ("PGHOST", "envhost"),
    ];
    let r = resolve("user='' dbname='' host=''", &vars).unwrap();
    assert_eq!((r.user.as_str(), r.dbname.as_str()), ("osuser", "osuser"));
    assert!(!matches!(&r.targets[0].host, Host::Tcp { name, .. } if name == "envhost"));
    let r = resolve(
        "application_name=''",
        &[("USER", "u"), ("PGAPPNAME", "env")],
    )
    .unwrap();
    assert_eq!(r.application_name, None);
}

#[test]
fn environment_host_and_port_lists_pair_like_libpq() {
    let r = resolve(
        "",
        &[("USER", "u"), ("PGHOST", "a,/tmp,"), ("PGPORT", "1,2,")],
    )
    .unwrap();
    assert_eq!(r.targets[0], tcp("a", 1));
    assert_eq!(
        r.targets[1],
        Target {
            host: Host::Unix(PathBuf::from("/tmp")),
            port: 2
        }
    );
    assert_eq!(r.targets[2].port, 5432);
    let r = resolve("host=a,b", &[("USER", "u"), ("PGPORT", "7")]).unwrap();
    assert_eq!(r.targets, [tcp("a", 7), tcp("b", 7)]);
    let err = resolve("host=a,b,c", &[("USER", "u"), ("PGPORT", "1,2")]).unwrap_err();
    assert_eq!(err.to_string(), "could not match 2 port numbers to 3 hosts");
}

#[test]
fn hostaddr_pairs_with_hosts_and_names_the_target_when_alone() {
    let r = resolve("host=db,other hostaddr=10.0.0.5,", &[("USER", "u")]).unwrap();
    let addr = "10.0.0.5".parse().ok();
    assert_eq!(
        r.targets[0].host,
        Host::Tcp {
            name: "db".to_owned(),
            addr
        }
    );
    assert_eq!(r.targets[1], tcp("other", 5432));
    let r = resolve("", &[("USER", "u"), ("PGHOSTADDR", "::1")]).unwrap();
    assert_eq!(
        r.targets[0].host,
        Host::Tcp {
            name: "::1".to_owned(),
            addr: "::1".parse().ok()
        }
    );
}

#[test]
fn connect_timeout_zero_means_none_and_still_overrides_the_environment() {
    let r = resolve(
        "connect_timeout=0",
        &[("USER", "u"), ("PGCONNECT_TIMEOUT", "9")],
    )
    .unwrap();
    assert_eq!(r.connect_timeout, None);
    let r = resolve("", &[("USER", "u"), ("PGCONNECT_TIMEOUT", "1")]).unwrap();
    assert_eq!(r.connect_timeout, Some(Duration::from_secs(2)));
}

#[test]
fn invalid_environment_values_name_the_variable() {
    let cases: &[(&str, &str)] = &[
        ("PGPORT", "abc"),
        ("PGSSLMODE", "sometimes"),
        ("PGCONNECT_TIMEOUT", "soon"),
        ("PGTARGETSESSIONATTRS", "master"),
        ("PGHOSTADDR", "db.example"),
        ("PGREQUIREAUTH", "kerberos"),
        ("PGCHANNELBINDING", "always"),
        ("PGMINPROTOCOLVERSION", "3.1"),
        ("PGMAXPROTOCOLVERSION", "4"),
    ];
    for &(var, value) in cases {
        let err = resolve("", &[("USER", "u"), (var, value)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let message = err.to_string();
        assert!(
            message.contains(var) && message.contains(&format!("{value:?}")),
            "{message}"
        );
    }
}

#[test]
fn abstract_namespace_sockets_are_rejected() {
    let err = resolve("host=@pg", &[("USER", "u")]).unwrap_err();
    assert!(err.to_string().contains("\"@pg\""), "{err}");
}

#[test]
fn empty_environment_variables_count_as_unset() {
    let r = resolve(
        "",
        &[
            ("USER", "u"),
            ("PGPORT", ""),
            ("PGSSLMODE", ""),
            ("PGUSER", ""),
        ],
    )
    .unwrap();
    assert_eq!(
        (r.targets[0].port, r.ssl_mode, r.user.as_str()),
        (5432, SslMode::Prefer, "u")
    );
}

#[test]
fn a_multi_host_url_without_ports_ignores_pgport_like_libpq() {
    let vars = [("USER", "u"), ("PGPORT", "6000")];
    let r = resolve("postgresql://a,b/db", &vars).unwrap();
    assert_eq!(r.targets, [tcp("a", 5432), tcp("b", 5432)]);
    let r = resolve("postgresql://a/db", &vars).unwrap();
    assert_eq!(r.targets, [tcp("a", 6000)]);
    let r = resolve("host=a,b", &vars).unwrap();
    assert_eq!(r.targets, [tcp("a", 6000), tcp("b", 6000)]);
}

#[test]
fn new_keywords_come_from_the_environment_when_unset() {
    let vars = [
        ("USER", "u"),
        ("PGLOADBALANCEHOSTS", "random"),
        ("PGREQUIREPEER", "postgres"),
        ("PGGSSENCMODE", "prefer"),
        ("PGKRBSRVNAME", "kerb"),
    ];
    let r = resolve("", &vars).unwrap();
    assert_eq!(r.load_balance_hosts, LoadBalanceHosts::Random);
    assert_eq!(r.requirepeer.as_deref(), Some("postgres"));
    assert_eq!(r.gssencmode, GssEncMode::Prefer);
    assert_eq!(r.krbsrvname.as_deref(), Some("kerb"));
    let r = resolve(
        "load_balance_hosts=disable requirepeer=me gssencmode=disable",
        &vars,
    )
    .unwrap();
    assert_eq!(r.load_balance_hosts, LoadBalanceHosts::Disable);
    assert_eq!(r.requirepeer.as_deref(), Some("me"));
    assert_eq!(r.gssencmode, GssEncMode::Disable);
    let r = resolve("", &[("USER", "u")]).unwrap();
    assert_eq!(
        (r.load_balance_hosts, r.gssencmode, r.requirepeer),
        (LoadBalanceHosts::Disable, GssEncMode::Disable, None)
    );
    let err = resolve("", &[("USER", "u"), ("PGLOADBALANCEHOSTS", "rr")]).unwrap_err();
    assert!(err.to_string().contains("PGLOADBALANCEHOSTS"), "{err}");
}

#[test]
fn gssencmode_require_is_refused_naming_where_it_came_from() {
    let err = resolve("gssencmode=require", &[("USER", "u")]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let message = err.to_string();
    assert!(
        message.starts_with("gssencmode=require: jsonwire has no GSSAPI support"),
        "{message}"
    );
    let err = resolve("", &[("USER", "u"), ("PGGSSENCMODE", "require")]).unwrap_err();
    assert!(err.to_string().contains("(from PGGSSENCMODE)"), "{err}");
}

/// A directory under the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("jsonwire-resolve-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_service_fills_in_after_explicit_values_and_before_the_environment() {
    let dir = TempDir::new("service-precedence");
    let file = dir.file(
        "services.conf",
        "[app]\nhost=svc-host\nport=7000\ndbname=svc-db\nuser=svc-user\n",
    );
    let vars = [
        ("USER", "u"),
        ("PGSERVICEFILE", file.as_str()),
        ("PGHOST", "env-host"),
        ("PGDATABASE", "env-db"),
        ("PGUSER", "env-user"),
        ("PGAPPNAME", "env-app"),
    ];
    let r = resolve("service=app dbname=mine", &vars).unwrap();
    assert_eq!(r.targets, [tcp("svc-host", 7000)]);
    assert_eq!((r.dbname.as_str(), r.user.as_str()), ("mine", "svc-user"));
    assert_eq!(r.application_name.as_deref(), Some("env-app"));
    let mut vars = vars.to_vec();
    vars.push(("PGSERVICE", "app"));
    let r = resolve("", &vars).unwrap();
    assert_eq!(r.dbname, "svc-db");
}

#[test]
fn service_files_are_searched_in_libpqs_order() {
    let dir = TempDir::new("service-order");
    let home = dir.0.join("home").to_string_lossy().into_owned();
    dir.file(
        "home/.pg_service.conf",
        "[user]\nhost=from-home\n[both]\nhost=home-wins\n",
    );
    let sysconf = dir.0.join("etc").to_string_lossy().into_owned();
    dir.file(
        "etc/pg_service.conf",
        "[system]\nhost=from-sysconf\n[both]\nhost=sysconf-loses\n",
    );
    let explicit = dir.file("explicit.conf", "[user]\nhost=from-explicit\n");
    let vars = [
        ("USER", "u"),
        ("HOME", home.as_str()),
        ("PGSYSCONFDIR", sysconf.as_str()),
    ];
    let host = |config: &str, vars: &[(&str, &str)]| match resolve(config, vars) {
        Ok(r) => format!("{}", r.targets[0]),
        Err(e) => format!("error: {e}"),
    };
    assert_eq!(host("service=user", &vars), "from-home:5432");
    assert_eq!(host("service=system", &vars), "from-sysconf:5432");
    assert_eq!(host("service=both", &vars), "home-wins:5432");
    let with_file = [vars.as_slice(), &[("PGSERVICEFILE", explicit.as_str())]].concat();
    assert_eq!(host("service=user", &with_file), "from-explicit:5432");
    // The user file named explicitly need not define the service: the system file still may.
    assert_eq!(host("service=system", &with_file), "from-sysconf:5432");
    let option = format!("service=user servicefile={explicit}");
    assert_eq!(host(&option, &vars), "from-explicit:5432");
    let missing = host("service=nope", &vars);
    assert!(
        missing.contains("definition of service \"nope\" not found")
            && missing.contains(".pg_service.conf")
            && missing.contains("pg_service.conf"),
        "{missing}"
    );
    let gone = dir.0.join("gone.conf").to_string_lossy().into_owned();
    let err = host(
        "service=user",
        &[("USER", "u"), ("PGSERVICEFILE", gone.as_str())],
    );
    assert!(
        err.contains("could not read the service file") && err.contains("gone.conf"),
        "{err}"
    );
}

#[test]
fn a_bad_service_file_line_is_reported_with_the_file_and_line() {
    let dir = TempDir::new("service-bad");
    let file = dir.file("s.conf", "[s]\nhost=h\nsslmode=sometimes\n");
    let err = resolve(
        "service=s",
        &[("USER", "u"), ("PGSERVICEFILE", file.as_str())],
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let message = err.to_string();
    assert!(
        message.contains("s.conf, line 3: invalid sslmode value: \"sometimes\""),
        "{message}"
    );
}

#[test]
fn auth_and_protocol_keys_come_from_the_environment_and_default_like_libpq() {
    let r = resolve("", &[("USER", "u")]).unwrap();
    assert_eq!(r.channel_binding, ChannelBinding::Prefer);
    assert_eq!(
        (r.min_protocol, r.max_protocol),
        (ProtocolVersion::V3_0, ProtocolVersion::V3_0)
    );
    assert_eq!(r.require_auth, None);
    assert_eq!(r.auth_policy(), AuthPolicy::any());
    let vars = [
        ("USER", "u"),
        ("PGREQUIREAUTH", "scram-sha-256"),
        ("PGCHANNELBINDING", "require"),
        ("PGMINPROTOCOLVERSION", "3.2"),
    ];
    let r = resolve("", &vars).unwrap();
    assert_eq!(r.channel_binding, ChannelBinding::Require);
    assert_eq!(
        r.max_protocol,
        ProtocolVersion::V3_2,
        "max follows a higher min"
    );
    assert!(r.auth_policy().allows(crate::AuthMethod::ScramSha256));
    assert!(!r.auth_policy().allows(crate::AuthMethod::None));
    let r = resolve("require_auth=md5 channel_binding=disable", &vars).unwrap();
    assert!(!r.auth_policy().allows(crate::AuthMethod::ScramSha256));
    assert_eq!(r.channel_binding, ChannelBinding::Disable);
    let err = resolve(
        "min_protocol_version=latest max_protocol_version=3.0",
        &[("USER", "u")],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("above max_protocol_version"),
        "{err}"
    );
}

#[test]
fn tls_keys_come_from_the_environment_when_unset() {
    use crate::config::{RootCerts, SslNegotiation};
    let dir = TempDir::new("tls-env");
    let root = dir.file("root.crt", "not read while resolving");
    let vars = [
        ("USER", "u"),
        ("HOME", "/nonexistent"),
        ("PGSSLMODE", "require"),
        ("PGSSLROOTCERT", root.as_str()),
        ("PGSSLCERT", "/env/client.crt"),
        ("PGSSLKEY", "/env/client.key"),
        ("PGSSLSNI", "0"),
        ("PGSSLNEGOTIATION", "direct"),
    ];
    let r = resolve("", &vars).unwrap();
    assert_eq!(r.ssl_mode, SslMode::Require);
    // libpq: require with a root certificate file verifies the chain.
    assert_eq!(r.tls.mode, SslMode::VerifyCa);
    assert_eq!(r.tls.roots, RootCerts::File(PathBuf::from(&root)));
    assert_eq!(r.tls.cert, Some(PathBuf::from("/env/client.crt")));
    assert_eq!(r.tls.key, Some(PathBuf::from("/env/client.key")));
    assert!(!r.tls.sni);
    assert_eq!(r.tls.negotiation, SslNegotiation::Direct);

    // Explicit values win, each on its own.
    let r = resolve(
        "sslmode=verify-full sslrootcert=system sslcert=/cfg/c.crt sslkey=/cfg/c.key sslsni=1 \
         sslnegotiation=postgres",
        &vars,
    )
    .unwrap();
    assert_eq!(r.tls.mode, SslMode::VerifyFull);
    assert_eq!(r.tls.roots, RootCerts::System);
    assert_eq!(r.tls.cert, Some(PathBuf::from("/cfg/c.crt")));
    assert_eq!(r.tls.key, Some(PathBuf::from("/cfg/c.key")));
    assert!(r.tls.sni);
    assert_eq!(r.tls.negotiation, SslNegotiation::Postgres);

    // Unset, SNI is on and negotiation is the SSLRequest; a bad value names its variable.
    let r = resolve("", &[("USER", "u"), ("HOME", "/nonexistent")]).unwrap();
    assert!(r.tls.sni);
    assert_eq!(r.tls.negotiation, SslNegotiation::Postgres);
    for (var, value) in [("PGSSLNEGOTIATION", "tls"), ("PGSSLSNI", "yes")] {
        let err = resolve("", &[("USER", "u"), (var, value)]).unwrap_err();
        assert!(err.to_string().contains(var), "{var}={value}: {err}");
    }
    // PGSSLNEGOTIATION=direct with the default sslmode (prefer) is refused, as libpq refuses it.
    let err = resolve("", &[("USER", "u"), ("PGSSLNEGOTIATION", "direct")]).unwrap_err();
    assert!(err.to_string().contains("sslnegotiation=direct"), "{err}");
}
