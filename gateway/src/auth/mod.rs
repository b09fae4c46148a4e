//! Authentication: a Bearer JWT becomes a `Session`, or a typed `AuthError`.
//!
//! Tokens are EdDSA (Ed25519) only: the algorithm is pinned, so `alg: none`, HS256 signed with
//! the public key and every other algorithm are refused before any key is used.

pub mod external;
pub mod keys;

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use schema::error_code::ErrorCode;
use serde::{Deserialize, Serialize};

use schema::Session;
use schema::session::is_region_code;

pub use keys::SigningKeys;

/// Largest clock difference tolerated between issuer and gateway.
pub const LEEWAY_SECONDS: u64 = 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub role: String,
    pub agency: String,
    pub jurisdiction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// OAuth 2 `scope` (space-separated). The gateway's tokens carry `role:<role>` here, the
    /// scope a federation router checks against `@requiresScopes`; the gateway itself reads the
    /// role from `role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Claims {
    /// The `scope` claim of a token of `role` narrowed to `scopes`: `role:<role>` first (what
    /// routers check, see `schema::federation`), then the narrowing scopes.
    pub fn scope_of(role: &str, scopes: &[String]) -> Option<String> {
        let mut claim = format!("{}{role}", schema::federation::ROLE_SCOPE_PREFIX);
        for scope in scopes {
            claim.push(' ');
            claim.push_str(scope);
        }
        Some(claim)
    }

    /// The narrowing scopes of the `scope` claim, sorted and without duplicates, without the
    /// `role:` entry of the token's own role.
    pub fn narrowing_scopes(&self) -> Vec<String> {
        let own = format!("{}{}", schema::federation::ROLE_SCOPE_PREFIX, self.role);
        // A `role:` entry for another role stays: no role has a scope of that name, so the
        // narrowing refuses it (after the request's caller is known to the audit log).
        let mut scopes: Vec<String> = self
            .scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .filter(|entry| *entry != own)
            .map(str::to_owned)
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }
}

/// The role of a federation router's own token: it may read the composed SDL and nothing else,
/// and only subjects listed in `[federation] routers` hold it.
pub const ROUTER_ROLE: &str = "router";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("a Bearer token is required")]
    Missing,
    #[error("the token is malformed or its signature is not valid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by an issuer this gateway does not trust")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token names a role this gateway does not know")]
    UnknownRole,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token's status cannot be checked right now; try again later")]
    StatusUnavailable,
    #[error("the router token (x-pora-router-token) is not a valid router token")]
    RouterInvalid,
    #[error("the token's scopes do not fit its role: {0}")]
    ScopeNotInRole(String),
}

/// The checks every token gets, whoever issued it: one algorithm, the issuer, the audience,
/// `nbf` and the `required` claims, with `LEEWAY_SECONDS` of clock skew.
fn validation(alg: Algorithm, issuer: &str, audience: &str, required: &[&str]) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(required);
    validation
}

impl AuthError {
    /// The refusal for a token that failed `jsonwebtoken`'s checks.
    fn from_jwt(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            _ => AuthError::Invalid,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Missing => ErrorCode::TokenMissing,
            AuthError::Invalid => ErrorCode::TokenInvalid,
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::NotYetValid => ErrorCode::TokenNotYetValid,
            AuthError::WrongIssuer => ErrorCode::TokenIssuerInvalid,
            AuthError::WrongAudience => ErrorCode::TokenAudienceInvalid,
            AuthError::UnknownRole => ErrorCode::TokenRoleUnknown,
            AuthError::Revoked => ErrorCode::TokenRevoked,
            AuthError::StatusUnavailable => ErrorCode::TokenStatusUnavailable,
            AuthError::RouterInvalid => ErrorCode::RouterTokenInvalid,
            AuthError::ScopeNotInRole(_) => ErrorCode::TokenScopeNotInRole,
        }
    }
}

/// Where to look again for keys when a token names an unknown `kid` (a rotation by another
/// process). Keys are parsed again only when the key files changed.
struct KeySource {
    dir: std::path::PathBuf,
    retire_after: chrono::Duration,
}

/// Tokens of this gateway's own keys already verified, by their exact text: a signature check
/// (Ed25519, about 50 µs) and two JSON decodes per request become a lookup. A hit is checked
/// again for everything that changes with time: its key must still be in the key set (a retired
/// key ends its tokens) and `nbf`/`exp` must hold now, with the same leeway as a first check.
/// Revocation is not cached here: it is checked per request after authentication.
struct VerifiedTokens {
    entries: std::sync::Mutex<std::collections::HashMap<Box<str>, Verified>>,
}

/// A verified token's key id and claims.
type Verified = (Option<String>, Claims);

/// Most tokens `VerifiedTokens` holds; when full, the expired ones go, or all of them.
const VERIFIED_TOKENS: usize = 4096;

