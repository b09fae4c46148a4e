//! Managed access tokens: issued, listed and revoked by administrators.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Schema;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(schema.create_table_from_entity(entities::access_token::Entity))
            .await?;
        for column in ["agency", "revoked_at", "expires_at"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_access_tokens_{column}"))
                        .table(Alias::new("access_tokens"))
                        .col(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("access_tokens")).to_owned())
            .await
    }
}
