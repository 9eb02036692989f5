//! TCP keepalives and the TCP user timeout end a wait on a peer that went silent, with no
//! query deadline, against the real server behind a network path that drops every packet.
//!
//! The drop has to happen below TCP: a peer that merely stops reading or answering (a stopped
//! backend, a stalled relay) still has a kernel that acknowledges keepalive probes, so the
//! connection looks alive forever (`tests/deadlines.rs` covers that case with a deadline). The
//! path here is a network namespace made for the test, a veth pair into it, and a TCP relay
//! listening inside it that forwards to the test server. `cut()` loads an nftables table in
//! the namespace that drops every packet in and out: to the client's socket, in the test's own
//! namespace, the peer is gone as when its host dies or a cable is pulled.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables). Without them each test prints why and
//! passes, unless `JSONWIRE_REQUIRE_NETNS` is set: `.ci/run` installs the tools and sets it, so
//! CI runs these tests rather than skipping them. The namespace, the veth pair and the rules
//! are removed when a test ends, however it ends (a drop guard; and a test first removes what a
//! process that died before its guards ran left behind).
#![cfg(target_os = "linux")]

mod common;

use std::fs::File;
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{server, wait_until};
use jsonwire::{Client, ErrorKind};
use nix::sched::CloneFlags;

/// Names of namespaces (`jwka-PID-N`) and host-side interfaces (`jwkaPIDhN`) made here.
const PREFIX: &str = "jwka";

/// A query whose description arrives at once and whose row only after a long sleep: the
/// stream then waits on the server with nothing in flight.
const SLEEP_20S: &str = "SELECT to_jsonb(x) FROM (SELECT 1 AS x FROM pg_sleep(20)) s";

/// What bounds the tests: `idle + interval × count` (or the user timeout) plus this margin.
const MARGIN: Duration = Duration::from_secs(2);

/// A test that outlives this has hung.
const HANG: Duration = Duration::from_secs(30);

/// Runs a command; its standard output, or an error naming it with its standard error.
fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let shown = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("`{shown}` could not start: {e}"))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes())
            .map_err(|e| format!("`{shown}`: writing its input: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{shown}`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn alive(pid: &str) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes namespaces and interfaces that a test process which has since died left behind
/// (killed before its drop guards ran).
fn remove_leftovers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let namespaces = run("ip", &["netns", "list"], None).unwrap_or_default();
        for name in namespaces
            .lines()
            .filter_map(|l| l.split_whitespace().next())
        {
            let Some(rest) = name.strip_prefix(&format!("{PREFIX}-")) else {
                continue;
            };
            if !alive(rest.split('-').next().unwrap_or_default()) {
                let _ = run("ip", &["netns", "del", name], None);
            }
        }
        let links = run("ip", &["-o", "link", "show"], None).unwrap_or_default();
        for line in links.lines() {
            let Some(name) = line.split(": ").nth(1) else {
                continue;
            };
            let name = name.split('@').next().unwrap_or_default();
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if !pid.is_empty() && !alive(&pid) {
                let _ = run("ip", &["link", "del", name], None);
            }
        }
    });
}

