//! Managed access tokens: issue (stored, shown once), list and revoke, and the check every
//! request makes that its token has not been revoked.
//!
//! The check reads the token's row, caching the answer for at most `STATUS_TTL`, so a
//! revocation made by any gateway process sharing the database is honoured within that time,
//! and one made by this process at once (it clears the cache). If the status cannot be read,
//! the token is refused rather than accepted unchecked. `lastUsedAt` is kept in memory and
//! written in batches, so requests cause no write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entities::access_token;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};

use crate::auth::{AuthError, Authenticator, Claims};

/// The agency code of the gateway's own administration: what administrators' (and routers')
/// tokens name.
pub const ADMIN_AGENCY: &str = "PORA-ADMIN";

/// How long a token's status is trusted without asking the database again.
pub const STATUS_TTL: Duration = Duration::from_millis(500);
/// How often `lastUsedAt` is written.
pub const LAST_USED_FLUSH: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    #[error("{0}")]
    ScopeNotInRole(String),
    #[error("`{0}` is not a region code")]
    BadJurisdiction(String),
    #[error("{0}")]
    WrongAgency(String),
    #[error("a {role} token may live at most {max_hours} h; {asked_hours} h was asked")]
    TooLong {
        role: String,
        max_hours: i64,
        asked_hours: i64,
    },
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("signing: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// What an administrator asks for.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    pub role: String,
    pub agency: String,
    pub jurisdiction: String,
    pub subject: String,
    pub ttl: chrono::Duration,
    pub purpose: Option<String>,
    pub note: Option<String>,
    pub issued_by: Option<String>,
    /// Narrowing scopes (docs/tokens.md); empty: the whole role.
    pub scopes: Vec<String>,
}

/// What may be issued: the roles, and each role's view to check scopes against.
#[derive(Clone, Debug)]
pub struct Issuable {
    pub roles: Vec<String>,
    pub policy: schema::Policy,
}

impl Issuable {
    /// The scopes of a request, sorted and without duplicates, if they all lie within `role`.
    fn scopes(&self, role: &str, scopes: &[String]) -> Result<Vec<String>, TokenError> {
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Ok(scopes);
        }
        let view = self
            .policy
            .role(role)
            .ok_or_else(|| TokenError::ScopeNotInRole(format!("a {role} token takes no scopes")))?;
        view.narrowed(&scopes)
            .map_err(|e| TokenError::ScopeNotInRole(e.to_string()))?;
        Ok(scopes)
    }
}

/// What a token's row says.
#[derive(Clone, Copy, Debug)]
struct TokenStatus {
    stored: bool,
    revoked: bool,
}

/// Agency → tokens issued at or before this Unix second are refused.
type Cutoffs = Arc<HashMap<String, i64>>;

/// Token statuses cached before stale ones are dropped.
const MAX_CACHED_STATUSES: usize = 10_000;

