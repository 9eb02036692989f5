//! TCP keepalives and the TCP user timeout on a connection's socket, as libpq sets them
//! (`keepalives`, `keepalives_idle`, `keepalives_interval`, `keepalives_count`,
//! `tcp_user_timeout`). Unix-domain sockets have neither.

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;

use crate::config::Tuning;

/// The kernel takes these in whole seconds as a C `int`.
fn seconds(d: Duration) -> Duration {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(secs.clamp(1, i32::MAX as u64))
}

/// Applies the keepalive settings of `tuning` to `stream`.
pub(crate) fn apply(stream: &TcpStream, tuning: &Tuning) -> io::Result<()> {
    let socket = SockRef::from(stream);
    // Set whether keepalives are on or not. libpq skips it with keepalives=0, which leaves a
    // write into a dead path unbounded although the user asked for a bound.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(timeout) = tuning.tcp_user_timeout {
        socket.set_tcp_user_timeout(Some(timeout))?;
    }
    if !tuning.keepalives {
        return socket.set_keepalive(false);
    }
    let mut params = TcpKeepalive::new();
    if let Some(idle) = tuning.keepalives_idle {
        params = params.with_time(seconds(idle));
    }
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "illumos"
    ))]
    {
        if let Some(interval) = tuning.keepalives_interval {
            params = params.with_interval(seconds(interval));
        }
        if let Some(count) = tuning.keepalives_count {
            params = params.with_retries(count.min(i32::MAX as u32));
        }
    }
    socket.set_tcp_keepalive(&params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_kernel_holds_what_the_config_says() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let socket = SockRef::from(&stream);
        let mut tuning = Tuning::default();
        apply(&stream, &tuning).unwrap();
        assert!(socket.keepalive().unwrap(), "on by default, as in libpq");
        tuning.keepalives_idle = Some(Duration::from_millis(2500));
        tuning.keepalives_interval = Some(Duration::from_secs(2));
        tuning.keepalives_count = Some(4);
        tuning.tcp_user_timeout = Some(Duration::from_millis(1500));
        apply(&stream, &tuning).unwrap();
        assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(3));
        #[cfg(target_os = "linux")]
        {
            assert_eq!(
                socket.tcp_keepalive_interval().unwrap(),
                Duration::from_secs(2)
            );
            assert_eq!(socket.tcp_keepalive_retries().unwrap(), 4);
            assert_eq!(
                socket.tcp_user_timeout().unwrap(),
                Some(Duration::from_millis(1500))
            );
        }
        tuning.keepalives = false;
        tuning.tcp_user_timeout = Some(Duration::from_millis(700));
        apply(&stream, &tuning).unwrap();
        assert!(!socket.keepalive().unwrap());
        #[cfg(target_os = "linux")]
        assert_eq!(
            socket.tcp_user_timeout().unwrap(),
            Some(Duration::from_millis(700)),
            "set with keepalives off too (libpq would not)"
        );
    }
}