/// A TCP relay from a listener to `upstream`, a pair of threads per connection. Dropping it
/// resets every connection it holds.
struct Relay {
    stop: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl Relay {
    fn spawn(listener: TcpListener, upstream: SocketAddr) -> io::Result<Relay> {
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stop, sockets) = (stop.clone(), sockets.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((down, _)) => {
                            if let Ok(up) = TcpStream::connect(upstream) {
                                let _ = Relay::pipe(down, up, &sockets);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(_) => return,
                    }
                }
            })
        };
        Ok(Relay {
            stop,
            sockets,
            accept: Some(accept),
        })
    }

    fn pipe(down: TcpStream, up: TcpStream, sockets: &Mutex<Vec<TcpStream>>) -> io::Result<()> {
        down.set_nonblocking(false)?;
        let mut held = sockets.lock().unwrap();
        held.push(down.try_clone()?);
        held.push(up.try_clone()?);
        for (mut from, mut to) in [(down.try_clone()?, up.try_clone()?), (up, down)] {
            std::thread::spawn(move || {
                let _ = io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Write);
            });
        }
        Ok(())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        // A reset rather than a close: nothing lingers retransmitting into a dropped path
        // (which would keep the namespace alive after its name is gone), and the copying
        // threads blocked on these sockets return.
        for socket in self.sockets.lock().unwrap().drain(..) {
            let _ = socket2::SockRef::from(&socket).set_linger(Some(Duration::ZERO));
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// The test server reached through a relay in a network namespace of its own, over a veth
/// pair: a path that [`StallablePath::cut`] makes drop every packet.
struct StallablePath {
    namespace: String,
    host_link: String,
    /// The relay's address, inside the namespace.
    addr: SocketAddr,
    relay: Option<Relay>,
}

impl StallablePath {
    fn new(upstream: SocketAddr) -> Result<StallablePath, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        remove_leftovers();
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Link-local /30s, one per path: 169.254.C.(4n+1) on the host, .(4n+2) inside. C from
        // the pid keeps concurrent test processes apart; never 169 (cloud metadata).
        let c = (pid % 128 + 1) as u8;
        let taken = run("ip", &["-o", "-4", "addr", "show"], None)?;
        let n4 = (n..n + 64)
            .map(|k| (k % 63) as u8 * 4)
            .find(|base| !taken.contains(&format!("169.254.{c}.{}/", base + 1)))
            .ok_or("no free 169.254 /30 for the test path")?;
        let host_ip = Ipv4Addr::new(169, 254, c, n4 + 1);
        let ns_ip = Ipv4Addr::new(169, 254, c, n4 + 2);
        let mut path = StallablePath {
            namespace: format!("{PREFIX}-{pid}-{n}"),
            host_link: format!("{PREFIX}{pid}h{n}"),
            addr: SocketAddr::from((ns_ip, 0)),
            relay: None,
        };
        let ns_link = format!("{PREFIX}{pid}n{n}");
        let ns = path.namespace.clone();
        run("ip", &["netns", "add", &ns], None)?;
        let host = path.host_link.clone();
        run(
            "ip",
            &[
                "link", "add", &host, "type", "veth", "peer", "name", &ns_link, "netns", &ns,
            ],
            None,
        )?;
        run(
            "ip",
            &["addr", "add", &format!("{host_ip}/30"), "dev", &host],
            None,
        )?;
        run("ip", &["link", "set", &host, "up"], None)?;
        run(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{ns_ip}/30"),
                "dev",
                &ns_link,
            ],
            None,
        )?;
        run("ip", &["-n", &ns, "link", "set", &ns_link, "up"], None)?;
        let listener = listen_in(&ns, SocketAddr::from((ns_ip, 0)))
            .map_err(|e| format!("listening inside namespace {ns}: {e}"))?;
        path.addr = listener.local_addr().map_err(|e| e.to_string())?;
        path.relay = Some(Relay::spawn(listener, upstream).map_err(|e| e.to_string())?);
        Ok(path)
    }

    /// From now on every packet into or out of the namespace is dropped, without a reset or
    /// an ICMP error: silence.
    fn cut(&self) {
        run(
            "ip",
            &["netns", "exec", &self.namespace, "nft", "-f", "-"],
            Some(
                "table inet jwka {\n\
                 chain input { type filter hook input priority 0; policy drop; }\n\
                 chain output { type filter hook output priority 0; policy drop; }\n\
                 }\n",
            ),
        )
        .unwrap_or_else(|e| panic!("cutting the path: {e}"));
    }

    /// Undoes [`cut`](Self::cut).
    fn restore(&self) {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.namespace,
                "nft",
                "delete",
                "table",
                "inet",
                "jwka",
            ],
            None,
        )
        .unwrap_or_else(|e| panic!("restoring the path: {e}"));
    }

    /// The test server's URL with this path's address and `extra` query keys.
    fn url(&self, extra: &str) -> String {
        let s = server();
        let url = s.url().replacen(
            &format!("{}:{}", s.host(), s.port()),
            &self.addr.to_string(),
            1,
        );
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{extra}")
    }
}

