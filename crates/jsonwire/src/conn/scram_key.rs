//! SCRAM key derivation off the async worker threads, with the salted passwords cached.
//!
//! PBKDF2 at the server's iteration count is the expensive part of a SCRAM login (4096
//! iterations by default, up to 1,000,000 accepted: about 0.2 s of CPU that would otherwise
//! stall every task on the worker thread). RFC 5802 section 5.1 lets a client keep the salted
//! password per (password, salt, iteration count), so repeated connects with the same
//! credentials skip the work.

use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::proto::auth::SaltedPasswordJob;

/// How many salted passwords are kept: a process talks to few servers with few passwords.
const CACHE_ENTRIES: usize = 32;

type Entry = ([u8; 32], [u8; 32]);

/// Most recently used first; keyed by a digest, so the cache holds no password.
static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn lookup(key: &[u8; 32]) -> Option<[u8; 32]> {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let i = cache.iter().position(|(k, _)| k == key)?;
    let entry = cache.remove(i);
    cache.insert(0, entry);
    Some(entry.1)
}

fn store(key: [u8; 32], salted: [u8; 32]) {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|(k, _)| *k != key);
    cache.insert(0, (key, salted));
    cache.truncate(CACHE_ENTRIES);
}

/// The salted password for `job`: from the cache, else computed on tokio's blocking pool.
pub(crate) async fn derive(job: SaltedPasswordJob) -> Result<[u8; 32]> {
    let key = job.cache_key();
    if let Some(salted) = lookup(&key) {
        return Ok(salted);
    }
    let salted = tokio::task::spawn_blocking(move || job.run())
        .await
        .map_err(|e| {
            Error::new(
                crate::ErrorKind::Auth,
                format!("SCRAM key derivation failed: {e}"),
            )
        })?;
    store(key, salted);
    Ok(salted)
}

/// How many salted passwords are cached right now.
#[cfg(test)]
pub(crate) fn cached() -> usize {
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_and_most_recent_first() {
        for i in 0..(CACHE_ENTRIES as u8 + 10) {
            store([i; 32], [i; 32]);
        }
        assert_eq!(cached(), CACHE_ENTRIES);
        let newest = CACHE_ENTRIES as u8 + 9;
        assert_eq!(lookup(&[newest; 32]), Some([newest; 32]));
        assert_eq!(lookup(&[0; 32]), None, "the oldest entries were evicted");
    }
}
