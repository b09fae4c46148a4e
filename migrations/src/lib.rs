//! Database migrations, applied by the gateway at start-up (`Migrator::up`).
//!
//! Each migration is a dated module of explicit DDL; once released, a migration is never edited,
//! only followed. `tests/frozen.rs` migrates a fresh database and compares its tables with the
//! entities.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_case_tables;
mod m20261127_000002_create_audit_events;
mod m20261127_000003_create_access_tokens;
mod m20261128_000004_audit_events_via;
mod m20261128_000005_create_agency_cutoffs;
mod m20261128_000006_audit_events_scopes;
mod m20261201_000007_refusals_and_rate_counters;
mod m20261201_000008_statistics_record_keys;
mod m20261201_000009_referral_notes;
pub mod m20261201_000010_foreign_keys_and_enum_checks;
mod m20261201_000011_shelter_occupancy;

/// Adds the nullable string column `column` to `table`, unless it is there already: databases
/// created while the first migrations still built their tables from the entities of the day
/// have it from the start (those migrations are frozen, explicit DDL now).
async fn add_optional_column(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
) -> Result<(), DbErr> {
    if manager.has_column(table, column).await? {
        return Ok(());
    }
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new(table))
                .add_column(ColumnDef::new(Alias::new(column)).string().null())
                .to_owned(),
        )
        .await
}

async fn drop_column(manager: &SchemaManager<'_>, table: &str, column: &str) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new(table))
                .drop_column(Alias::new(column))
                .to_owned(),
        )
        .await
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_case_tables::Migration),
            Box::new(m20261127_000002_create_audit_events::Migration),
            Box::new(m20261127_000003_create_access_tokens::Migration),
            Box::new(m20261128_000004_audit_events_via::Migration),
            Box::new(m20261128_000005_create_agency_cutoffs::Migration),
            Box::new(m20261128_000006_audit_events_scopes::Migration),
            Box::new(m20261201_000007_refusals_and_rate_counters::Migration),
            Box::new(m20261201_000008_statistics_record_keys::Migration),
            Box::new(m20261201_000009_referral_notes::Migration),
            Box::new(m20261201_000010_foreign_keys_and_enum_checks::Migration),
            Box::new(m20261201_000011_shelter_occupancy::Migration),
        ]
    }
}
