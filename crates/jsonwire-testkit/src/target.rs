//! Reading an external server's address out of `JSONWIRE_TEST_URL`.

use crate::error::{Error, ErrorKind};

/// The parts of a libpq connection string the kit needs to build per-role URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) dbname: String,
    /// Other parameters (`sslmode=require`, ...) as a URL query, without the `?`.
    pub(crate) query: String,
}

impl Target {
    /// Parses a `postgres://` URL or a `key=value` connection string; only the first host of a
    /// multi-host string is kept.
    pub(crate) fn parse(conn: &str) -> Result<Target, Error> {
        let conn = conn.trim();
        let rest = conn
            .strip_prefix("postgres://")
            .or_else(|| conn.strip_prefix("postgresql://"));
        let parsed = match rest {
            Some(rest) => Self::parse_url(rest),
            None => Self::parse_key_values(conn),
        };
        parsed.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidUrl,
                format!(
                    "JSONWIRE_TEST_URL={conn:?} is neither a postgres:// URL nor a \
                     `host=... port=...` connection string"
                ),
            )
        })
    }

    fn parse_url(rest: &str) -> Option<Target> {
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (userinfo.split(':').next().map(decode), hosts),
            None => (None, authority),
        };
        let first = hosts.split(',').next().unwrap_or("");
        let (host, port) = if let Some(v6) = first.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            (host.to_string(), after.strip_prefix(':'))
        } else {
            match first.rsplit_once(':') {
                Some((host, port)) => (decode(host), Some(port)),
                None => (decode(first), None),
            }
        };
        let port = match port.filter(|p| !p.is_empty()) {
            Some(port) => port.parse().ok()?,
            None => 5432,
        };
        let dbname = Some(decode(path))
            .filter(|d| !d.is_empty())
            .or(user)
            .unwrap_or_else(|| "postgres".to_string());
        Some(Target {
            host: if host.is_empty() {
                "localhost".to_string()
            } else {
                host
            },
            port,
            dbname,
            query: query.to_string(),
        })
    }

    fn parse_key_values(conn: &str) -> Option<Target> {
        let mut target = Target {
            host: "localhost".to_string(),
            port: 5432,
            dbname: String::new(),
            query: String::new(),
        };
        let mut user = None;
        let mut query = Vec::new();
        for (key, value) in key_values(conn)? {
            match key.as_str() {
                "host" => target.host = value.split(',').next().unwrap_or("").to_string(),
                "port" => target.port = value.split(',').next()?.parse().ok()?,
                "dbname" => target.dbname = value,
                "user" => user = Some(value),
                "password" => {}
                _ => query.push(format!("{key}={}", encode(&value))),
            }
        }
        if target.dbname.is_empty() {
            target.dbname = user.unwrap_or_else(|| "postgres".to_string());
        }
        target.query = query.join("&");
        Some(target)
    }

    /// A URL for `user` (and `password`) on this server.
    pub(crate) fn url(&self, user: &str, password: Option<&str>) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            encode(&self.host)
        };
        let mut url = format!("postgres://{user}");
        if let Some(password) = password {
            url.push(':');
            url.push_str(&encode(password));
        }
        url.push_str(&format!("@{host}:{}/{}", self.port, encode(&self.dbname)));
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&self.query);
        }
        url
    }
}

/// Splits `a=1 b = 'x y'` into pairs, with libpq's quoting (`\'` and `\\` inside quotes).
fn key_values(conn: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = conn.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Some(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        chars.next_if_eq(&'=')?;
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next()? {
                    '\'' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        pairs.push((key, value));
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_everything() {
        let t = Target::parse("postgres://u:p%40ss@db.example:6543/app?sslmode=require").unwrap();
        assert_eq!(t.host, "db.example");
        assert_eq!(t.port, 6543);
        assert_eq!(t.dbname, "app");
        assert_eq!(
            t.url("jw_md5", Some("pw")),
            "postgres://jw_md5:pw@db.example:6543/app?sslmode=require"
        );
    }

    #[test]
    fn url_defaults_and_ipv6() {
        let t = Target::parse("postgresql://bob@[::1]").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.dbname.as_str()),
            ("::1", 5432, "bob")
        );
        assert_eq!(
            t.url("jw_trust", None),
            "postgres://jw_trust@[::1]:5432/bob"
        );
    }

    #[test]
    fn key_value_string_with_socket_dir() {
        let t = Target::parse("host=/run/pg port = 5433 user=x dbname='my db' sslmode=disable")
            .unwrap();
        assert_eq!(t.host, "/run/pg");
        assert_eq!(t.port, 5433);
        assert_eq!(
            t.url("jw_scram", Some("s")),
            "postgres://jw_scram:s@%2Frun%2Fpg:5433/my%20db?sslmode=disable"
        );
    }

    #[test]
    fn garbage_is_invalid_url() {
        let err = Target::parse("host").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidUrl);
        assert!(Target::parse("postgres://h:notaport/db").is_err());
    }
}
