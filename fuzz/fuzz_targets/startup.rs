//! The startup and authentication machine (`proto::startup`) driven as `conn/` drives it, by a
//! server that sends arbitrary bytes, under arbitrary settings: encryption (plaintext,
//! SSLRequest or direct TLS, with or without a certificate to bind to), whether TLS refused
//! means "go on in plaintext" (`sslmode=prefer`) or not, `require_auth`, `channel_binding`,
//! protocol versions, a password or none, and the bytes arriving in arbitrary pieces.
//!
//! Input: 4 bytes of settings, then the server's bytes (see `Settings::from`).
//!
//! Invariants, besides never panicking:
//! - what the client writes is well-formed: an SSLRequest only first and only when asked, one
//!   StartupMessage carrying the configured version and parameters, then only complete
//!   password-family (`p`) messages with consistent lengths;
//! - no secret leaves the client for a method `require_auth` or `channel_binding=require`
//!   forbids, nor without a password: the cleartext password only in a cleartext password
//!   message the policy allows, an MD5 hash only where MD5 is allowed, SCRAM only where SCRAM
//!   is, SCRAM-SHA-256-PLUS only over TLS with a certificate hash, and at most one answer to
//!   one method;
//! - a session that becomes ready was authenticated by an allowed method, is channel-bound
//!   when `channel_binding=require`, speaks a protocol version within the configured range,
//!   and holds a cancel key valid for it;
//! - bounded memory and work: the machine never waits for bytes while holding a header that
//!   announces more than `MAX_STARTUP_MESSAGE`; no output larger than a message could need;
//!   each step consumes input or ends; after an error or the end, it stays finished.
#![no_main]

use std::sync::Mutex;

use bytes::BytesMut;
use jsonwire::proto::auth::{SCRAM_SHA_256, SCRAM_SHA_256_PLUS};
use jsonwire::proto::startup::{
    AuthMethod, AuthPolicy, ChannelBindingPolicy, Encryption, ProtocolVersion, Startup,
    StartupSettings, Step, MAX_CANCEL_KEY, MAX_STARTUP_MESSAGE,
};
use libfuzzer_sys::fuzz_target;

/// The recorded transcripts' SCRAM password and client nonce (proto/startup/transcripts.txt),
/// so that seeds made from them reach the end of a real exchange.
const PASSWORD: &[u8] = b"jw_scram_pw";
const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SSL_REQUEST_CODE: i32 = 80_877_103;
/// An ECDSA P-256 certificate signed with SHA-256: its hash is what SCRAM-PLUS binds to.
const CERTIFICATE: &[u8] = include_bytes!("../fixtures/ecdsa-sha256.der");

struct Settings {
    encryption: Encryption,
    /// `sslmode=prefer`/`allow`: on `N`, go on without TLS; else give up.
    plaintext_fallback: bool,
    /// What the TLS handshake reports: no certificate, the fixture, or the input's bytes.
    certificate: u8,
    startup: StartupSettings,
}

impl Settings {
    /// Byte 0: encryption (bits 0-1), a password (2), plaintext fallback (3), the certificate
    /// (4-5), min protocol 3.2 (6), max protocol 3.2 (7). Byte 1: `require_auth`, any method
    /// when bit 7 is set, else the methods of `AuthMethod::ALL` whose bits are set. Byte 2:
    /// `channel_binding` (0 disable, 1 prefer, 2 require). Byte 3: how the server's bytes
    /// are split into reads.
    fn from(flags: [u8; 4]) -> Settings {
        let [a, auth, binding, _] = flags;
        let encryption = match a & 3 {
            0 => Encryption::Plain,
            2 => Encryption::DirectTls,
            _ => Encryption::SslRequest,
        };
        let version = |bit: u8| {
            if a & bit != 0 {
                ProtocolVersion::V3_2
            } else {
                ProtocolVersion::V3_0
            }
        };
        let require_auth = if auth & 0x80 != 0 {
            AuthPolicy::any()
        } else {
            let methods: Vec<AuthMethod> = AuthMethod::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| auth & (1 << i) != 0)
                .map(|(_, m)| *m)
                .collect();
            AuthPolicy::only(&methods, "fuzz")
        };
        let channel_binding = match binding % 3 {
            0 => ChannelBindingPolicy::Disable,
            1 => ChannelBindingPolicy::Prefer,
            _ => ChannelBindingPolicy::Require,
        };
        Settings {
            encryption,
            plaintext_fallback: a & 8 != 0,
            certificate: (a >> 4) & 3,
            startup: StartupSettings {
                params: vec![
                    ("user".into(), "jw_scram".into()),
                    ("database".into(), "postgres".into()),
                    ("client_encoding".into(), "UTF8".into()),
                ],
                user: "jw_scram".into(),
                password: (a & 4 != 0).then(|| PASSWORD.to_vec()),
                require_auth,
                channel_binding,
                min_protocol: version(0x40),
                max_protocol: version(0x80),
                nonce: NONCE.into(),
            },
        }
    }
}

