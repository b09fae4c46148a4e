//! `referrals.note` (the sender's note) and `referrals.reason` (why it was declined or
//! closed): stored with the referral for its parties, never written into the audit chain.
//! `referrals.accepted_at`: when the receiver accepted, so the access report can count the
//! reads made under the referral.
//!
//! Explicit DDL, frozen: this migration never changes with the entities.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::add_optional_column(manager, "referrals", "note").await?;
        crate::add_optional_column(manager, "referrals", "reason").await?;
        if !manager.has_column("referrals", "accepted_at").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("referrals"))
                        .add_column(
                            ColumnDef::new(Alias::new("accepted_at"))
                                .timestamp_with_time_zone()
                                .null(),
                        )
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_column(manager, "referrals", "accepted_at").await?;
        crate::drop_column(manager, "referrals", "reason").await?;
        crate::drop_column(manager, "referrals", "note").await
    }
}
