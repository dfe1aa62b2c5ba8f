//! Channel credentials at rest: ChaCha20-Poly1305 (RFC 8439) with a 256-bit server key.
//!
//! The key comes from `BLAIGENT_CHANNEL_SECRET_KEY` (any string of at least 32 characters;
//! the AEAD key is its SHA-256). Without it, a random key is generated once and kept in
//! `<data dir>/channel-secret.key` (mode 0600): fine for one machine, but several replicas
//! must share the variable. Losing the key makes stored credentials unreadable (the channels
//! must then be given their credentials again); the data itself is not affected.
//!
//! Sealed text is `v1.` + base64(nonce || ciphertext || tag); the organization and channel
//! ids are the associated data, so a sealed blob copied to another row does not open.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The file holding the generated development key, inside the data folder.
pub const KEY_FILE: &str = "channel-secret.key";
/// Shortest accepted `BLAIGENT_CHANNEL_SECRET_KEY`.
pub const MIN_KEY_CHARS: usize = 32;
const VERSION: &str = "v1.";

/// Seals and opens channel credentials.
pub struct SecretCipher {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCipher(..)")
    }
}

impl SecretCipher {
    /// A cipher whose key is the SHA-256 of `passphrase`.
    pub fn from_passphrase(passphrase: &str) -> Result<SecretCipher> {
        if passphrase.chars().count() < MIN_KEY_CHARS {
            return Err(Error::invalid(format!(
                "BLAIGENT_CHANNEL_SECRET_KEY must be at least {MIN_KEY_CHARS} characters"
            )));
        }
        let digest = Sha256::digest(passphrase.as_bytes());
        Self::from_key(&digest)
    }

    fn from_key(key: &[u8]) -> Result<SecretCipher> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key)
            .map_err(|_| Error::internal("the channel key has the wrong length"))?;
        Ok(SecretCipher {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// The configured key, else the data folder's generated key (created on first use).
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<SecretCipher> {
        if let Some(passphrase) = configured {
            return Self::from_passphrase(passphrase);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = hex::decode(text.trim()).map_err(|e| {
                    Error::internal(format!("{} is not a hex key", path.display())).with_source(e)
                })?;
                Self::from_key(&key)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| Error::internal("the system random generator failed"))?;
                if let Err(err) = write_key_file(&path, &hex::encode(key)) {
                    // Another process created it first: use theirs.
                    return match std::fs::read_to_string(&path) {
                        Ok(text) => Self::from_key(&hex::decode(text.trim()).map_err(|e| {
                            Error::internal(format!("{} is not a hex key", path.display()))
                                .with_source(e)
                        })?),
                        Err(_) => Err(err),
                    };
                }
                tracing::warn!(
                    path = %path.display(),
                    "BLAIGENT_CHANNEL_SECRET_KEY is not set: generated a channel key in the data folder"
                );
                Self::from_key(&key)
            }
            Err(err) => {
                Err(Error::internal(format!("reading {}", path.display())).with_source(err))
            }
        }
    }

    /// Encrypts `plain`, bound to `context` (e.g. the channel id).
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| Error::internal("the system random generator failed"))?;
        let mut buffer = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| Error::internal("encrypting channel credentials failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(format!("{VERSION}{}", STANDARD.encode(out)))
    }

    /// Decrypts what [`seal`](Self::seal) produced for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>> {
        let unreadable = || {
            Error::internal(
                "stored channel credentials cannot be decrypted (was the channel key changed?)",
            )
        };
        let encoded = sealed.strip_prefix(VERSION).ok_or_else(unreadable)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| unreadable())?;
        if bytes.len() < NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable())?;
        let mut buffer = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| unreadable())?;
        Ok(plain.to_vec())
    }
}

fn write_key_file(path: &Path, contents: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::internal(format!("creating {}", parent.display())).with_source(e)
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options
        .open(path)
        .map_err(|e| Error::internal(format!("creating {}", path.display())).with_source(e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| Error::internal(format!("writing {}", path.display())).with_source(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_only_with_the_same_key_and_context() {
        let cipher = SecretCipher::from_passphrase(&"k".repeat(40)).unwrap();
        let sealed = cipher
            .seal(br#"{"auth_token":"s3cret"}"#, "chan_1")
            .unwrap();
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            cipher.open(&sealed, "chan_1").unwrap(),
            br#"{"auth_token":"s3cret"}"#
        );
        assert!(cipher.open(&sealed, "chan_2").is_err());
        let other = SecretCipher::from_passphrase(&"x".repeat(40)).unwrap();
        assert!(other.open(&sealed, "chan_1").is_err());
    }

    #[test]
    fn short_passphrases_are_refused_naming_the_variable() {
        let err = SecretCipher::from_passphrase("short").unwrap_err();
        assert!(
            err.message().contains("BLAIGENT_CHANNEL_SECRET_KEY"),
            "{err}"
        );
    }

    #[test]
    fn the_generated_key_is_kept_in_the_data_folder() {
        let dir = std::env::temp_dir().join(format!("blaigent-key-{}", crate::ids::fresh_suffix()));
        let first = SecretCipher::load(None, &dir).unwrap();
        let sealed = first.seal(b"x", "c").unwrap();
        let again = SecretCipher::load(None, &dir).unwrap();
        assert_eq!(again.open(&sealed, "c").unwrap(), b"x");
        let _ = std::fs::remove_dir_all(dir);
    }
}