/// What the client wrote, read back as the server would read it.
#[derive(Default)]
struct Written {
    ssl_request: bool,
    startup: bool,
    /// Cleartext password, MD5, SASL initial response, SASL response.
    answers: Vec<Answer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Cleartext,
    Md5,
    SaslInitial { plus: bool },
    SaslResponse,
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

impl Written {
    /// Checks one chunk of output: whole messages only, each as the protocol says.
    fn check(&mut self, settings: &StartupSettings, encryption: Encryption, mut out: &[u8]) {
        while !out.is_empty() {
            if !self.startup {
                assert!(out.len() >= 8, "a truncated untagged message: {out:?}");
                let len = i32_at(out, 0) as usize;
                assert!(
                    len >= 8 && len <= out.len(),
                    "bad length {len} of {}",
                    out.len()
                );
                let code = i32_at(out, 4);
                let body = &out[8..len];
                if code == SSL_REQUEST_CODE {
                    assert!(len == 8 && !self.ssl_request && encryption == Encryption::SslRequest);
                    self.ssl_request = true;
                } else {
                    assert_eq!(code, settings.max_protocol.code());
                    let mut expected = Vec::new();
                    for (k, v) in &settings.params {
                        expected.extend_from_slice(k.as_bytes());
                        expected.push(0);
                        expected.extend_from_slice(v.as_bytes());
                        expected.push(0);
                    }
                    expected.push(0);
                    assert_eq!(body, &expected[..]);
                    assert!(
                        encryption != Encryption::SslRequest || self.ssl_request,
                        "StartupMessage before the SSLRequest"
                    );
                    self.startup = true;
                }
                out = &out[len..];
                continue;
            }
            assert!(out.len() >= 5, "a truncated message: {out:?}");
            assert_eq!(out[0], b'p', "only password-family messages during startup");
            let len = i32_at(out, 1) as usize;
            assert!(
                len >= 4 && len < out.len(),
                "bad length {len} of {}",
                out.len()
            );
            let body = &out[5..len + 1];
            self.answer(settings, body);
            out = &out[len + 1..];
        }
    }

