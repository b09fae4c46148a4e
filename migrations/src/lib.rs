//! Database migrations, applied by the gateway at start-up (`Migrator::up`).
//!
//! Each migration is a dated module; once released, a migration is never edited, only followed.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_case_tables;
mod m20261127_000002_create_audit_events;
mod m20261127_000003_create_access_tokens;
mod m20261128_000004_audit_events_via;
mod m20261128_000005_create_agency_cutoffs;
mod m20261128_000006_audit_events_scopes;

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
        ]
    }
}
