//! Token administration in the schema: `issueToken(input:)` (signed by the gateway's
//! `TokenIssuer`, which holds the keys), `revokeToken(id:)` and `revokeTokensOfAgency(agency:)`
//! (through `tokens`, within the caller's `AccessToken` row rule; each revoked id reaches the
//! gateway's status cache through `TokenRevoked`), as the role's operations allow.

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputObject, InputValue, TypeRef};

use crate::engine::Engine;
use crate::error::QueryError;
use crate::resolve::engine;
use crate::row::Row;
use crate::sql::Sql;
use crate::tokens::AGENCY_CUTOFF_PREFIX;

/// Called with each token id this request revoked, so the gateway's status cache forgets it
/// at once. The gateway puts one into every request's data.
#[derive(Clone)]
pub struct TokenRevoked(pub std::sync::Arc<dyn Fn(&str) + Send + Sync>);

/// Revokes the visible, live tokens among `condition`; returns their ids.
async fn revoke_where(engine: &Engine, condition: Sql) -> Result<Vec<String>, QueryError> {
    let visible = Sql::and(vec![
        condition,
        engine.conditions().rows("AccessToken", "t"),
    ]);
    crate::tokens::revoke_where(&engine.db, visible, &engine.session.subject, &|| {
        engine.count_statement()
    })
    .await
}

async fn cut_off_agency(engine: &Engine, agency: &str) -> Result<(), QueryError> {
    crate::tokens::cut_off_agency(&engine.db, agency, &engine.session.subject, &|| {
        engine.count_statement()
    })
    .await
}

fn forget_all(ctx: &async_graphql::dynamic::ResolverContext<'_>, ids: &[String]) {
    if let Some(hook) = ctx.data_opt::<TokenRevoked>() {
        for id in ids {
            (hook.0)(id);
        }
    }
}