impl VerifiedTokens {
    fn new() -> Self {
        VerifiedTokens {
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The claims of `token` if it was verified before and still holds at `now` under `keys`.
    fn get(&self, token: &str, keys: &SigningKeys, now: i64) -> Option<Result<Claims, AuthError>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (kid, claims) = entries.get(token)?;
        // Its key was retired: verify from scratch (which refuses it).
        keys.decoding_key(kid.as_deref())?;
        let leeway = LEEWAY_SECONDS as i64;
        Some(if claims.exp < now - leeway {
            Err(AuthError::Expired)
        } else if claims.nbf > now + leeway {
            Err(AuthError::NotYetValid)
        } else {
            Ok(claims.clone())
        })
    }

    fn insert(&self, token: &str, kid: Option<String>, claims: &Claims, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= VERIFIED_TOKENS {
            let leeway = LEEWAY_SECONDS as i64;
            entries.retain(|_, (_, c)| c.exp >= now - leeway);
            if entries.len() >= VERIFIED_TOKENS {
                entries.clear();
            }
        }
        entries.insert(token.into(), (kid, claims.clone()));
    }
}

/// Verifies and issues tokens.
pub struct Authenticator {
    verified: VerifiedTokens,
    keys: std::sync::RwLock<std::sync::Arc<SigningKeys>>,
    source: Option<KeySource>,
    validation: Validation,
    issuer: String,
    audience: String,
    known_roles: Vec<String>,
    /// Subjects that may hold `ROUTER_ROLE` tokens.
    router_subjects: Vec<String>,
    /// Identity providers whose tokens are accepted too.
    trusted: Vec<std::sync::Arc<external::ExternalIssuer>>,
}

impl Authenticator {
    pub fn new(keys: SigningKeys, issuer: &str, audience: &str, known_roles: Vec<String>) -> Self {
        let validation = validation(
            Algorithm::EdDSA,
            issuer,
            audience,
            &["exp", "nbf", "iat", "iss", "aud", "sub"],
        );
        Authenticator {
            verified: VerifiedTokens::new(),
            keys: std::sync::RwLock::new(std::sync::Arc::new(keys)),
            source: None,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            known_roles,
            router_subjects: Vec::new(),
            trusted: Vec::new(),
        }
    }

    /// Accepts tokens of these external issuers as well.
    pub fn with_trusted_issuers(
        mut self,
        issuers: Vec<std::sync::Arc<external::ExternalIssuer>>,
    ) -> Self {
        self.trusted = issuers;
        self
    }

    /// Accepts `ROUTER_ROLE` tokens of these subjects (none by default).
    pub fn with_routers(mut self, subjects: &[String]) -> Self {
        self.router_subjects = subjects.to_vec();
        self
    }

    /// Reloads the keys from `dir` when a token names an unknown `kid` and the key files
    /// changed, so a rotation made elsewhere is picked up without a restart.
    pub fn reloading_from(mut self, dir: &std::path::Path, retire_after: chrono::Duration) -> Self {
        self.source = Some(KeySource {
            dir: dir.to_owned(),
            retire_after,
        });
        self
    }

    /// The current key set.
    pub fn keys(&self) -> std::sync::Arc<SigningKeys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Loads the keys again if the key files changed; true when it did.
    pub fn reload(&self) -> bool {
        let Some(source) = &self.source else {
            return false;
        };
        if self.keys().is_current(&source.dir) {
            return false;
        }
        match SigningKeys::load(&source.dir, Some(source.retire_after)) {
            Ok(keys) => {
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(keys);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reload signing keys");
                false
            }
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The session of an `Authorization` header value.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Session, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::Missing)?
            .trim();
        let claims = self.verify_any(token).await?;
        let scopes = claims.narrowing_scopes();
        Ok(Session {
            scopes,
            issued_at: claims.iat,
            issuer: claims.iss,
            subject: claims.sub,
            role: claims.role,
            agency: claims.agency,
            jurisdiction: claims.jurisdiction,
            token_id: claims.jti,
            purpose: claims.purpose,
        })
    }

    /// Verifies a token of this gateway or of a trusted issuer, chosen by its `iss`. A token
    /// of any other issuer is refused.
    pub async fn verify_any(&self, token: &str) -> Result<Claims, AuthError> {
        #[derive(Deserialize)]
        struct Issuer {
            iss: Option<String>,
        }
        // A token of this gateway verified before: no decoding at all.
        if let Some(known) = self
            .verified
            .get(token, &self.keys(), Utc::now().timestamp())
        {
            return known;
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        // Unverified: only to pick the keys that will verify it.
        let issuer = jsonwebtoken::dangerous::insecure_decode::<Issuer>(token)
            .map_err(|_| AuthError::Invalid)?
            .claims
            .iss;
        match issuer.as_deref() {
            Some(iss) if iss == self.issuer => self.verify(token),
            Some(iss) => match self.trusted.iter().find(|t| t.issuer() == iss) {
                Some(trusted) => trusted.verify(token, &header).await,
                None => Err(AuthError::WrongIssuer),
            },
            None => Err(AuthError::Invalid),
        }
    }

    /// Verifies a token signed by this gateway's keys.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify_at(token, Utc::now().timestamp())
    }

