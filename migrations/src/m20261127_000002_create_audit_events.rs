//! The audit log: one hash-chained row per GraphQL operation (and per rejected request).
//! Indexes serve the administrators' queries (by agency, token, subject, time, outcome).
//!
//! Explicit DDL, frozen: this migration never changes with the entities. The table is spelled
//! out as the entity described it when the DDL was frozen, columns that later migrations add
//! (`via`, `scopes`, `reason`, `address`, `refusals`, `fields_written`) included; those
//! migrations check for the column first and leave a table created here as it is. A column
//! without `.not_null()` is nullable.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &[&str] = &["at", "agency", "token_id", "subject", "outcome"];

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

fn table() -> TableCreateStatement {
    Table::create()
        .table(Alias::new("audit_events"))
        // Assigned by the database: the order of the chain.
        .col(
            col("seq")
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(col("id").string().not_null().unique_key())
        .col(col("at").string().not_null())
        .col(col("request_id").string().not_null())
        .col(col("token_id").string())
        .col(col("subject").string())
        .col(col("agency").string())
        .col(col("role").string())
        .col(col("purpose").string())
        .col(col("operation_name").string())
        .col(col("query_hash").string())
        .col(col("fields_read").text().not_null())
        .col(col("person_ids").text().not_null())
        .col(col("row_count").big_integer().not_null())
        .col(col("outcome").string().not_null())
        .col(col("duration_ms").big_integer().not_null())
        .col(col("via").string())
        .col(col("scopes").string())
        .col(col("reason").string())
        .col(col("address").string())
        .col(col("refusals").big_integer())
        .col(col("fields_written").text())
        .col(col("prev_hash").string().not_null())
        .col(col("hash").string().not_null())
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(table()).await?;
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
