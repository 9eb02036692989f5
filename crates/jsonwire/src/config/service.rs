//! The connection service file (libpq docs 34.17 "The Connection Service File"): INI-style
//! groups of `keyword=value` lines, looked up by the `service` keyword or `PGSERVICE`.

use std::path::{Path, PathBuf};

use super::kv::set;
use super::{Config, Tuning};
use crate::error::{Error, Result};

/// Where the system-wide `pg_service.conf` lives when `PGSYSCONFDIR` is unset, in the order we
/// look: Debian's libpq is built with `/etc/postgresql-common`, upstream's with
/// `/usr/local/pgsql/etc`.
const DEFAULT_SYSCONF_DIRS: [&str; 2] = ["/etc/postgresql-common", "/usr/local/pgsql/etc"];

/// A service file larger than this is refused rather than read into memory.
const MAX_FILE_SIZE: u64 = 1 << 20;

/// The settings of service `name` from the first file that defines it, as libpq's
/// `parseServiceInfo` finds it: `servicefile` or `PGSERVICEFILE` (which must exist), else
/// `~/.pg_service.conf`; if the service is not there, `pg_service.conf` in `PGSYSCONFDIR`.
pub(super) fn lookup(
    name: &str,
    servicefile: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let mut looked = Vec::new();
    let user_file = match servicefile {
        Some(path) => Some((path.to_owned(), true)),
        None => match var("PGSERVICEFILE") {
            Some(path) => Some((PathBuf::from(path), true)),
            None => var("HOME").map(|home| (Path::new(&home).join(".pg_service.conf"), false)),
        },
    };
    if let Some((path, must_exist)) = user_file {
        if must_exist || path.is_file() {
            if let Some(config) = parse_file(&path, name)? {
                return Ok(config);
            }
        }
        looked.push(path);
    }
    let system_file = match var("PGSYSCONFDIR") {
        Some(dir) => Some(Path::new(&dir).join("pg_service.conf")),
        None => DEFAULT_SYSCONF_DIRS
            .iter()
            .map(|dir| Path::new(dir).join("pg_service.conf"))
            .find(|path| path.is_file()),
    };
    if let Some(path) = system_file {
        if path.is_file() {
            if let Some(config) = parse_file(&path, name)? {
                return Ok(config);
            }
        }
        looked.push(path);
    }
    let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
    Err(Error::config(format!(
        "definition of service {name:?} not found (looked in: {})",
        if looked.is_empty() {
            "no service file: set PGSERVICEFILE or create ~/.pg_service.conf".to_owned()
        } else {
            looked.join(", ")
        }
    )))
}

fn parse_file(path: &Path, name: &str) -> Result<Option<Config>> {
    let fail = |e: std::io::Error| {
        Error::config(format!(
            "could not read the service file {}",
            path.display()
        ))
        .with_source(e)
    };
    let size = std::fs::metadata(path).map_err(fail)?.len();
    if size > MAX_FILE_SIZE {
        return Err(Error::config(format!(
            "the service file {} is {size} bytes; service files over {MAX_FILE_SIZE} bytes are refused",
            path.display()
        )));
    }
    let contents = std::fs::read_to_string(path).map_err(fail)?;
    parse(&contents, name).map_err(|(line, problem)| {
        Error::config(format!(
            "service file {}, line {line}: {problem}",
            path.display()
        ))
    })
}

