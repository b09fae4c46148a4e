//! The gateway's Ed25519 signing keys, in the data folder (mode 0600): `signing-key.pem`,
//! generated on first start, and one `signing-key-<unix seconds>.pem` per rotation. The newest
//! signs; older ones verify until every token they signed has expired.

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

/// The prefix of rotated key files: `signing-key-<unix seconds>.pem`.
const ROTATED_PREFIX: &str = "signing-key-";

/// One Ed25519 key.
struct KeyEntry {
    kid: String,
    /// When it started signing (`signing-key.pem`: the beginning of time).
    created: i64,
    public: [u8; 32],
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The gateway's keys: the newest signs, every live one verifies. Immutable; a rotation is
/// seen by loading again.
pub struct SigningKeys {
    keys: Vec<KeyEntry>,
    /// The key files this set was loaded from (empty for a set built in memory).
    files: Vec<std::path::PathBuf>,
}

impl SigningKeys {
    /// Loads every key in `data_dir`, creating `signing-key.pem` first if there is none.
    /// No key is retired.
    pub fn load_or_generate(data_dir: &Path) -> Result<SigningKeys, KeyError> {
        Self::load(data_dir, None)
    }

    /// Loads the keys in `data_dir`; a key stops verifying `retire_after` after its successor
    /// started signing (by then every token it signed has expired).
    pub fn load(
        data_dir: &Path,
        retire_after: Option<chrono::Duration>,
    ) -> Result<SigningKeys, KeyError> {
        let shown = data_dir.display().to_string();
        std::fs::create_dir_all(data_dir).map_err(|e| KeyError::Io(shown.clone(), e))?;
        let first = data_dir.join(KEY_FILE);
        if !first.exists() {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            write_key(&first, &key)?;
        }
        let files = key_files(data_dir)?;
        let now = chrono::Utc::now().timestamp();
        let mut keys = Vec::new();
        for (i, (created, path)) in files.iter().enumerate() {
            let successor = files.get(i + 1).map(|(c, _)| *c);
            let retired = match (successor, retire_after) {
                (Some(next), Some(after)) => next.saturating_add(after.num_seconds()) < now,
                _ => false,
            };
            if retired {
                continue;
            }
            let name = path.display().to_string();
            let pem = std::fs::read_to_string(path).map_err(|e| KeyError::Io(name.clone(), e))?;
            let key =
                SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyError::Format(name.clone()))?;
            keys.push(entry(&key, *created).ok_or(KeyError::Format(name))?);
        }
        Ok(SigningKeys {
            keys,
            files: files.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// Whether the key files in `data_dir` are still the ones this set was loaded from.
    pub fn is_current(&self, data_dir: &Path) -> bool {
        key_files(data_dir)
            .map(|files| files.into_iter().map(|(_, p)| p).collect::<Vec<_>>() == self.files)
            .unwrap_or(true)
    }

    /// Adds a new key to `data_dir` that signs from its next load on; returns its `kid`.
    pub fn rotate(data_dir: &Path) -> Result<String, KeyError> {
        Self::load_or_generate(data_dir)?;
        let mut created = chrono::Utc::now().timestamp();
        let mut path = data_dir.join(format!("{ROTATED_PREFIX}{created}.pem"));
        while path.exists() {
            created += 1;
            path = data_dir.join(format!("{ROTATED_PREFIX}{created}.pem"));
        }
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        write_key(&path, &key)?;
        Ok(kid_of(&key))
    }

    /// A single key, e.g. a foreign one in tests.
    pub fn from_key(key: &SigningKey) -> Option<SigningKeys> {
        Some(SigningKeys {
            keys: vec![entry(key, 0)?],
            files: Vec::new(),
        })
    }

    fn current(&self) -> &KeyEntry {
        self.keys.last().expect("at least one key")
    }

    /// The `kid` of the key that signs.
    pub fn kid(&self) -> &str {
        &self.current().kid
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.current().encoding
    }

    /// The key for a token's `kid`; a token without `kid` is checked against the current key.
    pub fn decoding_key(&self, kid: Option<&str>) -> Option<&DecodingKey> {
        match kid {
            None => Some(&self.current().decoding),
            Some(k) => self.keys.iter().find(|e| e.kid == k).map(|e| &e.decoding),
        }
    }

    /// The `kid`s that verify, oldest first.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|e| e.kid.as_str()).collect()
    }

    /// The public keys as a JSON Web Key Set (RFC 8037 `OKP`/`Ed25519`).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|e| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": "EdDSA",
                    "use": "sig",
                    "kid": e.kid,
                    "x": URL_SAFE_NO_PAD.encode(e.public),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// When the newest key started signing.
    pub fn current_since(&self) -> i64 {
        self.current().created
    }
}

/// The key files in `data_dir` with their creation times, oldest first.
fn key_files(data_dir: &Path) -> Result<Vec<(i64, std::path::PathBuf)>, KeyError> {
    let shown = data_dir.display().to_string();
    let mut files: Vec<(i64, std::path::PathBuf)> = vec![(i64::MIN, data_dir.join(KEY_FILE))];
    for entry in std::fs::read_dir(data_dir).map_err(|e| KeyError::Io(shown.clone(), e))? {
        let path = entry.map_err(|e| KeyError::Io(shown.clone(), e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(created) = name
            .strip_prefix(ROTATED_PREFIX)
            .and_then(|rest| rest.strip_suffix(".pem"))
            .and_then(|n| n.parse::<i64>().ok())
        {
            files.push((created, path));
        }
    }
    files.sort_by_key(|(created, _)| *created);
    Ok(files)
}

fn kid_of(key: &SigningKey) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(key.verifying_key().as_bytes())[..12])
}

fn entry(key: &SigningKey, created: i64) -> Option<KeyEntry> {
    let private = key.to_pkcs8_pem(LineEnding::LF).ok()?;
    let public = key.verifying_key().to_public_key_pem(LineEnding::LF).ok()?;
    Some(KeyEntry {
        kid: kid_of(key),
        created,
        public: key.verifying_key().to_bytes(),
        encoding: EncodingKey::from_ed_pem(private.as_bytes()).ok()?,
        decoding: DecodingKey::from_ed_pem(public.as_bytes()).ok()?,
    })
}

fn write_key(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let shown = path.display().to_string();
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| KeyError::Format(shown.clone()))?;
    write_private(path, pem.as_bytes()).map_err(|e| KeyError::Io(shown, e))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_out_key_verifies_until_its_tokens_have_expired() {
        let dir = tempfile::tempdir().expect("dir");
        let first = SigningKeys::load_or_generate(dir.path()).expect("keys");
        let old_kid = first.kid().to_owned();
        let new_kid = SigningKeys::rotate(dir.path()).expect("rotate");
        // Pretend the rotation happened ten hours ago.
        let rotated = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(ROTATED_PREFIX))
            })
            .expect("rotated key file");
        let ten_hours_ago = chrono::Utc::now().timestamp() - 10 * 3600;
        std::fs::rename(
            &rotated,
            dir.path()
                .join(format!("{ROTATED_PREFIX}{ten_hours_ago}.pem")),
        )
        .expect("rename");

        let both = SigningKeys::load(dir.path(), Some(chrono::Duration::hours(12))).expect("keys");
        assert_eq!(both.kids(), vec![old_kid.as_str(), new_kid.as_str()]);
        assert_eq!(both.kid(), new_kid, "the newest key signs");
        assert!(both.decoding_key(Some(&old_kid)).is_some());

        let retired =
            SigningKeys::load(dir.path(), Some(chrono::Duration::hours(8))).expect("keys");
        assert_eq!(
            retired.kids(),
            vec![new_kid.as_str()],
            "tokens of the old key have all expired"
        );
        assert!(retired.decoding_key(Some(&old_kid)).is_none());

        let jwks = both.jwks();
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
        assert_eq!(jwks["keys"][1]["kid"], new_kid.as_str());
        assert_eq!(jwks["keys"][1]["crv"], "Ed25519");
    }
}