/// `revokeToken(id:)` and `revokeTokensOfAgency(agency:)`, as the role's operations allow.
pub fn revocation_fields(operations: &std::collections::BTreeSet<&'static str>) -> Vec<Field> {
    let mut fields = Vec::new();
    if operations.contains("revokeToken") {
        fields.push(
            Field::new("revokeToken", TypeRef::named_nn("AccessToken"), |ctx| {
                FieldFuture::new(async move {
                    let engine = engine(&ctx)?;
                    let id = ctx.args.try_get("id")?.string()?.to_owned();
                    let result: Result<Row, QueryError> = async {
                        let mut condition = Sql::new("t.id = ");
                        condition.bind(id.clone());
                        let revoked = revoke_where(&engine, condition.clone()).await?;
                        forget_all(&ctx, &revoked);
                        // Revoking a revoked token answers with it, unchanged.
                        engine
                            .fetch("AccessToken", None, None, condition, Sql::default())
                            .await?
                            .into_iter()
                            .next()
                            .map(|(_, row)| row)
                            .ok_or_else(|| QueryError::NotFound(format!("no AccessToken with id `{id}`")))
                    }
                    .await;
                    result
                        .map(|row| Some(FieldValue::owned_any(row)))
                        .map_err(|e| e.to_graphql(&engine.request_id))
                })
            })
            .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
            .description("Revokes a token you may see; it is refused from the next request on, on every gateway process within a second."),
        );
    }
    if operations.contains("revokeTokensOfAgency") {
        fields.push(
            Field::new(
                "revokeTokensOfAgency",
                TypeRef::named_nn(TypeRef::INT),
                |ctx| {
                    FieldFuture::new(async move {
                        let engine = engine(&ctx)?;
                        let agency = ctx.args.try_get("agency")?.string()?.to_owned();
                        let mut condition = Sql::new("t.agency = ");
                        condition.bind(agency.clone());
                        let revoked = async {
                            let revoked = revoke_where(&engine, condition).await?;
                            cut_off_agency(&engine, &agency).await?;
                            Ok::<_, QueryError>(revoked)
                        }
                        .await
                        .map_err(|e| e.to_graphql(&engine.request_id))?;
                        forget_all(&ctx, &revoked);
                        // The cut-off reaches this process's cache at once too.
                        forget_all(&ctx, &[format!("{AGENCY_CUTOFF_PREFIX}{agency}")]);
                        Ok(Some(FieldValue::value(revoked.len() as i32)))
                    })
                },
            )
            .argument(InputValue::new(
                "agency",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .description("Revokes every live token of an agency (answers how many stored tokens), and cuts the agency off: every token of it issued until now is refused, also tokens that are not stored (development tokens, identity providers' tokens)."),
        );
    }
    fields
}

/// What `issueToken` asks for.
#[derive(Clone, Debug)]
pub struct IssueTokenInput {
    pub role: String,
    pub agency: String,
    pub jurisdiction: String,
    pub subject: String,
    /// `30m`, `8h`, `90d`.
    pub ttl: String,
    pub purpose: Option<String>,
    pub note: Option<String>,
    pub issued_by: String,
    /// Narrowing scopes; empty: the whole role.
    pub scopes: Vec<String>,
}

/// Signs and stores tokens for `issueToken`; the gateway provides it (the schema crate holds
/// no keys).
#[async_trait::async_trait]
pub trait TokenIssuer: Send + Sync {
    /// The token (shown once) and its id.
    async fn issue(&self, input: IssueTokenInput) -> Result<(String, String), QueryError>;
}

/// The request data through which `issueToken` reaches the gateway's issuer.
#[derive(Clone)]
pub struct Issuer(pub std::sync::Arc<dyn TokenIssuer>);

struct Issued {
    token: String,
    row: Row,
}

/// `issueToken(input:)` and its types.
pub fn issue_token_field() -> (Field, InputObject, async_graphql::dynamic::Object) {
    let input = InputObject::new("IssueTokenInput")
        .field(InputValue::new("role", TypeRef::named_nn(TypeRef::STRING)))
        .field(InputValue::new(
            "agency",
            TypeRef::named_nn(TypeRef::STRING),
        ))
        .field(InputValue::new(
            "jurisdiction",
            TypeRef::named_nn("RegionCode"),
        ))
        .field(InputValue::new(
            "subject",
            TypeRef::named_nn(TypeRef::STRING),
        ))
        .field(
            InputValue::new("ttl", TypeRef::named_nn(TypeRef::STRING))
                .description("Lifetime: 30m, 8h, 90d; at most the role's maximum."),
        )
        .field(InputValue::new("purpose", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("note", TypeRef::named(TypeRef::STRING)))
        .field(
            InputValue::new("scopes", TypeRef::named_nn_list(TypeRef::STRING)).description(
                "Narrow the role: type names (`Incident`, `Shelter:read`), operations, statistics fields. Only what the role has.",
            ),
        );
    let field = Field::new("issueToken", TypeRef::named_nn("IssuedToken"), |ctx| {
        FieldFuture::new(async move {
            let engine = engine(&ctx)?;
            let issuer = ctx.data::<Issuer>()?.clone();
            let args = ctx.args.try_get("input")?.object()?;
            let text = |name: &str| -> async_graphql::Result<String> {
                Ok(args.try_get(name)?.string()?.to_owned())
            };
            let optional = |name: &str| {
                args.get(name)
                    .filter(|v| !v.is_null())
                    .and_then(|v| v.string().ok().map(str::to_owned))
            };
            let input = IssueTokenInput {
                role: text("role")?,
                agency: text("agency")?,
                jurisdiction: text("jurisdiction")?,
                subject: text("subject")?,
                ttl: text("ttl")?,
                purpose: optional("purpose"),
                note: optional("note"),
                issued_by: engine.session.subject.clone(),
                scopes: match args.get("scopes").filter(|v| !v.is_null()) {
                    Some(list) => list
                        .list()?
                        .iter()
                        .map(|v| v.string().map(str::to_owned))
                        .collect::<Result<_, _>>()?,
                    None => Vec::new(),
                },
            };
            let result: Result<Issued, QueryError> = async {
                let (token, id) = issuer.0.issue(input).await?;
                let row = engine
                    .fetch_by_id("AccessToken", &id)
                    .await?
                    .ok_or_else(|| QueryError::Internal("an issued token vanished".into()))?;
                Ok(Issued { token, row })
            }
            .await;
            result
                .map(|issued| Some(FieldValue::owned_any(issued)))
                .map_err(|e| e.to_graphql(&engine.request_id))
        })
    })
    .argument(InputValue::new(
        "input",
        TypeRef::named_nn("IssueTokenInput"),
    ))
    .description(
        "Issues a managed token. Its value is in this answer only; it is never shown again.",
    );
    let object = async_graphql::dynamic::Object::new("IssuedToken")
        .field(Field::new(
            "token",
            TypeRef::named_nn(TypeRef::STRING),
            |ctx| {
                FieldFuture::new(async move {
                    let issued = ctx.parent_value.try_downcast_ref::<Issued>()?;
                    Ok(Some(FieldValue::value(issued.token.clone())))
                })
            },
        ))
        .field(Field::new(
            "accessToken",
            TypeRef::named_nn("AccessToken"),
            |ctx| {
                FieldFuture::new(async move {
                    let issued = ctx.parent_value.try_downcast_ref::<Issued>()?;
                    Ok(Some(FieldValue::owned_any(issued.row.clone())))
                })
            },
        ));
    (field, input, object)
}
