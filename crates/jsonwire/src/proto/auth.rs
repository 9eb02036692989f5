//! Password authentication: MD5 and SCRAM-SHA-256 (RFC 5802, RFC 7677), sans-IO.
//!
//! The cryptographic primitives come from RustCrypto (`sha2`, `hmac`, `pbkdf2`, `md-5`); this
//! module only assembles the messages. The client nonce is passed in so that the exchange is
//! deterministic under test.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// The SASL mechanism name of SCRAM-SHA-256.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// The SASL mechanism name of SCRAM-SHA-256 with channel binding.
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// A server asking for more PBKDF2 iterations than this is refused: the work would stall the
/// client for minutes.
pub const MAX_SCRAM_ITERATIONS: u32 = 1_000_000;

/// The answer to an `AuthenticationMD5Password` request:
/// `"md5" + hex(md5(hex(md5(password + user)) + salt))`.
pub fn md5_password(user: &[u8], password: &[u8], salt: [u8; 4]) -> Vec<u8> {
    let mut inner = Md5::new();
    inner.update(password);
    inner.update(user);
    let inner_hex = hex(&inner.finalize());
    let mut outer = Md5::new();
    outer.update(inner_hex.as_bytes());
    outer.update(salt);
    let mut out = b"md5".to_vec();
    out.extend_from_slice(hex(&outer.finalize()).as_bytes());
    out
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Channel binding, as announced in the GS2 header of the client-first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelBinding {
    /// The client does not support channel binding (`n,,`).
    Unsupported,
    /// The client supports it but thinks the server does not (`y,,`).
    NotOffered,
    /// `tls-server-end-point` with the hash of the server's certificate (`p=tls-server-end-point,,`).
    TlsServerEndPoint(Vec<u8>),
}

impl ChannelBinding {
    fn gs2_header(&self) -> &'static str {
        match self {
            ChannelBinding::Unsupported => "n,,",
            ChannelBinding::NotOffered => "y,,",
            ChannelBinding::TlsServerEndPoint(_) => "p=tls-server-end-point,,",
        }
    }

    /// The mechanism to name in the SASLInitialResponse.
    pub fn mechanism(&self) -> &'static str {
        match self {
            ChannelBinding::TlsServerEndPoint(_) => SCRAM_SHA_256_PLUS,
            _ => SCRAM_SHA_256,
        }
    }
}

/// The PBKDF2 work of a SCRAM exchange, separated so that the caller can run it off the async
/// worker threads and cache its result (RFC 5802 section 5.1 allows the client to keep the
/// salted password per salt and iteration count).
#[derive(Clone, PartialEq, Eq)]
pub struct SaltedPasswordJob {
    password: Vec<u8>,
    salt: Vec<u8>,
    iterations: u32,
}

impl std::fmt::Debug for SaltedPasswordJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaltedPasswordJob")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl SaltedPasswordJob {
    /// The server's iteration count (at most [`MAX_SCRAM_ITERATIONS`]).
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// A digest of (password, salt, iterations) to key a cache by, so the cache does not hold
    /// the password itself.
    pub fn cache_key(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((self.password.len() as u64).to_be_bytes());
        h.update(&self.password);
        h.update((self.salt.len() as u64).to_be_bytes());
        h.update(&self.salt);
        h.update(self.iterations.to_be_bytes());
        h.finalize().into()
    }

    /// `Hi(password, salt, iterations)`: PBKDF2-HMAC-SHA-256, the expensive step (about
    /// 0.2 ms per thousand iterations).
    pub fn run(&self) -> [u8; 32] {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(&self.password, &self.salt, self.iterations, &mut salted);
        salted
    }
}

enum State {
    Initial,
    WaitingSalted { server_first: String, nonce: String },
    WaitingFinal { server_signature: [u8; 32] },
    Done,
}

impl std::fmt::Debug for ScramSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramSha256")
            .field("mechanism", &self.mechanism())
            .finish_non_exhaustive()
    }
}

/// The client side of a SCRAM-SHA-256 exchange.
pub struct ScramSha256 {
    password: Vec<u8>,
    nonce: String,
    client_first_bare: String,
    binding: ChannelBinding,
    state: State,
}

impl ScramSha256 {
    /// Starts an exchange for `password` with the client nonce `nonce` (printable ASCII
    /// without commas). Postgres ignores the SCRAM user name, so `user` is usually empty.
    ///
    /// The password is normalised with SASLprep; a password SASLprep rejects is used as raw
    /// bytes, as the server does.
    pub fn new(user: &str, password: &[u8], nonce: &str, binding: ChannelBinding) -> ScramSha256 {
        let password = match std::str::from_utf8(password)
            .ok()
            .and_then(|p| stringprep::saslprep(p).ok())
        {
            Some(p) => p.as_bytes().to_vec(),
            None => password.to_vec(),
        };
        let user = user.replace('=', "=3D").replace(',', "=2C");
        ScramSha256 {
            password,
            nonce: nonce.to_owned(),
            client_first_bare: format!("n={user},r={nonce}"),
            binding,
            state: State::Initial,
        }
    }

