//! `audit_events.scopes`: the scopes that narrowed a request's token.
//!
//! Migration 2 creates its table from the current entity, so on a fresh database the column is
//! already there; on a database created before, it is added here.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::add_optional_column(manager, "audit_events", "scopes").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_column(manager, "audit_events", "scopes").await
    }
}
