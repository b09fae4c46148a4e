//! Managed access tokens: issued, listed and revoked by administrators.
//!
//! Explicit DDL, frozen: this migration never changes with the entities. A column without
//! `.not_null()` is nullable.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

fn table() -> TableCreateStatement {
    Table::create()
        .table(Alias::new("access_tokens"))
        // The JWT `jti`.
        .col(col("id").string().not_null().primary_key())
        .col(col("subject").string().not_null())
        .col(col("agency").string().not_null())
        .col(col("role").string().not_null())
        .col(col("jurisdiction").string().not_null())
        .col(col("scopes").text().not_null())
        .col(col("purpose").string())
        .col(col("note").string())
        .col(col("issued_by").string())
        .col(col("issued_at").timestamp_with_time_zone().not_null())
        .col(col("expires_at").timestamp_with_time_zone().not_null())
        .col(col("revoked_at").timestamp_with_time_zone())
        .col(col("revoked_by").string())
        .col(col("last_used_at").timestamp_with_time_zone())
        .col(col("created_at").timestamp_with_time_zone().not_null())
        .col(col("updated_at").timestamp_with_time_zone().not_null())
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(table()).await?;
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
