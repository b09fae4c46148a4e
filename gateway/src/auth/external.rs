//! Trusted external issuers: agencies' own identity providers whose tokens the gateway accepts.
//!
//! Each issuer is configured (`[[trusted_issuers]]`) with its `iss`, its public keys (a JWKS
//! file, reloaded when it changes, and optionally a JWKS URL refreshed on a schedule), the
//! asymmetric algorithms it may use, the roles it may grant, and a claim mapping. A token whose
//! `kid` is unknown makes the issuer fetch its JWKS URL at once, but at most once per
//! `min_refresh_seconds`, so a flood of made-up `kid`s cannot turn into a flood of fetches. The
//! file is looked at (one `stat`) on every token, so a key taken out of it stops verifying at
//! once.
//! Tokens are mapped to the gateway's own `Claims`, so everything after verification (scopes,
//! revocation, audit) is the same for every issuer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{AuthError, Claims};

/// Algorithms an external issuer may be allowed: asymmetric only (an HMAC key in a JWKS
/// would let anyone who can read the JWKS sign tokens).
const ASYMMETRIC: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// Which claims of the issuer's tokens hold what the gateway needs. A dotted name reads a
/// nested claim (`org.agency`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimMapping {
    pub subject: String,
    pub role: String,
    pub agency: String,
    pub jurisdiction: String,
    /// A space-separated string or an array of strings. Empty (the default): scopes are not
    /// read, since an identity provider's own scopes (`openid profile`) are not the gateway's.
    pub scope: String,
    pub token_id: String,
    pub purpose: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            subject: "sub".into(),
            role: "role".into(),
            agency: "agency".into(),
            jurisdiction: "jurisdiction".into(),
            scope: String::new(),
            token_id: "jti".into(),
            purpose: "purpose".into(),
        }
    }
}

/// One `[[trusted_issuers]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    /// The `iss` of its tokens.
    pub issuer: String,
    /// The `aud` its tokens must carry; default: the gateway's audience.
    #[serde(default)]
    pub audience: Option<String>,
    /// A JWKS file, read at start and again whenever it changes.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL, fetched at start and every `refresh_minutes` (opt-in: the only network the
    /// gateway uses besides its database).
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default = "default_refresh_minutes")]
    pub refresh_minutes: u64,
    /// Least time between two key look-ups caused by unknown `kid`s.
    #[serde(default = "default_min_refresh_seconds")]
    pub min_refresh_seconds: u64,
    /// Algorithms its tokens may use.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Roles its tokens may carry (at least one). With exactly one, a token without a role
    /// claim gets it.
    pub roles: Vec<String>,
    /// The agency of all its tokens (an agency's own identity provider); a token naming
    /// another agency is refused. Without it, the agency claim is required.
    #[serde(default)]
    pub agency: Option<String>,
    #[serde(default)]
    pub claims: ClaimMapping,
}

fn default_refresh_minutes() -> u64 {
    60
}

fn default_min_refresh_seconds() -> u64 {
    30
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into(), "EdDSA".into()]
}

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("trusted issuer {0}: {1}")]
    Config(String, String),
}

/// A verification key, and the one algorithm its JWK pins, if it pins one.
#[derive(Clone)]
struct Key {
    key: DecodingKey,
    algorithm: Option<Algorithm>,
}

/// What identifies one version of the JWKS file: a rename or rewrite changes it.
type FileStamp = (SystemTime, u64, u64, i64);

/// The keys of one issuer, by `kid`: the file's and the URL's, each replaced whole when read
/// again, so a key removed from the JWKS stops verifying.
#[derive(Default)]
struct KeySet {
    from_file: HashMap<String, Key>,
    from_url: HashMap<String, Key>,
    /// The JWKS file as it was when read; `None`: never read, or gone.
    file_stamp: Option<FileStamp>,
}

impl KeySet {
    fn get(&self, kid: &str) -> Option<&Key> {
        self.from_file.get(kid).or_else(|| self.from_url.get(kid))
    }

    fn only(&self) -> Option<&Key> {
        let mut all = self.from_file.values().chain(self.from_url.values());
        match (all.next(), all.next()) {
            (Some(key), None) => Some(key),
            _ => None,
        }
    }
}

pub struct ExternalIssuer {
    config: TrustedIssuerConfig,
    audience: String,
    algorithms: Vec<Algorithm>,
    keys: RwLock<KeySet>,
    /// When keys were last looked up because of an unknown `kid`.
    last_unknown_kid_refresh: Mutex<Option<Instant>>,
    client: Option<reqwest::Client>,
}

