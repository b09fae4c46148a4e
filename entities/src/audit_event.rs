//! `AuditEvent`: the `audit_events` table, an append-only hash chain (see gateway `audit`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Assigned by the database: the order of the chain.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// A UUID, so the event can be addressed like every other row.
    #[sea_orm(unique)]
    pub id: String,
    /// RFC 3339 with milliseconds, as hashed.
    pub at: String,
    pub request_id: String,
    pub token_id: Option<String>,
    pub subject: Option<String>,
    pub agency: Option<String>,
    pub role: Option<String>,
    pub purpose: Option<String>,
    pub operation_name: Option<String>,
    pub query_hash: Option<String>,
    /// JSON array of `Type.field` coordinates returned.
    #[sea_orm(column_type = "Text")]
    pub fields_read: String,
    /// JSON array of the ids of persons whose data was returned.
    #[sea_orm(column_type = "Text")]
    pub person_ids: String,
    pub row_count: i64,
    pub outcome: String,
    pub duration_ms: i64,
    /// Subject of the federation router that forwarded the request, if one did.
    pub via: Option<String>,
    /// The scopes that narrowed the token (space-separated); none: the whole role.
    pub scopes: Option<String>,
    /// For an aggregated refusal: its code (`TOKEN_INVALID`, `RATE_LIMITED`, …).
    pub reason: Option<String>,
    /// For an aggregated refusal of an unknown caller: the client address.
    pub address: Option<String>,
    /// For an aggregated refusal: how many requests it stands for.
    pub refusals: Option<i64>,
    /// For a write: JSON array of the `Type.field` coordinates it set (committed with the write).
    #[sea_orm(column_type = "Text", nullable)]
    pub fields_written: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
