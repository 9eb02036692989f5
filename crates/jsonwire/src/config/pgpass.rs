//! The password file (libpq docs 34.16 "The Password File"): lines of
//! `hostname:port:database:username:password`, first match wins.

use std::path::Path;

use super::{Host, Target, DEFAULT_SOCKET_DIRS};

/// What the password file holds for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The password of the first matching line.
    Found(String),
    /// No line matches, or the file does not exist.
    NoMatch,
    /// The file exists but was not read, for this reason (as libpq, which only warns).
    Ignored(String),
}

/// The password for `target` from the file at `path`. A missing file or no matching line
/// yields [`Lookup::NoMatch`]; a file that is not a plain file, is unreadable or (on Unix) is
/// group- or world-accessible is ignored, as in libpq, and the reason kept so that an
/// authentication error can name it.
pub(super) fn lookup(path: &Path, target: &Target, dbname: &str, user: &str) -> Lookup {
    let contents = match read(path) {
        Ok(Some(contents)) => contents,
        Ok(None) => return Lookup::NoMatch,
        Err(reason) => {
            tracing::warn!(path = %path.display(), "ignoring the password file: {reason}");
            return Lookup::Ignored(reason);
        }
    };
    let port = target.port.to_string();
    let hosts: Vec<&str> = match &target.host {
        Host::Tcp { name, .. } => vec![name],
        Host::Unix(dir) => {
            let Some(dir_name) = dir.to_str() else {
                return Lookup::NoMatch;
            };
            // libpq looks a socket in its default directory up as "localhost".
            if DEFAULT_SOCKET_DIRS.iter().any(|d| Path::new(d) == dir) {
                vec!["localhost", dir_name]
            } else {
                vec![dir_name]
            }
        }
    };
    match find(&contents, &hosts, &port, dbname, user) {
        Some(password) => Lookup::Found(password),
        None => Lookup::NoMatch,
    }
}

/// The file's contents; `None` if it does not exist; the reason it is ignored otherwise.
fn read(path: &Path) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("could not read it: {e}")),
    };
    if !meta.is_file() {
        return Err("it is not a plain file".to_owned());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "it has group or world access (mode {mode:04o}); permissions should be u=rw \
                 (0600) or less"
            ));
        }
    }
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(|e| format!("could not read it: {e}"))
}

/// The first line whose four fields match; any of `hosts` may match the first field.
/// An empty password counts as none, as in libpq.
fn find(contents: &str, hosts: &[&str], port: &str, dbname: &str, user: &str) -> Option<String> {
    contents
        .lines()
        .find_map(|line| {
            if line.starts_with('#') {
                return None;
            }
            let (host, rest) = field(line)?;
            let (line_port, rest) = field(rest)?;
            let (line_dbname, rest) = field(rest)?;
            let (line_user, rest) = field(rest)?;
            let matches =
                |field: &Option<String>, want: &str| field.as_deref().is_none_or(|f| f == want);
            let host_matches = hosts.iter().any(|h| matches(&host, h));
            (host_matches
                && matches(&line_port, port)
                && matches(&line_dbname, dbname)
                && matches(&line_user, user))
            .then(|| password(rest))
        })
        .filter(|p| !p.is_empty())
}