impl Drop for StallablePath {
    fn drop(&mut self) {
        drop(self.relay.take());
        // Deleting one end of a veth pair deletes both at once, whatever still holds the
        // namespace; the namespace's rules go with it.
        let _ = run("ip", &["link", "del", &self.host_link], None);
        let _ = run("ip", &["netns", "del", &self.namespace], None);
    }
}

/// A listener bound inside the namespace: a thread enters it, binds, and ends; the socket
/// stays in the namespace it was made in.
fn listen_in(namespace: &str, addr: SocketAddr) -> io::Result<TcpListener> {
    let ns = File::open(format!("/run/netns/{namespace}"))?;
    std::thread::spawn(move || {
        nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        TcpListener::bind(addr)
    })
    .join()
    .expect("the namespace thread panicked")
}

/// Why these tests cannot run here, if they cannot.
fn missing_prerequisite() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (network namespaces and nftables need it)".into());
    }
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] {
        if run(tool, &["--version"], None).is_err() && run(tool, &["-V"], None).is_err() {
            return Some(format!("`{tool}` not found (apt-get install {package})"));
        }
    }
    None
}

/// A path to the test server, or `None` (with the reason printed) where this machine cannot
/// make one and `JSONWIRE_REQUIRE_NETNS` is unset.
fn path_or_skip(test: &str) -> Option<StallablePath> {
    let upstream = (server().host(), server().port())
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .expect("the test server's address");
    let outcome = match missing_prerequisite() {
        Some(why) => Err(why),
        None => StallablePath::new(upstream),
    };
    match outcome {
        Ok(path) => Some(path),
        Err(why) if std::env::var_os("JSONWIRE_REQUIRE_NETNS").is_some() => {
            panic!("{test}: JSONWIRE_REQUIRE_NETNS is set but {why}")
        }
        Err(why) => {
            eprintln!("{test}: SKIPPED, {why}");
            None
        }
    }
}

/// The client's backends, however they connected (the relay's are the server's too).
fn backends(app: &str) -> usize {
    server()
        .psql_output(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"
        ))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Once the path is gone the relay's upstream connections are reset; with
/// `client_connection_check_interval` the sleeping backend notices and exits.
async fn no_backend_left(path: StallablePath, app: &'static str) {
    drop(path);
    let gone = tokio::task::spawn_blocking(move || {
        wait_until(Duration::from_secs(5), || backends(app) == 0)
    })
    .await
    .unwrap();
    assert!(gone, "{app}: backends left behind");
}

/// The error's I/O cause, if it has one.
fn io_cause(err: &jsonwire::Error) -> Option<io::ErrorKind> {
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = e.source();
    }
    None
}