    /// The client-first message, sent in the SASLInitialResponse.
    pub fn client_first(&self) -> Vec<u8> {
        format!("{}{}", self.binding.gs2_header(), self.client_first_bare).into_bytes()
    }

    /// The mechanism this exchange uses.
    pub fn mechanism(&self) -> &'static str {
        self.binding.mechanism()
    }

    /// Takes the server-first message and returns the key derivation it asks for; hand its
    /// result to [`ScramSha256::client_final`].
    ///
    /// # Errors
    /// An auth error when the message is malformed, the server nonce does not extend ours,
    /// or the iteration count is out of range.
    pub fn server_first(&mut self, message: &[u8]) -> Result<SaltedPasswordJob> {
        if !matches!(self.state, State::Initial) {
            return Err(auth_error(
                "SCRAM server-first message arrived out of order",
            ));
        }
        let text = std::str::from_utf8(message)
            .map_err(|_| auth_error("SCRAM server-first message is not UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in text.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("m", _)) => {
                    return Err(auth_error("SCRAM server requires an unsupported extension"))
                }
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(auth_error(
                "SCRAM server-first message lacks its nonce, salt or iteration count",
            ));
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(auth_error(
                "SCRAM server nonce does not extend the client nonce",
            ));
        }
        let salt = BASE64
            .decode(salt)
            .map_err(|_| auth_error("SCRAM salt is not valid base64"))?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| auth_error("SCRAM iteration count is not a number"))?;
        if iterations == 0 || iterations > MAX_SCRAM_ITERATIONS {
            return Err(auth_error(&format!(
                "SCRAM iteration count {iterations} is outside 1..={MAX_SCRAM_ITERATIONS}"
            )));
        }
        self.state = State::WaitingSalted {
            server_first: text.to_owned(),
            nonce: nonce.to_owned(),
        };
        Ok(SaltedPasswordJob {
            password: self.password.clone(),
            salt,
            iterations,
        })
    }

    /// The client-final message (with the proof), from the salted password the job of
    /// [`ScramSha256::server_first`] computed.
    ///
    /// # Errors
    /// An auth error when called before the server-first message.
    pub fn client_final(&mut self, salted: &[u8; 32]) -> Result<Vec<u8>> {
        let State::WaitingSalted {
            server_first,
            nonce,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(auth_error("SCRAM proof computed out of order"));
        };
        let client_key = hmac(salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();

        let mut cbind_input = self.binding.gs2_header().as_bytes().to_vec();
        if let ChannelBinding::TlsServerEndPoint(data) = &self.binding {
            cbind_input.extend_from_slice(data);
        }
        let without_proof = format!("c={},r={nonce}", BASE64.encode(cbind_input));
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);

        let client_signature = hmac(&stored_key, auth_message.as_bytes());
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature) {
            *p ^= s;
        }
        let server_key = hmac(salted, b"Server Key");
        let server_signature = hmac(&server_key, auth_message.as_bytes());
        self.state = State::WaitingFinal { server_signature };
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// [`ScramSha256::server_first`] and [`ScramSha256::client_final`] in one call, deriving
    /// the key on the calling thread.
    ///
    /// # Errors
    /// As [`ScramSha256::server_first`].
    pub fn handle_server_first(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        let job = self.server_first(message)?;
        self.client_final(&job.run())
    }

    /// Checks the server-final message: the server proves it knows the password too.
    ///
    /// # Errors
    /// An auth error when the server reports an error or its signature does not match.
    pub fn verify_server_final(&mut self, message: &[u8]) -> Result<()> {
        let State::WaitingFinal { server_signature } = self.state else {
            return Err(auth_error(
                "SCRAM server-final message arrived out of order",
            ));
        };
        let text = std::str::from_utf8(message)
            .map_err(|_| auth_error("SCRAM server-final message is not UTF-8"))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(auth_error(&format!(
                "SCRAM authentication failed on the server: {e}"
            )));
        }
        let Some(v) = text.split(',').find_map(|a| a.strip_prefix("v=")) else {
            return Err(auth_error(
                "SCRAM server-final message lacks the server signature",
            ));
        };
        let v = BASE64
            .decode(v)
            .map_err(|_| auth_error("SCRAM server signature is not valid base64"))?;
        if v[..] != server_signature[..] {
            return Err(auth_error(
                "SCRAM server signature does not match: the server does not know the password",
            ));
        }
        self.state = State::Done;
        Ok(())
    }
}