/// The settings of group `[name]` in `contents`, `None` if there is no such group. Within
/// the group the first value of a keyword wins, as in libpq; errors carry the line number.
fn parse(contents: &str, name: &str) -> Result<Option<Config>, (usize, String)> {
    let mut settings: Vec<(&str, &str, usize)> = Vec::new();
    let mut in_group = false;
    let mut found = false;
    for (number, line) in contents.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        let line = line.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            if in_group {
                break;
            }
            // libpq compares only up to the name's length and the "]" after it.
            in_group = header
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(']'));
            found |= in_group;
            continue;
        }
        if !in_group {
            continue;
        }
        if line.starts_with("ldap") {
            return Err((
                number,
                "LDAP service lookups are not supported by jsonwire".to_owned(),
            ));
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err((number, "syntax error: expected keyword=value".to_owned()));
        };
        if key == "service" {
            return Err((
                number,
                "nested service specifications are not supported".to_owned(),
            ));
        }
        if !settings.iter().any(|&(k, _, _)| k == key) {
            settings.push((key, value, number));
        }
    }
    if !found {
        return Ok(None);
    }
    let mut config = Config::new();
    for (key, value, number) in settings {
        set(&mut config, key, value).map_err(|e| (number, e.to_string()))?;
    }
    Ok(Some(config))
}

impl Config {
    /// This configuration with what it leaves unset taken from `service`, keyword by keyword.
    pub(super) fn or_service(&self, service: Config) -> Config {
        fn list<T>(ours: &[T], theirs: Vec<T>) -> Vec<T>
        where
            T: Clone,
        {
            if ours.is_empty() {
                theirs
            } else {
                ours.to_vec()
            }
        }
        Config {
            hosts: list(&self.hosts, service.hosts),
            hostaddrs: list(&self.hostaddrs, service.hostaddrs),
            ports: list(&self.ports, service.ports),
            user: self.user.clone().or(service.user),
            password: self.password.clone().or(service.password),
            dbname: self.dbname.clone().or(service.dbname),
            application_name: self.application_name.clone().or(service.application_name),
            fallback_application_name: self
                .fallback_application_name
                .clone()
                .or(service.fallback_application_name),
            options: self.options.clone().or(service.options),
            connect_timeout: self.connect_timeout.or(service.connect_timeout),
            ssl_mode: self.ssl_mode.or(service.ssl_mode),
            passfile: self.passfile.clone().or(service.passfile),
            target_session_attrs: self.target_session_attrs.or(service.target_session_attrs),
            load_balance_hosts: self.load_balance_hosts.or(service.load_balance_hosts),
            service: self.service.clone(),
            servicefile: self.servicefile.clone(),
            requirepeer: self.requirepeer.clone().or(service.requirepeer),
            gssencmode: self.gssencmode.or(service.gssencmode),
            krbsrvname: self.krbsrvname.clone().or(service.krbsrvname),
            ssl_root_cert: self.ssl_root_cert.clone().or(service.ssl_root_cert),
            ssl_cert: self.ssl_cert.clone().or(service.ssl_cert),
            ssl_key: self.ssl_key.clone().or(service.ssl_key),
            ssl_sni: self.ssl_sni.or(service.ssl_sni),
            ssl_negotiation: self.ssl_negotiation.or(service.ssl_negotiation),
            require_auth: self.require_auth.clone().or(service.require_auth),
            channel_binding: self.channel_binding.or(service.channel_binding),
            min_protocol_version: self.min_protocol_version.or(service.min_protocol_version),
            max_protocol_version: self.max_protocol_version.or(service.max_protocol_version),
            ssl: self.ssl.or_service(service.ssl),
            connect_retry: if self.connect_retry.is_on() {
                self.connect_retry
            } else {
                service.connect_retry
            },
            tuning: self.tuning.or_service(service.tuning),
        }
    }
}