/// The signing keys of a JWKS: symmetric keys and keys meant for encryption are left out.
fn parse_jwks(text: &str) -> Result<HashMap<String, Key>, String> {
    use jsonwebtoken::jwk::{AlgorithmParameters, PublicKeyUse};
    let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
            || matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
        {
            continue;
        }
        let Some(kid) = &jwk.common.key_id else {
            continue;
        };
        let algorithm = match jwk.common.key_algorithm {
            None => None,
            Some(alg) => match alg.to_string().parse::<Algorithm>() {
                Ok(alg) => Some(alg),
                // A key for something other than signing.
                Err(_) => continue,
            },
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid.clone(), Key { key, algorithm });
        }
    }
    Ok(keys)
}

fn file_stamp(path: &std::path::Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((
        meta.modified().ok()?,
        meta.len(),
        meta.ino(),
        meta.ctime_nsec(),
    ))
}

/// A claim by name: a top-level claim of exactly that name (URL-named claims contain dots),
/// else a dotted path into nested claims (`org.agency`).
fn claim<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if name.is_empty() {
        return None;
    }
    claims
        .get(name)
        .or_else(|| name.split('.').try_fold(claims, |v, part| v.get(part)))
        .filter(|v| !v.is_null())
}

/// A string claim: absent is `None`; present but not a non-empty string refuses the token.
fn claim_str(claims: &Value, name: &str) -> Result<Option<String>, AuthError> {
    match claim(claims, name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(AuthError::Invalid),
    }
}

impl ExternalIssuer {
    /// Checks the configuration and loads the JWKS file (an unreadable file is an error at
    /// start; a JWKS URL is fetched by `refresh`).
    pub fn new(
        config: TrustedIssuerConfig,
        gateway_audience: &str,
        policy_roles: &[String],
    ) -> Result<ExternalIssuer, IssuerError> {
        let name = config.issuer.clone();
        let err = |m: String| IssuerError::Config(name.clone(), m);
        if config.jwks_file.is_none() && config.jwks_url.is_none() {
            return Err(err("needs `jwks_file` or `jwks_url`".into()));
        }
        if let Some(url) = &config.jwks_url {
            let loopback = url.starts_with("http://127.0.0.1")
                || url.starts_with("http://localhost")
                || url.starts_with("http://[::1]");
            if !url.starts_with("https://") && !loopback {
                return Err(err(format!(
                    "`jwks_url` {url} must be https (plain http only on loopback)"
                )));
            }
        }
        if config.roles.is_empty() {
            return Err(err(
                "`roles` must name the roles its tokens may carry".into()
            ));
        }
        if let Some(role) = config.roles.iter().find(|r| !policy_roles.contains(r)) {
            return Err(err(format!(
                "`roles`: `{role}` is not a role of the policy"
            )));
        }
        let mut algorithms = Vec::new();
        for name in &config.algorithms {
            let alg = ASYMMETRIC
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| *a)
                .ok_or_else(|| {
                    err(format!(
                        "algorithm `{name}` is not allowed (asymmetric only: {})",
                        ASYMMETRIC
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            algorithms.push(alg);
        }
        let client = match &config.jwks_url {
            Some(_) => Some(
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| err(format!("HTTP client: {e}")))?,
            ),
            None => None,
        };
        let issuer = ExternalIssuer {
            audience: config
                .audience
                .clone()
                .unwrap_or_else(|| gateway_audience.to_owned()),
            algorithms,
            keys: RwLock::default(),
            last_unknown_kid_refresh: Mutex::default(),
            client,
            config,
        };
        if let Some(path) = &issuer.config.jwks_file {
            if file_stamp(path).is_none() {
                return Err(err(format!("cannot read JWKS file {}", path.display())));
            }
            issuer.reload_file().map_err(err)?;
        }
        Ok(issuer)
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    pub fn config(&self) -> &TrustedIssuerConfig {
        &self.config
    }

    /// Reads the JWKS file again if it changed; Ok(true) when it did. A file that is gone
    /// takes its keys with it (the operator removed the issuer's keys).
    fn reload_file(&self) -> Result<bool, String> {
        let Some(path) = &self.config.jwks_file else {
            return Ok(false);
        };
        let stamp = file_stamp(path);
        if self.read_keys().file_stamp == stamp {
            return Ok(false);
        }
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                let mut set = self.keys.write().unwrap_or_else(|e| e.into_inner());
                set.from_file.clear();
                set.file_stamp = None;
                return Err(format!(
                    "JWKS file {}: {e}; its keys are dropped",
                    path.display()
                ));
            }
        };
        let keys = parse_jwks(&text).map_err(|e| format!("JWKS file {}: {e}", path.display()))?;
        let mut set = self.keys.write().unwrap_or_else(|e| e.into_inner());
        set.from_file = keys;
        set.file_stamp = stamp;
        Ok(true)
    }

    /// Fetches the JWKS URL (if configured) and adds its keys.
    pub async fn refresh(&self) -> Result<(), String> {
        let (Some(url), Some(client)) = (&self.config.jwks_url, &self.client) else {
            return Ok(());
        };
        let text = client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("JWKS URL {url}: {e}"))?
            .text()
            .await
            .map_err(|e| format!("JWKS URL {url}: {e}"))?;
        let keys = parse_jwks(&text).map_err(|e| format!("JWKS URL {url}: {e}"))?;
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .from_url = keys;
        Ok(())
    }

