//! Aggregated refusals and shared rate counters.
//!
//! - `audit_events.reason`, `.address`, `.refusals`: one event stands for many requests refused
//!   before execution (no token, bad token, rate limited): why, from which client address (when
//!   the caller is unknown), and how many.
//! - `audit_events.fields_written`: the event of a write, committed in the write's own
//!   transaction, names the coordinates it set.
//! - `rate_counters`: per-minute hit counters that every gateway process sharing the database
//!   counts into, for the limits that are security boundaries (`verifyDocument`, refusals per
//!   address).
//!
//! Explicit DDL, frozen: this migration never changes with the entities.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::add_optional_column(manager, "audit_events", "reason").await?;
        crate::add_optional_column(manager, "audit_events", "address").await?;
        if !manager.has_column("audit_events", "fields_written").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("audit_events"))
                        .add_column(ColumnDef::new(Alias::new("fields_written")).text().null())
                        .to_owned(),
                )
                .await?;
        }
        if !manager.has_column("audit_events", "refusals").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("audit_events"))
                        .add_column(ColumnDef::new(Alias::new("refusals")).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("rate_counters"))
                    .if_not_exists()
                    .col(ColumnDef::new(Alias::new("key")).string().not_null())
                    .col(
                        ColumnDef::new(Alias::new("window_start"))
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("hits")).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("key"))
                            .col(Alias::new("window_start")),
                    )
                    .to_owned(),
            )
            .await?;
        // Old windows are swept by `window_start`.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_rate_counters_window_start")
                    .table(Alias::new("rate_counters"))
                    .col(Alias::new("window_start"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("rate_counters")).to_owned())
            .await?;
        for column in ["fields_written", "refusals", "address", "reason"] {
            crate::drop_column(manager, "audit_events", column).await?;
        }
        Ok(())
    }
}