/// One field up to an unescaped `:`, de-escaped; `None` inside stands for the `*` wildcard.
/// Only a field that is exactly `*` is a wildcard (libpq's `pwdfMatchesString`).
fn field(s: &str) -> Option<(Option<String>, &str)> {
    if let Some(rest) = s.strip_prefix("*:") {
        return Some((None, rest));
    }
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            ':' => return Some((Some(value), &s[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

/// The password field: up to an unescaped `:` or the end of the line; a trailing lone
/// backslash is kept, as libpq does.
fn password(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::Config;

    fn find_in(contents: &str, host: &str, port: &str, dbname: &str, user: &str) -> Option<String> {
        find(contents, &[host], port, dbname, user)
    }

    #[test]
    fn matching_follows_libpq_rules() {
        let file = "\
# comment:*:*:*:nope
db1:5432:app:alice:first
*:5432:app:alice:wild-host
db2:*:*:bob:any-port-db
host\\:colon:1:d\\\\b:u:esc:aped\\:pw
\\*:1:d:u:literal-star
db3:1:d:u:trailing\\
db4:1:d:u:
db4:1:d:u:after-empty
short:line
";
        let cases: &[(&str, &str, &str, &str, Option<&str>)] = &[
            ("db1", "5432", "app", "alice", Some("first")),
            ("other", "5432", "app", "alice", Some("wild-host")),
            ("db1", "5433", "app", "alice", None),
            ("db2", "1", "x", "bob", Some("any-port-db")),
            ("db2", "1", "x", "carol", None),
            ("host:colon", "1", "d\\b", "u", Some("esc")),
            ("*", "1", "d", "u", Some("literal-star")),
            ("x", "1", "d", "u", None),
            ("db3", "1", "d", "u", Some("trailing\\")),
            ("db4", "1", "d", "u", None),
            ("# comment", "1", "d", "u", None),
            ("short", "line", "d", "u", None),
        ];
        for &(host, port, dbname, user, want) in cases {
            let got = find_in(file, host, port, dbname, user);
            assert_eq!(got.as_deref(), want, "{host}:{port}:{dbname}:{user}");
        }
    }

    #[test]
    fn escaped_colon_inside_password_is_kept_and_bare_colon_ends_it() {
        assert_eq!(
            find_in(r"h:1:d:u:a\:b:ignored", "h", "1", "d", "u").as_deref(),
            Some("a:b")
        );
        assert_eq!(
            find_in("h:1:d:u:p\r\n", "h", "1", "d", "u").as_deref(),
            Some("p")
        );
    }

    /// A password file under the temp directory, removed when dropped.
    struct TempPassfile(PathBuf);

    impl TempPassfile {
        fn new(name: &str, contents: &str, mode: u32) -> TempPassfile {
            let path =
                std::env::temp_dir().join(format!("jsonwire-pgpass-{}-{name}", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            #[cfg(not(unix))]
            let _ = mode;
            TempPassfile(path)
        }
    }

    impl Drop for TempPassfile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn resolve(config: &str, passfile: &Path) -> super::super::Resolved {
        let mut config = Config::parse(config).unwrap();
        config.passfile(passfile);
        config
            .resolve(&|name| (name == "USER").then(|| "alice".to_owned()))
            .unwrap()
    }

    #[test]
    fn password_for_reads_the_matching_line_per_target() {
        let file = TempPassfile::new(
            "per-target",
            "h1:5432:app:alice:one\nh2:6000:app:alice:two\nlocalhost:5432:*:*:socket\n\
             /srv/sock:5432:*:*:custom-dir\n",
            0o600,
        );
        let resolved = resolve(
            "host=h1,h2,/var/run/postgresql,/srv/sock,h3 port=5432,6000,5432,5432,1 dbname=app",
            &file.0,
        );
        let passwords: Vec<Option<String>> = resolved
            .targets
            .iter()
            .map(|t| resolved.password_for(t))
            .collect();
        let want = [
            Some("one"),
            Some("two"),
            Some("socket"),
            Some("custom-dir"),
            None,
        ];
        assert_eq!(passwords, want.map(|p| p.map(String::from)));
    }

    #[test]
    fn explicit_password_wins_over_the_password_file() {
        let file = TempPassfile::new("explicit", "*:*:*:*:from-file\n", 0o600);
        let resolved = resolve("host=h password=given", &file.0);
        assert_eq!(
            resolved.password_for(&resolved.targets[0]).as_deref(),
            Some("given")
        );
        let resolved = resolve("host=h password=''", &file.0);
        assert_eq!(
            resolved.password_for(&resolved.targets[0]).as_deref(),
            Some("from-file")
        );
    }

    #[cfg(unix)]
    #[test]
    fn password_file_with_group_or_world_access_is_ignored() {
        for (name, mode) in [("group", 0o640), ("world", 0o604)] {
            let file = TempPassfile::new(name, "*:*:*:*:leaked\n", mode);
            let resolved = resolve("host=h", &file.0);
            assert_eq!(
                resolved.password_for(&resolved.targets[0]),
                None,
                "{mode:o}"
            );
        }
    }

    #[test]
    fn missing_password_file_or_directory_yields_no_password() {
        let missing = std::env::temp_dir().join("jsonwire-pgpass-does-not-exist");
        let resolved = resolve("host=h", &missing);
        assert_eq!(resolved.password_for(&resolved.targets[0]), None);
        let resolved = resolve("host=h", &std::env::temp_dir());
        assert_eq!(resolved.password_for(&resolved.targets[0]), None);
    }
}