pub struct TokenStore {
    db: DatabaseConnection,
    status: Mutex<HashMap<String, (Instant, TokenStatus)>>,
    /// Agency cut-offs (agency → tokens issued at or before this Unix second are refused),
    /// and when they were read.
    cutoffs: Mutex<Option<(Instant, Cutoffs)>>,
    used: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl TokenStore {
    pub fn new(db: DatabaseConnection) -> Arc<TokenStore> {
        Arc::new(TokenStore {
            db,
            status: Mutex::default(),
            cutoffs: Mutex::default(),
            used: Mutex::default(),
        })
    }

    /// The agency cut-offs, read again when older than `STATUS_TTL`.
    async fn cutoffs(&self) -> Result<Cutoffs, AuthError> {
        if let Some((at, cutoffs)) = &*self.cutoffs.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < STATUS_TTL
        {
            return Ok(cutoffs.clone());
        }
        let rows = entities::agency_cutoff::Entity::find()
            .all(&self.db)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "agency cut-offs unavailable");
                AuthError::StatusUnavailable
            })?;
        let cutoffs: Cutoffs = Arc::new(
            rows.into_iter()
                .map(|r| (r.agency, r.revoked_before.timestamp()))
                .collect(),
        );
        *self.cutoffs.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), cutoffs.clone()));
        Ok(cutoffs)
    }

    /// Writes `lastUsedAt` every `LAST_USED_FLUSH`, for as long as the store lives.
    pub fn start_flusher(self: &Arc<Self>) {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LAST_USED_FLUSH);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(store) = store.upgrade() else { break };
                if let Err(e) = store.flush_last_used().await {
                    tracing::warn!(error = %e, "could not write lastUsedAt");
                }
            }
        });
    }

    pub async fn flush_last_used(&self) -> Result<(), DbErr> {
        let used: Vec<(String, DateTime<Utc>)> =
            std::mem::take(&mut *self.used.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        for (id, at) in used {
            access_token::Entity::update_many()
                .col_expr(
                    access_token::Column::LastUsedAt,
                    sea_orm::sea_query::Expr::value(at),
                )
                .filter(access_token::Column::Id.eq(id))
                .exec(&self.db)
                .await?;
        }
        Ok(())
    }

    /// Refuses a revoked token, a token of a cut-off agency issued before the cut-off, and any
    /// token whose status cannot be read.
    pub async fn check(
        &self,
        token_id: &str,
        agency: &str,
        issued_at: i64,
    ) -> Result<(), AuthError> {
        if self
            .cutoffs()
            .await?
            .get(agency)
            .is_some_and(|before| issued_at <= *before)
        {
            return Err(AuthError::Revoked);
        }
        let cached = {
            let status = self.status.lock().unwrap_or_else(|e| e.into_inner());
            status
                .get(token_id)
                .filter(|(at, _)| at.elapsed() < STATUS_TTL)
                .map(|(_, known)| *known)
        };
        let known = match cached {
            Some(known) => known,
            None => {
                let row = access_token::Entity::find_by_id(token_id.to_owned())
                    .one(&self.db)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "token status unavailable");
                        AuthError::StatusUnavailable
                    })?;
                let known = TokenStatus {
                    stored: row.is_some(),
                    revoked: row.is_some_and(|r| r.revoked_at.is_some()),
                };
                let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
                if status.len() >= MAX_CACHED_STATUSES {
                    // Only fresh answers are of use: drop the stale ones.
                    status.retain(|_, (at, _)| at.elapsed() < STATUS_TTL);
                }
                status.insert(token_id.to_owned(), (Instant::now(), known));
                known
            }
        };
        if known.revoked {
            return Err(AuthError::Revoked);
        }
        // Only stored tokens have a `lastUsedAt` to keep.
        if known.stored {
            self.used
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(token_id.to_owned(), Utc::now());
        }
        Ok(())
    }

    /// Issues and stores a token; returns it (shown once) with its stored record.
    pub async fn issue(
        &self,
        auth: &Authenticator,
        request: IssueRequest,
        max_lifetime: chrono::Duration,
        allowed: &Issuable,
    ) -> Result<(String, access_token::Model), TokenError> {
        if !allowed.roles.contains(&request.role) {
            return Err(TokenError::UnknownRole(request.role));
        }
        let scopes = allowed.scopes(&request.role, &request.scopes)?;
        if !schema::session::is_region_code(&request.jurisdiction) {
            return Err(TokenError::BadJurisdiction(request.jurisdiction));
        }
        self.check_agency(&request.role, &request.agency, allowed)
            .await?;
        if request.ttl > max_lifetime || request.ttl <= chrono::Duration::zero() {
            return Err(TokenError::TooLong {
                role: request.role,
                max_hours: max_lifetime.num_hours(),
                asked_hours: request.ttl.num_hours(),
            });
        }
        let now = Utc::now();
        let claims = Claims {
            iss: auth.issuer().to_owned(),
            aud: auth.audience().to_owned(),
            sub: request.subject.clone(),
            exp: (now + request.ttl).timestamp(),
            nbf: now.timestamp(),
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            role: request.role.clone(),
            agency: request.agency.clone(),
            jurisdiction: request.jurisdiction.clone(),
            purpose: request.purpose.clone(),
            scope: Claims::scope_of(&request.role, &scopes),
        };
        let model = access_token::Model {
            id: claims.jti.clone(),
            subject: request.subject,
            agency: request.agency,
            role: request.role,
            jurisdiction: request.jurisdiction,
            scopes: serde_json::to_string(&scopes).unwrap_or_else(|_| "[]".to_owned()),
            purpose: request.purpose,
            note: request.note,
            issued_by: request.issued_by,
            issued_at: now,
            expires_at: now + request.ttl,
            revoked_at: None,
            revoked_by: None,
            last_used_at: None,
            created_at: now,
            updated_at: now,
        };
        access_token::Entity::insert(access_token::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db)
            .await?;
        Ok((auth.sign(&claims)?, model))
    }

    /// The agency of a token must exist and fit its role: an agency of the role's kind
    /// (`agency_kind` in the policy), or for a role without one (administrators, routers) the
    /// gateway's own administration, `ADMIN_AGENCY`.
    async fn check_agency(
        &self,
        role: &str,
        agency: &str,
        allowed: &Issuable,
    ) -> Result<(), TokenError> {
        let kind = allowed.policy.role(role).and_then(|r| r.agency_kind);
        let Some(kind) = kind else {
            return if agency == ADMIN_AGENCY {
                Ok(())
            } else {
                Err(TokenError::WrongAgency(format!(
                    "a {role} token names the gateway's administration, {ADMIN_AGENCY}, not `{agency}`"
                )))
            };
        };
        let found = entities::agency::Entity::find()
            .filter(entities::agency::Column::Code.eq(agency))
            .one(&self.db)
            .await?;
        match found {
            None => Err(TokenError::WrongAgency(format!("no agency `{agency}`"))),
            Some(a) if a.kind != kind => Err(TokenError::WrongAgency(format!(
                "agency `{agency}` is {}; a {role} token needs an agency of kind {kind}",
                a.kind
            ))),
            Some(_) => Ok(()),
        }
    }

    /// Revokes one token; false when there is no such token or it was revoked already.
    pub async fn revoke(&self, id: &str, by: &str) -> Result<bool, DbErr> {
        let mut condition = schema::sql::Sql::new("t.id = ");
        condition.bind(id.to_owned());
        let revoked = schema::tokens::revoke_where(&self.db, condition, by, &|| {})
            .await
            .map_err(db_error)?;
        self.forget(id);
        Ok(!revoked.is_empty())
    }

    /// Revokes every live token of an agency and cuts the agency off (every token of it issued
    /// until now is refused, stored or not), as `revokeTokensOfAgency` does; returns how many
    /// stored tokens were revoked.
    pub async fn revoke_agency(&self, agency: &str, by: &str) -> Result<u64, DbErr> {
        let mut condition = schema::sql::Sql::new("t.agency = ");
        condition.bind(agency.to_owned());
        let revoked = schema::tokens::revoke_where(&self.db, condition, by, &|| {})
            .await
            .map_err(db_error)?;
        schema::tokens::cut_off_agency(&self.db, agency, by, &|| {})
            .await
            .map_err(db_error)?;
        for id in &revoked {
            self.forget(id);
        }
        self.forget(&format!("{}{agency}", schema::tokens::AGENCY_CUTOFF_PREFIX));
        Ok(revoked.len() as u64)
    }

    /// Tokens, newest first, optionally of one agency.
    pub async fn list(&self, agency: Option<&str>) -> Result<Vec<access_token::Model>, DbErr> {
        let mut query = access_token::Entity::find().order_by_desc(access_token::Column::IssuedAt);
        if let Some(agency) = agency {
            query = query.filter(access_token::Column::Agency.eq(agency));
        }
        query.all(&self.db).await
    }

    /// Drops the cached status of `id`, so this process sees a change at once.
    /// Drops the cached status of `id` (and, for an agency cut-off, the cached cut-offs), so
    /// this process sees a change at once.
    pub fn forget(&self, id: &str) {
        if id.starts_with(schema::tokens::AGENCY_CUTOFF_PREFIX) {
            *self.cutoffs.lock().unwrap_or_else(|e| e.into_inner()) = None;
            return;
        }
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// A revocation's error as the store reports it.
fn db_error(e: schema::QueryError) -> DbErr {
    match e {
        schema::QueryError::Database(e) | schema::QueryError::Unavailable(e) => e,
        other => DbErr::Custom(other.to_string()),
    }
}

/// `8h`, `90d`, `30m` → a duration; `None` for anything else (or a lifetime out of range).
pub fn parse_ttl(text: &str) -> Option<chrono::Duration> {
    let unit = text.chars().last()?;
    let number = &text[..text.len() - unit.len_utf8()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = number.parse().ok()?;
    match unit {
        'm' => chrono::Duration::try_minutes(n),
        'h' => chrono::Duration::try_hours(n),
        'd' => chrono::Duration::try_days(n),
        _ => None,
    }
}

/// `issueToken` over GraphQL: the schema's `TokenIssuer`, backed by the store and the key.
pub struct GraphqlIssuer {
    pub store: Arc<TokenStore>,
    pub auth: Arc<Authenticator>,
    pub config: crate::config::Config,
    pub allowed: Issuable,
}

#[async_trait::async_trait]
impl schema::token_admin::TokenIssuer for GraphqlIssuer {
    async fn issue(
        &self,
        input: schema::token_admin::IssueTokenInput,
    ) -> Result<(String, String), schema::QueryError> {
        use schema::QueryError;
        let ttl = parse_ttl(&input.ttl).ok_or_else(|| {
            QueryError::BadInput(format!(
                "`{}` is not a lifetime like 30m, 8h or 90d",
                input.ttl
            ))
        })?;
        let max = self.config.max_token_lifetime(&input.role);
        let request = IssueRequest {
            role: input.role,
            agency: input.agency,
            jurisdiction: input.jurisdiction,
            subject: input.subject,
            ttl,
            purpose: input.purpose,
            note: input.note,
            issued_by: Some(input.issued_by),
            scopes: input.scopes,
        };
        match self
            .store
            .issue(&self.auth, request, max, &self.allowed)
            .await
        {
            Ok((token, model)) => Ok((token, model.id)),
            Err(e @ TokenError::TooLong { .. }) => Err(QueryError::Refused {
                code: schema::error_code::ErrorCode::TokenLifetimeTooLong,
                message: e.to_string(),
            }),
            Err(e @ TokenError::UnknownRole(_)) => Err(QueryError::Refused {
                code: schema::error_code::ErrorCode::TokenRoleUnknown,
                message: e.to_string(),
            }),
            Err(e @ TokenError::ScopeNotInRole(_)) => Err(QueryError::Refused {
                code: schema::error_code::ErrorCode::TokenScopeNotInRole,
                message: e.to_string(),
            }),
            Err(e @ (TokenError::BadJurisdiction(_) | TokenError::WrongAgency(_))) => {
                Err(QueryError::BadInput(e.to_string()))
            }
            Err(TokenError::Database(e)) => Err(QueryError::from(e)),
            Err(e @ TokenError::Signing(_)) => Err(QueryError::Internal(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_ttl("8h"), Some(chrono::Duration::hours(8)));
        assert_eq!(parse_ttl("90d"), Some(chrono::Duration::days(90)));
        assert_eq!(parse_ttl("30m"), Some(chrono::Duration::minutes(30)));
        assert_eq!(parse_ttl("8"), None);
        assert_eq!(parse_ttl("h"), None);
        assert_eq!(parse_ttl(""), None);
        assert_eq!(parse_ttl("1é"), None);
        assert_eq!(parse_ttl("é"), None);
        assert_eq!(parse_ttl("-5h"), None);
        assert_eq!(parse_ttl("999999999999999d"), None);
    }
}
