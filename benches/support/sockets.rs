//! What a client read from its TCP socket, counted by the kernel, for any client in this
//! process: jsonwire, tokio-postgres and the peers alike, none of which has to expose a
//! counter.
//!
//! A client's connection is found by its local port (the server tells it:
//! `inet_client_port()`), through `/proc/net/tcp` (port to socket inode) and `/proc/self/fd`
//! (inode to descriptor). What the application has read from the socket is what the kernel
//! received (`TCP_INFO`'s `tcpi_bytes_received`) less what still waits in the receive queue
//! (`FIONREAD`). Linux only.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// One TCP connection of this process, found by its local port.
#[derive(Debug, Clone, Copy)]
pub struct SocketCounter {
    fd: RawFd,
}

impl SocketCounter {
    /// The connection of this process whose local port is `local_port` (over IPv4 or IPv6).
    ///
    /// # Errors
    /// No such connection, or `/proc` cannot be read.
    pub fn find(local_port: u16) -> io::Result<SocketCounter> {
        let inode = ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .find_map(|table| inode_of(&table, local_port))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no TCP socket with local port {local_port} in /proc/self/net/tcp*"),
                )
            })?;
        let target = format!("socket:[{inode}]");
        for entry in std::fs::read_dir("/proc/self/fd")? {
            let entry = entry?;
            if std::fs::read_link(entry.path()).is_ok_and(|l| l.as_os_str() == target.as_str()) {
                if let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                    return Ok(SocketCounter { fd });
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("socket inode {inode} (local port {local_port}) is not open in this process"),
        ))
    }

    /// Bytes the application has read from the socket so far.
    ///
    /// # Errors
    /// The socket is closed or is not TCP.
    #[allow(unsafe_code)]
    pub fn read_bytes(&self) -> io::Result<u64> {
        // SAFETY: only called while the client that owns the descriptor is alive (the
        // benchmark holds it across every call), so the descriptor is open for the call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        Ok(bytes_received(fd)?.saturating_sub(queued(fd)?))
    }
}

/// The inode of the socket with local port `port` in a `/proc/net/tcp` table.
fn inode_of(table: &str, port: u16) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let local = cols.get(1)?;
        let p = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
        (p == port).then(|| cols.get(9)?.parse().ok())?
    })
}

#[allow(unsafe_code)]
fn bytes_received(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: all-zero bytes are a valid `tcp_info` (plain integers).
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `fd` is open for the call (borrowed); the kernel writes at most `len` bytes into
    // `info`, which lives on the stack across the call, and `len` is its size.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::from_mut(&mut info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.tcpi_bytes_received)
}

#[allow(unsafe_code)]
fn queued(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: `fd` is open for the call (borrowed); FIONREAD writes one `c_int`, into `n`,
    // which lives on the stack across the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, std::ptr::from_mut(&mut n)) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inode_is_found_by_local_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:D4C0 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 20 4 30 10 -1\n";
        assert_eq!(inode_of(table, 0xD4C0), Some(123_456));
        assert_eq!(inode_of(table, 0x1538), None);
    }
}
