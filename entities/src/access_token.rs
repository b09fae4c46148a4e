//! `AccessToken`: the `access_tokens` table. The token itself is shown once, at issue; only its
//! id (the JWT `jti`) and its claims are stored.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "access_tokens")]
pub struct Model {
    /// The JWT `jti`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub subject: String,
    pub agency: String,
    pub role: String,
    pub jurisdiction: String,
    /// JSON array of scopes (empty: the whole role).
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    pub purpose: Option<String>,
    pub note: Option<String>,
    pub issued_by: Option<String>,
    pub issued_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<String>,
    pub last_used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