/// Keys every test connects with: its application name, and a server that notices a closed
/// client while it sleeps (so that removing the path leaves no backend).
fn keys(app: &str, tcp: &str) -> String {
    format!("application_name={app}&options=-c%20client_connection_check_interval%3D100&{tcp}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_end_a_wait_on_a_peer_gone_silent_within_idle_plus_interval_times_count() {
    const APP: &str = "jw_keepalive";
    let Some(path) = path_or_skip(APP) else {
        return;
    };
    let (idle, interval, count) = (1, 1, 2);
    let url = path.url(&keys(
        APP,
        &format!("keepalives_idle={idle}&keepalives_interval={interval}&keepalives_count={count}"),
    ));
    let mut c = Client::connect(&url).await.unwrap();
    let mut rows = c.sql(SLEEP_20S).stream_raw().await.unwrap();
    path.cut();
    let cut = Instant::now();
    let outcome = tokio::time::timeout(HANG, rows.try_next()).await;
    let took = cut.elapsed();
    let err = match outcome {
        Err(_) => panic!("the stream still waited {HANG:?} after the path went silent"),
        Ok(Ok(row)) => panic!("a silent path gave {row:?}"),
        Ok(Err(e)) => e,
    };
    let expected = Duration::from_secs(idle + interval * count);
    eprintln!("keepalives {idle}s/{interval}s/{count}: the silent peer ended the stream after {took:?} (expected {expected:?}): {err}");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_eq!(io_cause(&err), Some(io::ErrorKind::TimedOut), "{err:?}");
    // Not sooner than the probes allow (it is the keepalive that ended it), not much later.
    assert!(took >= expected - Duration::from_secs(1), "{took:?}");
    assert!(took <= expected + MARGIN, "{took:?}");
    drop(rows);
    let next = tokio::time::timeout(HANG, c.sql("SELECT '1'::jsonb").stream_raw())
        .await
        .expect("the next query hung");
    assert_eq!(next.map(drop).unwrap_err().kind(), ErrorKind::Closed);
    no_backend_left(path, APP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_user_timeout_ends_a_query_sent_into_a_silent_path() {
    const APP: &str = "jw_user_timeout";
    let Some(path) = path_or_skip(APP) else {
        return;
    };
    let user_timeout = Duration::from_millis(2000);
    // Keepalives off: only the unacknowledged query can end the wait.
    let url = path.url(&keys(
        APP,
        &format!("keepalives=0&tcp_user_timeout={}", user_timeout.as_millis()),
    ));
    let mut c = Client::connect(&url).await.unwrap();
    path.cut();
    let cut = Instant::now();
    let outcome = tokio::time::timeout(HANG, c.sql(SLEEP_20S).stream_raw()).await;
    let took = cut.elapsed();
    let err = match outcome {
        Err(_) => panic!("the query still waited {HANG:?} after the path went silent"),
        Ok(Ok(_)) => panic!("a silent path gave a result"),
        Ok(Err(e)) => e,
    };
    eprintln!("tcp_user_timeout {user_timeout:?}: the query sent into a silent path failed after {took:?}: {err}");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_eq!(io_cause(&err), Some(io::ErrorKind::TimedOut), "{err:?}");
    assert!(
        took >= user_timeout - Duration::from_millis(500),
        "{took:?}"
    );
    assert!(took <= user_timeout + MARGIN, "{took:?}");
    no_backend_left(path, APP).await;
}

/// The control: with keepalives off, the same silence is waited out (which is what the
/// tests above end), and a path that comes back delivers the result as if nothing happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keepalives_a_silent_path_is_waited_on_and_survived_when_it_comes_back() {
    const APP: &str = "jw_keepalive_off";
    let Some(path) = path_or_skip(APP) else {
        return;
    };
    let mut c = Client::connect(&path.url(&keys(APP, "keepalives=0")))
        .await
        .unwrap();
    let mut rows = c
        .sql("SELECT to_jsonb(x) FROM (SELECT 1 AS x FROM pg_sleep(8)) s")
        .stream_raw()
        .await
        .unwrap();
    path.cut();
    // Longer than the keepalive test's bound.
    let waited = tokio::time::timeout(Duration::from_secs(6), rows.try_next()).await;
    assert!(waited.is_err(), "ended during the cut: {waited:?}");
    path.restore();
    let row = tokio::time::timeout(HANG, rows.try_next())
        .await
        .expect("the stream hung after the path came back")
        .unwrap();
    assert_eq!(row.as_deref(), Some(&b"1"[..]));
    assert_eq!(rows.try_next().await.unwrap(), None);
    drop(rows);
    drop(c);
    no_backend_left(path, APP).await;
}