    /// `verify` at the time `now` (seconds since the epoch) for what a verified token is
    /// checked against again (`VerifiedTokens`).
    fn verify_at(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        if let Some(known) = self.verified.get(token, &self.keys(), now) {
            return known;
        }
        let (claims, kid) = self.verify_signed(token)?;
        self.verified.insert(token, kid, &claims, now);
        Ok(claims)
    }

    /// The full check of a token signed by this gateway's keys; its claims and key id.
    fn verify_signed(&self, token: &str) -> Result<(Claims, Option<String>), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Invalid);
        }
        let mut keys = self.keys();
        if keys.decoding_key(header.kid.as_deref()).is_none() && self.reload() {
            keys = self.keys();
        }
        let key = keys
            .decoding_key(header.kid.as_deref())
            .ok_or(AuthError::Invalid)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(AuthError::from_jwt)?;
        let claims = data.claims;
        if claims.iat > Utc::now().timestamp() + LEEWAY_SECONDS as i64 {
            return Err(AuthError::NotYetValid);
        }
        let router = claims.role == ROUTER_ROLE && self.router_subjects.contains(&claims.sub);
        if !router && !self.known_roles.contains(&claims.role) {
            return Err(AuthError::UnknownRole);
        }
        if claims.sub.is_empty()
            || claims.agency.is_empty()
            || claims.jti.is_empty()
            || !is_region_code(&claims.jurisdiction)
        {
            return Err(AuthError::Invalid);
        }
        Ok((claims, header.kid))
    }

    /// Signs a development token: role, agency and jurisdiction as given, valid for `ttl`.
    pub fn issue(
        &self,
        role: &str,
        agency: &str,
        jurisdiction: &str,
        subject: &str,
        ttl: chrono::Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.to_owned(),
            exp: now + ttl.num_seconds(),
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            role: role.to_owned(),
            agency: agency.to_owned(),
            jurisdiction: jurisdiction.to_owned(),
            purpose: None,
            scope: Claims::scope_of(role, &[]),
        };
        self.sign(&claims)
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        let keys = self.keys();
        header.kid = Some(keys.kid().to_owned());
        jsonwebtoken::encode(&header, claims, keys.encoding_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator() -> Authenticator {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let keys = SigningKeys::from_key(&key).expect("keys");
        Authenticator::new(keys, "pora", "pora-api", vec!["police".to_owned()])
    }

    /// A token verified once is served from `VerifiedTokens`, and still refused once it
    /// expires, exactly when a first check would refuse it.
    #[test]
    fn a_verified_token_still_expires() {
        let auth = authenticator();
        let token = auth
            .issue("police", "POLDA", "31", "s", chrono::Duration::seconds(600))
            .expect("token");
        let now = Utc::now().timestamp();
        let first = auth.verify_at(&token, now).expect("valid");
        assert_eq!(auth.verified.entries.lock().unwrap().len(), 1, "cached");
        let again = auth.verify_at(&token, now + 1).expect("still valid");
        assert_eq!(again.jti, first.jti);
        let last_valid = first.exp + LEEWAY_SECONDS as i64;
        assert!(auth.verify_at(&token, last_valid).is_ok());
        assert!(matches!(
            auth.verify_at(&token, last_valid + 1),
            Err(AuthError::Expired)
        ));
        // The uncached check agrees at that moment.
        let fresh = authenticator();
        assert!(
            matches!(fresh.verify_signed(&token), Err(AuthError::Invalid)),
            "another key set never accepts it"
        );
    }

    /// A cached token whose key leaves the key set (retired, or replaced) is refused.
    #[tokio::test]
    async fn a_verified_token_ends_with_its_key() {
        let auth = authenticator();
        let token = auth
            .issue("police", "POLDA", "31", "s", chrono::Duration::seconds(600))
            .expect("token");
        auth.verify(&token).expect("valid");
        let other = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        *auth.keys.write().unwrap() =
            std::sync::Arc::new(SigningKeys::from_key(&other).expect("keys"));
        assert!(matches!(auth.verify(&token), Err(AuthError::Invalid)));
        assert!(matches!(
            auth.verify_any(&token).await,
            Err(AuthError::Invalid)
        ));
    }

    /// Only what verified is kept, and the cache stays bounded.
    #[test]
    fn the_cache_keeps_only_verified_tokens_and_is_bounded() {
        let auth = authenticator();
        let token = auth
            .issue("police", "POLDA", "31", "s", chrono::Duration::seconds(600))
            .expect("token");
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(auth.verify(&forged).is_err());
        assert!(auth.verified.entries.lock().unwrap().is_empty());
        let claims = auth.verify(&token).expect("valid");
        let now = Utc::now().timestamp();
        for i in 0..VERIFIED_TOKENS + 10 {
            auth.verified.insert(&format!("t{i}"), None, &claims, now);
            assert!(auth.verified.entries.lock().unwrap().len() <= VERIFIED_TOKENS);
        }
    }
}
