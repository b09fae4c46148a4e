//! `verifyDocument(documentNumber:, unhcrCaseNumber:)`: checks one UNHCR document against its
//! case number, for roles granted the operation, without reading the case; and its
//! `RateLimiter`, which bounds the calls per caller per minute (counted by `rate`, in the
//! database or another `CounterStore`).

use std::sync::Arc;

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};

use crate::catalogue::Kind;
use crate::engine::Engine;
use crate::error::QueryError;
use crate::resolve::{engine, getter};
use crate::row::{Cell, read_cell, to_graphql};
use crate::sql::Sql;

/// The `verifyDocument` limit per caller (`Session::caller_key`), counted in the database
/// so that it holds across every gateway process sharing it.
#[derive(Default)]
pub struct RateLimiter {
    per_minute: u32,
    /// Where the counts live; `None`: the request's database.
    store: Option<Arc<dyn crate::rate::CounterStore>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            store: None,
        }
    }

    /// Counts in `store` (e.g. Redis) instead of the request's database.
    pub fn with_store(mut self, store: Arc<dyn crate::rate::CounterStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Counts a call by the engine's caller; `RateLimited` when it has used up its minute.
    pub async fn allow(&self, engine: &Engine) -> Result<(), QueryError> {
        let caller = engine.session.caller_key();
        let verdict = match &self.store {
            Some(store) => store
                .hit("verifyDocument", &caller, self.per_minute)
                .await
                .map_err(|e| {
                    tracing::error!(request_id = %engine.request_id, error = %e, "rate counters unavailable");
                    QueryError::Unavailable(sea_orm::DbErr::Custom("rate counters".into()))
                })?,
            None => {
                crate::rate::hit(&engine.db, "verifyDocument", &caller, self.per_minute).await?
            }
        };
        match verdict {
            crate::rate::Verdict::Allowed { .. } => Ok(()),
            crate::rate::Verdict::Limited { retry_after } => Err(QueryError::RateLimited {
                retry_after_secs: retry_after.as_secs().max(1),
            }),
        }
    }
}

struct Verification {
    valid: bool,
    document_type: Option<String>,
    expiry: Cell,
}

pub(crate) fn verify_document_field() -> (Field, Object) {
    let field = Field::new(
        "verifyDocument",
        TypeRef::named_nn("DocumentVerification"),
        |ctx| {
            FieldFuture::new(async move {
                let engine = engine(&ctx)?;
                let limiter = ctx.data::<Arc<RateLimiter>>()?;
                limiter
                    .allow(&engine)
                    .await
                    .map_err(|e| e.to_graphql(&engine.request_id))?;
                let document = ctx.args.try_get("documentNumber")?.string()?.to_owned();
                let case = ctx.args.try_get("unhcrCaseNumber")?.string()?.to_owned();
                let mut sql = Sql::new(
                    "SELECT r.document_type AS c0, r.document_expiry AS c1, r.file_status AS c2 \
                 FROM unhcr_registrations r JOIN persons p ON p.id = r.person_id \
                 JOIN cases c ON c.id = p.case_id WHERE r.document_number = ",
                );
                sql.bind(document)
                    .push(" AND c.unhcr_case_number = ")
                    .bind(case);
                let result: Result<Verification, QueryError> = async {
                    let rows = engine.query_all(sql).await?;
                    let Some(r) = rows.first() else {
                        return Ok(Verification {
                            valid: false,
                            document_type: None,
                            expiry: Cell::Null,
                        });
                    };
                    let expiry = read_cell(r, "c1", Kind::Date)?;
                    let active =
                        matches!(read_cell(r, "c2", Kind::String)?, Cell::Str(s) if s == "ACTIVE");
                    let unexpired =
                        matches!(expiry, Cell::Date(d) if d >= chrono::Utc::now().date_naive());
                    let document_type = match read_cell(r, "c0", Kind::String)? {
                        Cell::Str(s) => Some(s),
                        _ => None,
                    };
                    Ok(Verification {
                        valid: active && unexpired,
                        document_type,
                        expiry,
                    })
                }
                .await;
                result
                    .map(|v| Some(FieldValue::owned_any(v)))
                    .map_err(|e| e.to_graphql(&engine.request_id))
            })
        },
    )
    .argument(InputValue::new(
        "documentNumber",
        TypeRef::named_nn(TypeRef::STRING),
    ))
    .argument(InputValue::new(
        "unhcrCaseNumber",
        TypeRef::named_nn(TypeRef::STRING),
    ))
    .description("Checks one UNHCR document against its case number. Rate-limited per caller.");
    let object = Object::new("DocumentVerification")
        .field(
            getter::<Verification>("valid", TypeRef::named_nn(TypeRef::BOOLEAN), |v| {
                GqlValue::Boolean(v.valid)
            })
            .description(
                "The document exists for that case, is unexpired, and the file is ACTIVE.",
            ),
        )
        .field(getter::<Verification>(
            "documentType",
            TypeRef::named("DocumentType"),
            |v| {
                v.document_type.clone().map_or(GqlValue::Null, |s| {
                    GqlValue::Enum(async_graphql::Name::new(s))
                })
            },
        ))
        .field(getter::<Verification>(
            "expiry",
            TypeRef::named("Date"),
            |v| to_graphql(&v.expiry, Kind::Date),
        ));
    (field, object)
}
