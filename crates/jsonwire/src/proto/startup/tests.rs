use super::*;

const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";

fn settings(user: &str, password: Option<&str>) -> StartupSettings {
    StartupSettings {
        params: vec![
            ("user".into(), user.into()),
            ("database".into(), "postgres".into()),
            ("client_encoding".into(), "UTF8".into()),
        ],
        user: user.into(),
        password: password.map(|p| p.as_bytes().to_vec()),
        require_auth: AuthPolicy::any(),
        channel_binding: ChannelBindingPolicy::Prefer,
        min_protocol: ProtocolVersion::V3_0,
        max_protocol: ProtocolVersion::V3_0,
        nonce: NONCE.into(),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The turns of a recorded exchange: what the client wrote, then what the server answered.
fn transcript(title: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let text = include_str!("transcripts.txt");
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim_end() != format!("== {title}").trim_end())
        .skip(1)
        .take_while(|l| !l.starts_with("=="));
    let mut turns = Vec::new();
    while let (Some(c), Some(s)) = (lines.next(), lines.next()) {
        turns.push((unhex(&c[2..]), unhex(&s[2..])));
    }
    assert!(!turns.is_empty(), "no transcript {title:?}");
    turns
}

#[derive(Debug, Default)]
struct Run {
    /// Everything the client wrote, per turn of the server.
    written: Vec<Vec<u8>>,
    params: Vec<(String, String)>,
    notices: usize,
}

/// Advances until the machine wants bytes (`None`) or stops.
fn pump(m: &mut Startup, buf: &mut BytesMut, run: &mut Run) -> Option<Result<Session>> {
    loop {
        let step = m.advance(buf);
        let out = m.output().split();
        run.written.last_mut().unwrap().extend_from_slice(&out);
        match step {
            Err(e) => return Some(Err(e)),
            Ok(Step::Write) => {}
            Ok(Step::Read) => return None,
            Ok(Step::DeriveKey(job)) => {
                if let Err(e) = m.salted_password(&job.run()) {
                    return Some(Err(e));
                }
            }
            Ok(Step::Parameter(k, v)) => run.params.push((k, v)),
            Ok(Step::Notice(_)) => run.notices += 1,
            Ok(Step::Ready(session)) => return Some(Ok(session)),
            Ok(other) => panic!("unexpected step {other:?}"),
        }
    }
}

/// Feeds `server` (one entry per turn) `chunk` bytes at a time to a plaintext machine.
fn feed(settings: StartupSettings, server: &[Vec<u8>], chunk: usize) -> (Run, Result<Session>) {
    let mut m = Startup::new(settings, Encryption::Plain);
    let mut buf = BytesMut::new();
    let mut run = Run {
        written: vec![Vec::new()],
        ..Run::default()
    };
    if let Some(end) = pump(&mut m, &mut buf, &mut run) {
        return (run, end);
    }
    for turn in server {
        run.written.push(Vec::new());
        for piece in turn.chunks(chunk) {
            buf.extend_from_slice(piece);
            if let Some(end) = pump(&mut m, &mut buf, &mut run) {
                assert!(buf.is_empty() || end.is_err(), "bytes left after the end");
                return (run, end);
            }
        }
    }
    panic!("the server's bytes ran out before the startup ended: {run:?}");
}

/// Replays a recorded exchange at every chunking; the client's bytes must be the recorded
/// client's, byte for byte.
fn replay(title: &str, settings: StartupSettings) -> (Run, Result<Session>) {
    let turns = transcript(title);
    let server: Vec<Vec<u8>> = turns.iter().map(|t| t.1.clone()).collect();
    let mut last = None;
    for chunk in [usize::MAX, 7, 1] {
        let (run, result) = feed(settings.clone(), &server, chunk);
        for (i, (client, _)) in turns.iter().enumerate() {
            assert_eq!(
                hex(&run.written[i]),
                hex(client),
                "{title}: turn {i} differs (chunk {chunk})"
            );
        }
        last = Some((run, result));
    }
    last.unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn auth(code: i32, rest: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(rest);
    msg(b'R', &body)
}

fn ready(key: &[u8]) -> Vec<u8> {
    let mut v = auth(0, b"");
    v.extend(msg(b'S', b"server_version\x0018.0\x00"));
    let mut body = 42i32.to_be_bytes().to_vec();
    body.extend_from_slice(key);
    if !key.is_empty() {
        v.extend(msg(b'K', &body));
    }
    v.extend(msg(b'Z', b"I"));
    v
}

fn startup_bytes(s: &StartupSettings) -> Vec<u8> {
    let mut out = BytesMut::new();
    let params: Vec<(&str, &str)> = s
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    frontend::startup_version(&mut out, s.max_protocol.code(), &params).unwrap();
    out.to_vec()
}

#[test]
fn recorded_logins_replay_byte_for_byte() {
    let cases = [
        ("pg15 3.0 postgres", "postgres", None, AuthMethod::None),
        (
            "pg15 3.0 jw_password jw_password_pw",
            "jw_password",
            Some("jw_password_pw"),
            AuthMethod::Password,
        ),
        (
            "pg15 3.0 jw_md5 jw_md5_pw",
            "jw_md5",
            Some("jw_md5_pw"),
            AuthMethod::Md5,
        ),
        (
            "pg15 3.0 jw_scram jw_scram_pw",
            "jw_scram",
            Some("jw_scram_pw"),
            AuthMethod::ScramSha256,
        ),
    ];
    for (title, user, password, method) in cases {
        let (run, result) = replay(title, settings(user, password));
        let session = result.unwrap_or_else(|e| panic!("{title}: {e}"));
        assert_eq!(session.auth, method, "{title}");
        assert_eq!(session.protocol, ProtocolVersion::V3_0);
        assert_eq!(session.tx_status, b'I');
        assert!(!session.channel_bound);
        let key = session.backend_key.expect("a cancel key");
        assert_eq!(key.secret.len(), 4);
        assert!(run.params.iter().any(|(k, _)| k == "server_version"));
    }
}

#[test]
fn a_wrong_scram_password_is_the_servers_28p01_and_marks_a_server_rejection() {
    for title in ["pg15 3.0 jw_scram wrong", "pg18 3.2 jw_scram wrong"] {
        let mut s = settings("jw_scram", Some("wrong"));
        if title.contains("3.2") {
            s.max_protocol = ProtocolVersion::V3_2;
        }
        let turns = transcript(title);
        let server: Vec<Vec<u8>> = turns.iter().map(|t| t.1.clone()).collect();
        let mut m = Startup::new(s, Encryption::Plain);
        let mut buf = BytesMut::new();
        let mut run = Run {
            written: vec![Vec::new()],
            ..Run::default()
        };
        assert!(pump(&mut m, &mut buf, &mut run).is_none());
        let mut end = None;
        for turn in &server {
            buf.extend_from_slice(turn);
            end = pump(&mut m, &mut buf, &mut run);
        }
        let err = end.unwrap().unwrap_err();
        assert_eq!(err.code(), Some("28P01"), "{title}: {err}");
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(m.server_rejected());
    }
}

#[test]
fn protocol_3_2_against_postgres_18_keeps_the_long_cancel_key() {
    for (title, user, password) in [
        ("pg18 3.2 postgres", "postgres", None),
        (
            "pg18 3.2 jw_scram jw_scram_pw",
            "jw_scram",
            Some("jw_scram_pw"),
        ),
    ] {
        let mut s = settings(user, password);
        s.max_protocol = ProtocolVersion::V3_2;
        let (_, result) = replay(title, s);
        let session = result.unwrap();
        assert_eq!(session.protocol, ProtocolVersion::V3_2);
        assert_eq!(session.backend_key.unwrap().secret.len(), 32, "{title}");
    }
}

#[test]
fn an_older_server_negotiates_down_to_3_0_unless_the_minimum_forbids_it() {
    let mut s = settings("postgres", None);
    s.max_protocol = ProtocolVersion::V3_2;
    let (_, result) = replay("pg15 3.2 postgres", s.clone());
    let session = result.unwrap();
    assert_eq!(session.protocol, ProtocolVersion::V3_0);
    assert_eq!(session.backend_key.unwrap().secret.len(), 4);

    s.min_protocol = ProtocolVersion::V3_2;
    let server: Vec<Vec<u8>> = transcript("pg15 3.2 postgres")
        .into_iter()
        .map(|t| t.1)
        .collect();
    let (_, result) = feed(s, &server, usize::MAX);
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect);
    assert!(
        err.to_string()
            .contains("only supports protocol version 3.0, but min_protocol_version is 3.2"),
        "{err}"
    );
}

#[test]
fn invalid_protocol_negotiations_are_refused() {
    let npv = |version: i32, options: &[&str]| {
        let mut body = version.to_be_bytes().to_vec();
        body.extend_from_slice(&(options.len() as i32).to_be_bytes());
        for o in options {
            body.extend_from_slice(o.as_bytes());
            body.push(0);
        }
        msg(b'v', &body)
    };
    let mut asked_3_2 = settings("postgres", None);
    asked_3_2.max_protocol = ProtocolVersion::V3_2;
    let cases: Vec<(StartupSettings, Vec<u8>, &str)> = vec![
        (
            asked_3_2.clone(),
            npv(0x30000, &["_pq_.compression"]),
            "\"_pq_.compression\" as unrecognized",
        ),
        (asked_3_2.clone(), npv(0x30001, &[]), "3.1"),
        (asked_3_2.clone(), npv(0x40000, &[]), "4.0"),
        (asked_3_2.clone(), npv(0x30002, &[]), "not older"),
        (settings("postgres", None), npv(0x30000, &[]), "not older"),
        (
            asked_3_2.clone(),
            [npv(0x30000, &[]), npv(0x30000, &[])].concat(),
            "twice",
        ),
        (
            asked_3_2.clone(),
            [auth(0, b""), npv(0x30000, &[])].concat(),
            "NegotiateProtocolVersion arrived after authentication began",
        ),
    ];
    for (s, server, needle) in cases {
        let (_, result) = feed(s, &[server], usize::MAX);
        let err = result.unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
}

#[test]
fn a_huge_negotiate_message_is_refused_at_its_header() {
    // 20 MiB of NUL bytes claiming 20 million option names: refused from the first 5 bytes.
    let len = 20u32 << 20;
    let mut header = vec![b'v'];
    header.extend_from_slice(&len.to_be_bytes());
    let mut m = Startup::new(settings("postgres", None), Encryption::Plain);
    let mut buf = BytesMut::new();
    assert!(matches!(m.advance(&mut buf), Ok(Step::Write)));
    buf.extend_from_slice(&header);
    let err = m.advance(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
}

#[test]
fn cancel_key_length_must_match_the_protocol() {
    let (_, r) = feed(settings("postgres", None), &[ready(&[1; 8])], usize::MAX);
    assert!(r.unwrap_err().to_string().contains("8-byte cancel key"));
    let mut s = settings("postgres", None);
    s.max_protocol = ProtocolVersion::V3_2;
    let (_, r) = feed(s.clone(), &[ready(&[7; 256])], usize::MAX);
    assert_eq!(r.unwrap().backend_key.unwrap().secret, vec![7u8; 256]);
    let (_, r) = feed(s, &[ready(&[7; 3])], usize::MAX);
    assert!(r.unwrap_err().to_string().contains("3-byte cancel key"));
}

#[test]
fn a_server_without_backend_key_data_yields_a_session_without_a_key() {
    let (run, r) = feed(settings("postgres", None), &[ready(b"")], 1);
    let session = r.unwrap();
    assert_eq!(session.backend_key, None);
    assert_eq!(run.params, [("server_version".into(), "18.0".into())]);
}

/// Every password-bearing request the policy forbids is refused with nothing written after
/// the StartupMessage.
#[test]
fn require_auth_refuses_before_any_secret_is_written() {
    let md5 = auth(5, &[1, 2, 3, 4]);
    let sasl = auth(10, b"SCRAM-SHA-256\0\0");
    let cleartext = auth(3, b"");
    let only = |methods: &[AuthMethod]| AuthPolicy::only(methods, "x");
    let cases: Vec<(AuthPolicy, Vec<u8>, &str)> = vec![
        (
            only(&[AuthMethod::ScramSha256]),
            cleartext.clone(),
            "a cleartext password",
        ),
        (
            only(&[AuthMethod::ScramSha256]),
            md5.clone(),
            "an MD5-hashed password",
        ),
        (only(&[AuthMethod::Md5]), sasl.clone(), "SCRAM-SHA-256"),
        (
            only(&[AuthMethod::None]),
            cleartext.clone(),
            "a cleartext password",
        ),
        (only(&[AuthMethod::Password]), md5.clone(), "an MD5"),
        (
            only(&[AuthMethod::Md5, AuthMethod::ScramSha256]),
            cleartext,
            "cleartext",
        ),
        (only(&[AuthMethod::Password]), auth(7, b""), "GSSAPI"),
    ];
    for (policy, request, needle) in cases {
        let mut s = settings("u", Some("secret"));
        s.require_auth = policy;
        let (run, r) = feed(s.clone(), &[request], usize::MAX);
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert!(err.to_string().contains("nothing was sent"), "{err}");
        assert_eq!(run.written.concat(), startup_bytes(&s), "{needle}");
    }
}

#[test]
fn require_auth_allows_the_listed_methods() {
    let only = |methods: &[AuthMethod]| AuthPolicy::only(methods, "x");
    let mut s = settings("postgres", None);
    s.require_auth = only(&[AuthMethod::None]);
    replay("pg15 3.0 postgres", s).1.unwrap();
    let mut s = settings("jw_md5", Some("jw_md5_pw"));
    s.require_auth = only(&[AuthMethod::Md5, AuthMethod::Password]);
    replay("pg15 3.0 jw_md5 jw_md5_pw", s).1.unwrap();
    let mut s = settings("jw_scram", Some("jw_scram_pw"));
    s.require_auth = only(&[AuthMethod::ScramSha256]);
    replay("pg15 3.0 jw_scram jw_scram_pw", s).1.unwrap();
}

#[test]
fn require_auth_without_none_refuses_a_server_that_skips_authentication() {
    let mut s = settings("postgres", None);
    s.require_auth = AuthPolicy::only(&[AuthMethod::ScramSha256], "scram-sha-256");
    let (_, r) = feed(s, &[ready(&[0; 4])], usize::MAX);
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(
        err.to_string()
            .contains("require_auth=scram-sha-256 failed: the server accepted the connection without authenticating"),
        "{err}"
    );
}

#[test]
fn a_method_switch_after_scram_started_is_a_protocol_error_and_sends_no_password() {
    for switch in [
        auth(3, b""),
        auth(5, &[1, 2, 3, 4]),
        auth(10, b"SCRAM-SHA-256\0\0"),
    ] {
        let s = settings("u", Some("secret"));
        let (run, r) = feed(s, &[auth(10, b"SCRAM-SHA-256\0\0"), switch], usize::MAX);
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
        assert!(err.to_string().contains("middle of SCRAM"), "{err}");
        // Turn 0: StartupMessage, turn 1: SASLInitialResponse, turn 2: nothing at all.
        assert!(run.written[2].is_empty());
        let sent = run.written.concat();
        assert!(!sent.windows(6).any(|w| w == b"secret"));
    }
}

#[test]
fn a_second_password_request_is_a_protocol_error() {
    let s = settings("u", Some("secret"));
    let (run, r) = feed(s, &[auth(3, b""), auth(5, &[1, 2, 3, 4])], usize::MAX);
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(run.written[2].is_empty());
}

#[test]
fn authentication_ok_before_the_scram_proof_is_refused() {
    let s = settings("u", Some("secret"));
    let (_, r) = feed(
        s,
        &[auth(10, b"SCRAM-SHA-256\0\0"), auth(0, b"")],
        usize::MAX,
    );
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("without proving it knows the password"));
}

#[test]
fn channel_binding_require_refuses_everything_but_scram_plus() {
    for request in [
        auth(3, b""),
        auth(5, &[1, 2, 3, 4]),
        auth(10, b"SCRAM-SHA-256\0\0"),
        ready(&[0; 4]),
    ] {
        let mut s = settings("u", Some("secret"));
        s.channel_binding = ChannelBindingPolicy::Require;
        let (run, r) = feed(s.clone(), &[request], usize::MAX);
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(err.to_string().contains("channel_binding=require"), "{err}");
        assert_eq!(run.written.concat(), startup_bytes(&s));
    }
}

#[test]
fn scram_plus_offered_without_tls_is_a_man_in_the_middle() {
    let s = settings("u", Some("secret"));
    let (run, r) = feed(
        s.clone(),
        &[auth(10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0")],
        usize::MAX,
    );
    assert!(r.unwrap_err().to_string().contains("without TLS"));
    assert_eq!(run.written.concat(), startup_bytes(&s));
}

#[test]
fn an_unsupported_method_is_named() {
    let (_, r) = feed(settings("u", None), &[auth(7, b"")], usize::MAX);
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.to_string().contains("GSSAPI"), "{err}");
}

#[test]
fn a_missing_password_is_an_auth_error_saying_how_to_give_one() {
    let (_, r) = feed(settings("u", None), &[auth(3, b"")], usize::MAX);
    assert!(r.unwrap_err().to_string().contains("requires a password"));
}

#[test]
fn a_server_error_before_authentication_is_a_rejection_after_it_is_not() {
    let fatal = msg(
        b'E',
        b"SFATAL\0VFATAL\0C28000\0Mno pg_hba.conf entry for host\0\0",
    );
    let mut m = Startup::new(settings("u", None), Encryption::Plain);
    let mut buf = BytesMut::new();
    m.advance(&mut buf).unwrap();
    buf.extend_from_slice(&fatal);
    assert_eq!(m.advance(&mut buf).unwrap_err().code(), Some("28000"));
    assert!(m.server_rejected());

    let missing_db = msg(
        b'E',
        b"SFATAL\0VFATAL\0C3D000\0Mdatabase does not exist\0\0",
    );
    let mut m = Startup::new(settings("u", None), Encryption::Plain);
    m.advance(&mut buf).unwrap();
    buf.extend_from_slice(&auth(0, b""));
    buf.extend_from_slice(&missing_db);
    let err = m.advance(&mut buf).unwrap_err();
    assert_eq!(
        (err.kind(), err.code()),
        (ErrorKind::Connect, Some("3D000"))
    );
    assert!(!m.server_rejected());
}

#[test]
fn ssl_request_answers() {
    let start = |answer: &[u8]| {
        let mut m = Startup::new(settings("u", None), Encryption::SslRequest);
        let mut buf = BytesMut::new();
        assert!(matches!(m.advance(&mut buf), Ok(Step::Write)));
        assert_eq!(&m.output()[..], b"\0\0\0\x08\x04\xd2\x16\x2f");
        m.output().clear();
        buf.extend_from_slice(answer);
        let step = m.advance(&mut buf);
        (m, buf, step)
    };
    let (mut m, mut buf, step) = start(b"S");
    assert!(matches!(step, Ok(Step::StartTls)));
    m.tls_established(None).unwrap();
    assert!(m.tls_in_use());
    assert!(matches!(m.advance(&mut buf), Ok(Step::Write)));
    assert_eq!(m.output().to_vec(), startup_bytes(&settings("u", None)));

    let (_, _, step) = start(b"SR\0\0\0\x08\0\0\0\0");
    assert!(step.unwrap_err().to_string().contains("unencrypted data"));

    let (mut m, mut buf, step) = start(b"N");
    assert!(matches!(step, Ok(Step::TlsRefused)));
    assert!(m.advance(&mut buf).is_err(), "no decision yet");
    let (mut m, mut buf, _) = start(b"N");
    m.continue_without_tls().unwrap();
    assert!(matches!(m.advance(&mut buf), Ok(Step::Write)));
    assert!(!m.tls_in_use());

    let (_, _, step) = start(b"E");
    assert_eq!(step.unwrap_err().kind(), ErrorKind::Connect);
    let (_, _, step) = start(b"X");
    assert_eq!(step.unwrap_err().kind(), ErrorKind::Protocol);
}
