//! `agency_cutoffs`: tokens of an agency issued before a time are refused (see the entity).
//!
//! Explicit DDL, frozen: this migration never changes with the entities.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn table() -> TableCreateStatement {
    Table::create()
        .table(Alias::new("agency_cutoffs"))
        .col(
            ColumnDef::new(Alias::new("agency"))
                .string()
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(Alias::new("revoked_before"))
                .timestamp_with_time_zone()
                .not_null(),
        )
        .col(ColumnDef::new(Alias::new("revoked_by")).string().not_null())
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(table()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("agency_cutoffs")).to_owned())
            .await
    }
}