impl Tuning {
    /// Each setting left at its default taken from `service`. These have no "unset" state, so
    /// a value set explicitly to the default gives way to the service's, the one difference
    /// from libpq (which only fills keywords that were not given).
    fn or_service(&self, service: Tuning) -> Tuning {
        fn pick<T: PartialEq>(ours: T, default: T, theirs: T) -> T {
            if ours == default {
                theirs
            } else {
                ours
            }
        }
        let d = Tuning::default();
        let ours = self.clone();
        Tuning {
            read_buffer_size: pick(
                ours.read_buffer_size,
                d.read_buffer_size,
                service.read_buffer_size,
            ),
            max_message_size: pick(
                ours.max_message_size,
                d.max_message_size,
                service.max_message_size,
            ),
            drain_max_bytes: pick(
                ours.drain_max_bytes,
                d.drain_max_bytes,
                service.drain_max_bytes,
            ),
            drain_timeout: pick(ours.drain_timeout, d.drain_timeout, service.drain_timeout),
            binary_results: pick(
                ours.binary_results,
                d.binary_results,
                service.binary_results,
            ),
            query_timeout: ours.query_timeout.or(service.query_timeout),
            read_pacing: pick(ours.read_pacing, d.read_pacing, service.read_pacing),
            cancel_timeout: ours.cancel_timeout.or(service.cancel_timeout),
            max_parameters: pick(
                ours.max_parameters,
                d.max_parameters,
                service.max_parameters,
            ),
            keepalives: pick(ours.keepalives, d.keepalives, service.keepalives),
            keepalives_idle: ours.keepalives_idle.or(service.keepalives_idle),
            keepalives_interval: ours.keepalives_interval.or(service.keepalives_interval),
            keepalives_count: ours.keepalives_count.or(service.keepalives_count),
            tcp_user_timeout: ours.tcp_user_timeout.or(service.tcp_user_timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const FILE: &str = "\
# comment
[other]
host=elsewhere

  [app]  
host=db1,db2
port=5433
dbname=orders
dbname=ignored
sslmode=disable
target_session_attrs=read-write
[app2]
host=later
";

    fn group(name: &str) -> Option<Config> {
        parse(FILE, name).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn a_group_gives_its_settings_and_the_first_value_of_a_keyword_wins() {
        let c = group("app").unwrap();
        assert_eq!(c.get_hosts(), ["db1", "db2"]);
        assert_eq!(c.get_ports(), [5433]);
        assert_eq!(c.get_dbname(), Some("orders"));
        assert_eq!(
            c.to_string(),
            "host=db1,db2 port=5433 dbname=orders sslmode=disable target_session_attrs=read-write"
        );
        assert_eq!(group("other").unwrap().get_hosts(), ["elsewhere"]);
        assert!(group("ap").is_none());
        assert!(group("missing").is_none());
    }

    #[test]
    fn bad_lines_in_the_group_are_errors_with_their_line_number() {
        let cases: &[(&str, usize, &str)] = &[
            ("[s]\nhost\n", 2, "syntax error"),
            ("[s]\nservice=x\n", 2, "nested service"),
            ("[s]\n\nfoo=1\n", 3, "invalid connection option \"foo\""),
            ("[s]\nhost =x\n", 2, "invalid connection option \"host \""),
            ("[s]\nsslmode=sometimes\n", 2, "invalid sslmode value"),
            ("[s]\nldap://ldap.example/dc=x?y?one?(cn=s)\n", 2, "LDAP"),
        ];
        for &(contents, line, want) in cases {
            let (got_line, problem) = parse(contents, "s").unwrap_err();
            assert_eq!(got_line, line, "{contents}");
            assert!(problem.contains(want), "{contents}: {problem}");
        }
        // Lines outside the group are not looked at.
        assert!(parse("[t]\nnonsense\n[s]\nhost=h\n", "s")
            .unwrap()
            .is_some());
    }

    #[test]
    fn explicit_settings_win_over_the_service() {
        let service = group("app").unwrap();
        let explicit = Config::parse("dbname=mine port=1 options=-cx=1 keepalives_idle=9").unwrap();
        let mut service = service;
        service
            .keepalives(false)
            .keepalives_idle(Duration::from_secs(3));
        let merged = explicit.or_service(service);
        assert_eq!(
            merged.get_keepalives(),
            (false, Some(Duration::from_secs(9)), None, None)
        );
        assert_eq!(merged.get_dbname(), Some("mine"));
        assert_eq!(merged.get_ports(), [1]);
        assert_eq!(merged.get_hosts(), ["db1", "db2"]);
        assert_eq!(merged.get_options(), Some("-cx=1"));
    }
}