    /// Refreshes every `refresh_minutes` (the first time after one period), for as long as
    /// the process runs.
    pub fn start_refresher(self: &Arc<Self>) {
        if self.config.jwks_url.is_none() {
            return;
        }
        let issuer = self.clone();
        tokio::spawn(async move {
            let period = Duration::from_secs(issuer.config.refresh_minutes.max(1) * 60);
            loop {
                tokio::time::sleep(period).await;
                if let Err(e) = issuer.refresh().await {
                    tracing::error!(issuer = %issuer.config.issuer, error = %e, "cannot refresh JWKS");
                }
            }
        });
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn key(&self, kid: Option<&str>) -> Option<Key> {
        let set = self.read_keys();
        match kid {
            Some(kid) => set.get(kid).cloned(),
            // No `kid`: only an issuer with a single key can be meant.
            None => set.only().cloned(),
        }
    }

    /// A `kid` was not found: look for new keys, unless that was done too recently.
    async fn look_for_new_keys(&self) {
        {
            let mut last = self
                .last_unknown_kid_refresh
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let min = Duration::from_secs(self.config.min_refresh_seconds);
            if last.is_some_and(|t| t.elapsed() < min) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Err(e) = self.refresh().await {
            tracing::error!(issuer = %self.config.issuer, error = %e, "cannot refresh JWKS");
        }
    }

    /// Verifies a token of this issuer and maps it to the gateway's claims.
    pub async fn verify(&self, token: &str, header: &Header) -> Result<Claims, AuthError> {
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid);
        }
        // A changed JWKS file counts at once (a stat per token): a key taken out of it stops
        // verifying with the next request.
        if let Err(e) = self.reload_file() {
            tracing::error!(issuer = %self.config.issuer, error = %e, "cannot reload JWKS file");
        }
        let key = match self.key(header.kid.as_deref()) {
            Some(key) => key,
            None => {
                self.look_for_new_keys().await;
                self.key(header.kid.as_deref()).ok_or(AuthError::Invalid)?
            }
        };
        if key.algorithm.is_some_and(|pinned| pinned != header.alg) {
            return Err(AuthError::Invalid);
        }
        let validation = super::validation(
            header.alg,
            &self.config.issuer,
            &self.audience,
            &["exp", "iss", "aud"],
        );
        let data = jsonwebtoken::decode::<Value>(token, &key.key, &validation)
            .map_err(AuthError::from_jwt)?;
        self.map_claims(token, &data.claims)
    }

    fn map_claims(&self, token: &str, claims: &Value) -> Result<Claims, AuthError> {
        let map = &self.config.claims;
        let role = match claim_str(claims, &map.role)? {
            Some(role) => role,
            // Only a truly absent role claim takes the issuer's single role.
            None if self.config.roles.len() == 1 => self.config.roles[0].clone(),
            None => return Err(AuthError::UnknownRole),
        };
        if !self.config.roles.contains(&role) {
            return Err(AuthError::UnknownRole);
        }
        let agency = match (&self.config.agency, claim_str(claims, &map.agency)?) {
            (Some(fixed), Some(claimed)) if *fixed != claimed => return Err(AuthError::Invalid),
            (Some(fixed), _) => fixed.clone(),
            (None, Some(claimed)) => claimed,
            (None, None) => return Err(AuthError::Invalid),
        };
        let jurisdiction = claim_str(claims, &map.jurisdiction)?.ok_or(AuthError::Invalid)?;
        if !schema::session::is_region_code(&jurisdiction) {
            return Err(AuthError::Invalid);
        }
        let subject = claim_str(claims, &map.subject)?.ok_or(AuthError::Invalid)?;
        let scope = match claim(claims, &map.scope) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or(AuthError::Invalid))
                    .collect::<Result<Vec<_>, _>>()?
                    .join(" "),
            ),
            Some(_) => return Err(AuthError::Invalid),
        };
        // The id names the issuer, so no identity provider's `jti` can pass for a managed
        // token's or another provider's; without a `jti`, the token's own hash stands in.
        let jti = match claim_str(claims, &map.token_id)? {
            Some(jti) => jti,
            None => {
                let digest = Sha256::digest(token.as_bytes());
                digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
            }
        };
        let jti = format!("{}#{jti}", self.config.issuer);
        let number = |name: &str| claims.get(name).and_then(Value::as_i64).unwrap_or(0);
        Ok(Claims {
            iss: self.config.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject,
            exp: number("exp"),
            nbf: number("nbf"),
            iat: number("iat"),
            jti,
            role,
            agency,
            jurisdiction,
            purpose: claim_str(claims, &map.purpose)?,
            scope,
        })
    }
}
