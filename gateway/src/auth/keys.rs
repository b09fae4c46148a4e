//! The gateway's Ed25519 signing key: loaded from the data folder, or generated there (mode
//! 0600) on first start.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};

pub const KEY_FILE: &str = "signing-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key {0}: {1}")]
    Io(String, std::io::Error),
    #[error("signing key {0} is not an Ed25519 PKCS#8 PEM key")]
    Format(String),
}

pub struct SigningKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKeys {
    /// Loads `data_dir/signing-key.pem`, creating it first if it does not exist.
    pub fn load_or_generate(data_dir: &Path) -> Result<SigningKeys, KeyError> {
        let path = data_dir.join(KEY_FILE);
        let shown = path.display().to_string();
        std::fs::create_dir_all(data_dir).map_err(|e| KeyError::Io(shown.clone(), e))?;
        let key = if path.exists() {
            let pem = std::fs::read_to_string(&path).map_err(|e| KeyError::Io(shown.clone(), e))?;
            SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyError::Format(shown.clone()))?
        } else {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|_| KeyError::Format(shown.clone()))?;
            write_private(&path, pem.as_bytes()).map_err(|e| KeyError::Io(shown.clone(), e))?;
            key
        };
        Self::from_key(&key).ok_or(KeyError::Format(shown))
    }

    pub fn from_key(key: &SigningKey) -> Option<SigningKeys> {
        let private = key.to_pkcs8_pem(LineEnding::LF).ok()?;
        let public = key.verifying_key().to_public_key_pem(LineEnding::LF).ok()?;
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(key.verifying_key().as_bytes())[..12]);
        Some(SigningKeys {
            kid,
            encoding: EncodingKey::from_ed_pem(private.as_bytes()).ok()?,
            decoding: DecodingKey::from_ed_pem(public.as_bytes()).ok()?,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The key for a token's `kid`; a token without `kid` is checked against the current key.
    pub fn decoding_key(&self, kid: Option<&str>) -> Option<&DecodingKey> {
        match kid {
            None => Some(&self.decoding),
            Some(k) if k == self.kid => Some(&self.decoding),
            Some(_) => None,
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}