    fn answer(&mut self, settings: &StartupSettings, body: &[u8]) {
        let password = settings
            .password
            .as_deref()
            .expect("no password message without a password");
        let answer = match self.answers.last() {
            Some(Answer::SaslInitial { .. }) => {
                let text = std::str::from_utf8(body).expect("client-final is UTF-8");
                assert!(
                    text.starts_with("c=") && text.contains(",r=") && text.contains(",p="),
                    "{text:?}"
                );
                Answer::SaslResponse
            }
            Some(other) => panic!("a second answer after {other:?}"),
            None if body.strip_suffix(b"\0") == Some(password) => Answer::Cleartext,
            None if body.len() == 36 && body.starts_with(b"md5") && body[35] == 0 => {
                assert!(body[3..35].iter().all(u8::is_ascii_hexdigit));
                Answer::Md5
            }
            None => {
                let nul = body.iter().position(|&b| b == 0).expect("mechanism name");
                let mechanism = std::str::from_utf8(&body[..nul]).unwrap();
                let plus = mechanism == SCRAM_SHA_256_PLUS;
                assert!(plus || mechanism == SCRAM_SHA_256, "{mechanism:?}");
                let data = &body[nul + 1..];
                assert_eq!(i32_at(data, 0) as usize, data.len() - 4);
                let first = std::str::from_utf8(&data[4..]).unwrap();
                let header = if plus { "p=tls-server-end-point,," } else { "" };
                assert!(
                    first.starts_with(header) && first.ends_with(&format!(",n=,r={NONCE}")),
                    "{first:?}"
                );
                assert!(!data.windows(password.len()).any(|w| w == password));
                Answer::SaslInitial { plus }
            }
        };
        let method = match answer {
            Answer::Cleartext => Some(AuthMethod::Password),
            Answer::Md5 => Some(AuthMethod::Md5),
            Answer::SaslInitial { .. } => Some(AuthMethod::ScramSha256),
            Answer::SaslResponse => None,
        };
        if let Some(method) = method {
            assert!(
                settings.require_auth.allows(method),
                "{method:?} answered although require_auth forbids it"
            );
            let bound = answer == Answer::SaslInitial { plus: true };
            assert!(
                settings.channel_binding != ChannelBindingPolicy::Require || bound,
                "{answer:?} answered although channel_binding=require"
            );
            assert!(
                settings.channel_binding != ChannelBindingPolicy::Disable || !bound,
                "bound although channel_binding=disable"
            );
        }
        self.answers.push(answer);
    }
}

/// The salted password for a SCRAM exchange. PBKDF2 is the real one for the first few
/// (password, salt, iterations) a process meets, which the seeds' recorded exchanges are
/// among, so that their logins complete; later ones get a made-up key (their server-final
/// message is then refused, as it would be for a wrong password): deriving a key for every
/// mutated salt would make the run mostly PBKDF2, all the more in an unoptimized build.
fn salted(job: &jsonwire::proto::auth::SaltedPasswordJob) -> [u8; 32] {
    static KEYS: Mutex<Vec<([u8; 32], [u8; 32])>> = Mutex::new(Vec::new());
    let mut keys = KEYS.lock().unwrap();
    let id = job.cache_key();
    if let Some((_, key)) = keys.iter().find(|(k, _)| *k == id) {
        return *key;
    }
    if keys.len() >= 4 || job.iterations() > 4096 {
        return [0x5a; 32];
    }
    let key = job.run();
    keys.push((id, key));
    key
}

/// Read sizes from 1 to 64 bytes, or everything at once for a zero seed.
struct Reads(u8);

impl Reads {
    fn next(&mut self, left: usize) -> usize {
        if self.0 == 0 {
            return left;
        }
        self.0 ^= self.0 << 3;
        self.0 ^= self.0 >> 5;
        self.0 ^= self.0 << 1;
        (usize::from(self.0 % 64) + 1).min(left)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((flags, server)) = data.split_first_chunk::<4>() else {
        return;
    };
    let settings = Settings::from(*flags);
    let (certificate, mut server) = match settings.certificate {
        0 => (None, server),
        2 => {
            let n = usize::from(server.first().copied().unwrap_or(0)).min(server.len());
            (Some(&server[1.min(n)..n]), &server[n..])
        }
        _ => (Some(CERTIFICATE), server),
    };
    let st = &settings.startup;
    let mut m = Startup::new(st.clone(), settings.encryption);
    let mut written = Written::default();
    let mut reads = Reads(flags[3]);
    let mut buf = BytesMut::new();
    let mut tls = false;
    if settings.encryption == Encryption::DirectTls {
        if m.tls_established(certificate).is_err() {
            return;
        }
        tls = true;
    }
    // Each step consumes bytes, writes, or hands a decision to the driver; only a few
    // steps in a row may do neither.
    let bound = 8 * (server.len() + 8);
    for _ in 0..bound {
        let step = m.advance(&mut buf);
        let out = m.output().split();
        assert!(
            out.len() <= MAX_STARTUP_MESSAGE + 4096,
            "{} bytes of output",
            out.len()
        );
        written.check(st, settings.encryption, &out);
        match step {
            Ok(Step::Write | Step::Parameter(..) | Step::Notice(_)) => {}
            Ok(Step::Read) => {
                if buf.len() >= 5 {
                    let announced = u32::from_be_bytes(buf[1..5].try_into().unwrap()) as usize;
                    assert!(
                        announced <= MAX_STARTUP_MESSAGE && buf.len() <= announced,
                        "waiting with {} bytes buffered of a message announcing {announced}",
                        buf.len()
                    );
                }
                if server.is_empty() {
                    return;
                }
                let n = reads.next(server.len());
                buf.extend_from_slice(&server[..n]);
                server = &server[n..];
            }
            Ok(Step::StartTls) => {
                assert!(written.ssl_request && !written.startup && !tls);
                if m.tls_established(certificate).is_err() {
                    assert!(m.advance(&mut buf).is_err());
                    return;
                }
                tls = true;
            }
            Ok(Step::TlsRefused) => {
                assert!(written.ssl_request && !written.startup && !tls);
                if !settings.plaintext_fallback {
                    return;
                }
                m.continue_without_tls().unwrap();
            }
            Ok(Step::DeriveKey(job)) => {
                if m.salted_password(&salted(&job)).is_err() {
                    assert!(m.advance(&mut buf).is_err());
                    return;
                }
                let out = m.output().split();
                written.check(st, settings.encryption, &out);
            }
            Ok(Step::Ready(session)) => {
                assert!(written.startup);
                assert!(st.require_auth.allows(session.auth), "{session:?}");
                if st.channel_binding == ChannelBindingPolicy::Require {
                    assert!(session.channel_bound, "{session:?}");
                }
                if session.channel_bound {
                    assert!(
                        tls && written
                            .answers
                            .contains(&Answer::SaslInitial { plus: true })
                    );
                }
                assert!(st.min_protocol <= session.protocol && session.protocol <= st.max_protocol);
                if let Some(key) = &session.backend_key {
                    let len = key.secret.len();
                    match session.protocol {
                        ProtocolVersion::V3_0 => assert_eq!(len, 4),
                        _ => assert!((4..=MAX_CANCEL_KEY).contains(&len)),
                    }
                }
                assert!(
                    m.advance(&mut buf).is_err(),
                    "the machine goes on after Ready"
                );
                return;
            }
            Ok(other) => panic!("a step the driver does not know: {other:?}"),
            Err(_) => {
                assert!(
                    m.advance(&mut buf).is_err(),
                    "the machine goes on after an error"
                );
                return;
            }
        }
    }
    panic!("{bound} steps without an end");
});
