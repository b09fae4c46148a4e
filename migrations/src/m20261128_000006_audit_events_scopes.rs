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
        if manager.has_column("audit_events", "scopes").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("audit_events"))
                    .add_column(ColumnDef::new(Alias::new("scopes")).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("audit_events"))
                    .drop_column(Alias::new("scopes"))
                    .to_owned(),
            )
            .await
    }
}
