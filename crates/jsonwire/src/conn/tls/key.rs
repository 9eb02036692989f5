//! Encrypted client keys: a PKCS#8 `ENCRYPTED PRIVATE KEY` PEM block, decrypted with
//! `sslpassword` (PBES2 with PBKDF2 or scrypt and AES-CBC: what `openssl genpkey -aes256` and
//! `openssl pkcs8 -topk8` write). OpenSSL's older per-block encryption (`Proc-Type:
//! 4,ENCRYPTED` in an `RSA PRIVATE KEY` or `EC PRIVATE KEY` block) is refused with the command
//! that converts it.

use std::path::Path;

use base64::Engine as _;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result};

const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The decrypted key when `pem` holds an encrypted one; `None` when it is not encrypted.
///
/// # Errors
/// A config error naming the key file when it is encrypted and `password` is missing or does
/// not decrypt it, or when it uses OpenSSL's legacy encryption.
pub(super) fn decrypt(
    pem: &[u8],
    path: &Path,
    password: Option<&str>,
) -> Result<Option<PrivateKeyDer<'static>>> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::config(format!(
            "private key file \"{}\" is encrypted in OpenSSL's legacy format (Proc-Type: \
             4,ENCRYPTED), which jsonwire does not read; convert it to encrypted PKCS#8 with \
             `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW`",
            path.display()
        )));
    }
    let Some(start) = text.find(BEGIN) else {
        return Ok(None);
    };
    let body = &text[start + BEGIN.len()..];
    let body = body.find(END).map(|end| &body[..end]).ok_or_else(|| {
        Error::config(format!(
            "private key file \"{}\": the ENCRYPTED PRIVATE KEY block has no END line",
            path.display()
        ))
    })?;
    let Some(password) = password else {
        return Err(Error::config(format!(
            "private key file \"{}\" is encrypted: set sslpassword to the password that \
             decrypts it",
            path.display()
        )));
    };
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| {
            Error::config(format!(
                "private key file \"{}\": the ENCRYPTED PRIVATE KEY block is not base64: {e}",
                path.display()
            ))
        })?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|e| {
        Error::config(format!(
            "private key file \"{}\" is not a valid encrypted PKCS#8 key: {e}",
            path.display()
        ))
    })?;
    let key = info.decrypt(password).map_err(|e| {
        Error::config(format!(
            "could not decrypt private key file \"{}\" with sslpassword: wrong password or \
             an encryption scheme jsonwire does not support ({e})",
            path.display()
        ))
    })?;
    Ok(Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        key.as_bytes().to_vec(),
    ))))
}
