//! The audit log: one hash-chained row per GraphQL operation (and per rejected request).
//! Indexes serve the administrators' queries (by agency, token, subject, time, outcome).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Schema;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &[&str] = &["at", "agency", "token_id", "subject", "outcome"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(schema.create_table_from_entity(entities::audit_event::Entity))
            .await?;
        for column in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_audit_events_{column}"))
                        .table(Alias::new("audit_events"))
                        .col(Alias::new(*column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("audit_events")).to_owned())
            .await
    }
}