/// The `tls-server-end-point` channel binding data of a server certificate (RFC 5929
/// section 4.1): its hash with the hash function of its signature algorithm, SHA-256 for MD5
/// and SHA-1. `None` when the algorithm names no such hash (Ed25519, RSASSA-PSS), for which
/// Postgres cannot bind either.
///
/// # Errors
/// A protocol error when the certificate is not valid DER.
pub fn tls_server_end_point(certificate_der: &[u8]) -> Result<Option<Vec<u8>>> {
    use sha2::{Sha224, Sha384, Sha512};
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(certificate_der)
        .map_err(|e| Error::protocol(format!("the server's certificate is not valid DER: {e}")))?;
    let oid = cert.signature_algorithm.oid.to_string();
    Ok(end_point_hash(&oid).map(|hash| match hash {
        EndPointHash::Sha224 => Sha224::digest(certificate_der).to_vec(),
        EndPointHash::Sha256 => Sha256::digest(certificate_der).to_vec(),
        EndPointHash::Sha384 => Sha384::digest(certificate_der).to_vec(),
        EndPointHash::Sha512 => Sha512::digest(certificate_der).to_vec(),
    }))
}

/// The hash functions `tls-server-end-point` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndPointHash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// RFC 5929 section 4.1: the hash of the certificate's signature algorithm (`oid`), SHA-256
/// for MD5 and SHA-1; `None` for an algorithm without one.
fn end_point_hash(oid: &str) -> Option<EndPointHash> {
    Some(match oid {
        // md5WithRSAEncryption, sha1WithRSAEncryption, ecdsa-with-SHA1, dsa-with-sha1.
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.10045.4.1"
        | "1.2.840.10040.4.3" => EndPointHash::Sha256,
        "1.2.840.113549.1.1.14" | "1.2.840.10045.4.3.1" | "2.16.840.1.101.3.4.3.1" => {
            EndPointHash::Sha224
        }
        "1.2.840.113549.1.1.11" | "1.2.840.10045.4.3.2" | "2.16.840.1.101.3.4.3.2" => {
            EndPointHash::Sha256
        }
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => EndPointHash::Sha384,
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => EndPointHash::Sha512,
        _ => return None,
    })
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn auth_error(message: &str) -> Error {
    Error::new(ErrorKind::Auth, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3.
    #[test]
    fn scram_rfc7677_test_vector() {
        let mut scram = ScramSha256::new(
            "user",
            b"pencil",
            "rOprNGfwEbeRWgbNEkqO",
            ChannelBinding::Unsupported,
        );
        assert_eq!(scram.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let client_final = scram
            .handle_server_first(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        scram
            .verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
    }

    #[test]
    fn scram_rejects_a_wrong_server_signature() {
        let mut scram = ScramSha256::new(
            "user",
            b"pencil",
            "rOprNGfwEbeRWgbNEkqO",
            ChannelBinding::Unsupported,
        );
        scram
            .handle_server_first(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        let err = scram
            .verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
    }

    #[test]
    fn scram_rejects_a_nonce_that_does_not_extend_ours() {
        let mut scram = ScramSha256::new("", b"pencil", "abc", ChannelBinding::Unsupported);
        let err = scram
            .handle_server_first(b"r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap_err();
        assert!(err.to_string().contains("nonce"), "{err}");
    }

    #[test]
    fn scram_refuses_huge_iteration_counts() {
        let mut scram = ScramSha256::new("", b"pencil", "abc", ChannelBinding::Unsupported);
        let err = scram
            .handle_server_first(b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4000000000")
            .unwrap_err();
        assert!(err.to_string().contains("iteration"), "{err}");
    }

    /// RFC 5929 section 4.1: MD5 and SHA-1 are replaced by SHA-256, every other hash is the
    /// signature's own, and a signature without one (Ed25519, RSASSA-PSS) cannot bind.
    #[test]
    fn end_point_hash_follows_the_signature_algorithm() {
        use EndPointHash::*;
        for (oid, name, want) in [
            ("1.2.840.113549.1.1.4", "md5WithRSAEncryption", Some(Sha256)),
            (
                "1.2.840.113549.1.1.5",
                "sha1WithRSAEncryption",
                Some(Sha256),
            ),
            ("1.2.840.10045.4.1", "ecdsa-with-SHA1", Some(Sha256)),
            (
                "1.2.840.113549.1.1.11",
                "sha256WithRSAEncryption",
                Some(Sha256),
            ),
            ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256", Some(Sha256)),
            (
                "1.2.840.113549.1.1.12",
                "sha384WithRSAEncryption",
                Some(Sha384),
            ),
            ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384", Some(Sha384)),
            (
                "1.2.840.113549.1.1.13",
                "sha512WithRSAEncryption",
                Some(Sha512),
            ),
            ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512", Some(Sha512)),
            (
                "1.2.840.113549.1.1.14",
                "sha224WithRSAEncryption",
                Some(Sha224),
            ),
            ("1.3.101.112", "Ed25519", None),
            ("1.2.840.113549.1.1.10", "RSASSA-PSS", None),
        ] {
            assert_eq!(end_point_hash(oid), want, "{name}");
        }
    }

    #[test]
    fn md5_matches_postgres() {
        // Computed independently: 'md5' || md5(md5('secret' || 'alice') || '\x01020304').
        let out = md5_password(b"alice", b"secret", [1, 2, 3, 4]);
        assert_eq!(out, b"md598a0412b9c31436fc53776e863350083");
    }
}
