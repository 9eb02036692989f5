//! Choosing among several hosts: the order they are tried in (`load_balance_hosts`) and the
//! checks a server must pass before it is used (`requirepeer`).

use std::path::Path;

use rand::seq::SliceRandom;
use rand::Rng;
use tokio::net::UnixStream;

use crate::config::{LoadBalanceHosts, PasswordSource, Resolved, Target};
use crate::error::{Error, ErrorKind, Result};

/// The targets in the order to try them: as given, or shuffled by `rng` for
/// `load_balance_hosts=random` (libpq 16 shuffles the same way, once per connection).
pub(crate) fn order<R: Rng + ?Sized>(
    targets: &[Target],
    balance: LoadBalanceHosts,
    rng: &mut R,
) -> Vec<Target> {
    let mut targets = targets.to_vec();
    if balance == LoadBalanceHosts::Random {
        targets.shuffle(rng);
    }
    targets
}

/// `requirepeer`: the server behind the Unix socket at `path` must run as the operating-system
/// user `required`, which the kernel reports as the socket's peer (SO_PEERCRED), as libpq
/// checks it before sending the startup packet.
pub(crate) fn check_peer(socket: &UnixStream, path: &Path, required: &str) -> Result<()> {
    let cred = socket.peer_cred().map_err(|e| {
        Error::new(
            ErrorKind::Auth,
            format!(
                "requirepeer: could not get the peer credentials of {}: {e}",
                path.display()
            ),
        )
        .with_source(e)
    })?;
    let uid = cred.uid();
    let name = crate::config::user_name(uid).ok_or_else(|| {
        Error::new(
            ErrorKind::Auth,
            format!(
                "requirepeer specifies {required:?}, but the server at {} runs as user id {uid}, \
                 which has no name on this machine",
                path.display()
            ),
        )
    })?;
    if name != required {
        return Err(Error::new(
            ErrorKind::Auth,
            format!(
                "requirepeer specifies {required:?}, but the server at {} runs as {name:?}",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// An authentication error for `target`, with where its password came from when that
/// explains it: a password file that was ignored (libpq only warns on stderr), or the file a
/// rejected password was read from (as libpq says).
pub(crate) fn explain_auth_error(e: Error, resolved: &Resolved, target: &Target) -> Error {
    if e.kind() != ErrorKind::Auth {
        return e;
    }
    match resolved.password(target).1 {
        PasswordSource::PasswordFileIgnored { path, reason } => e.with_note(&format!(
            "the password file {} was ignored because {reason}",
            path.display()
        )),
        PasswordSource::PasswordFile(path) if e.code() == Some("28P01") => e.with_note(&format!(
            "the password was read from the password file {}",
            path.display()
        )),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::config::Host;

    fn targets(n: u16) -> Vec<Target> {
        (0..n)
            .map(|port| Target {
                host: Host::Tcp {
                    name: "h".to_owned(),
                    addr: None,
                },
                port,
            })
            .collect()
    }

    fn ports(targets: &[Target]) -> Vec<u16> {
        targets.iter().map(|t| t.port).collect()
    }

    #[test]
    fn hosts_keep_their_order_unless_load_balancing_is_random() {
        let mut rng = StdRng::seed_from_u64(7);
        let given = targets(5);
        assert_eq!(
            ports(&order(&given, LoadBalanceHosts::Disable, &mut rng)),
            [0, 1, 2, 3, 4]
        );
        // Every order of three hosts turns up, each a fair share of the time.
        let mut seen = std::collections::HashMap::new();
        for _ in 0..6000 {
            let shuffled = ports(&order(&targets(3), LoadBalanceHosts::Random, &mut rng));
            *seen.entry(shuffled).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 6, "{seen:?}");
        assert!(seen.values().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        let one: HashSet<u16> = ports(&order(&given, LoadBalanceHosts::Random, &mut rng))
            .into_iter()
            .collect();
        assert_eq!(one.len(), 5);
    }
}
