//! Record keys for the cell-key method of statistics disclosure control (docs/statistics.md).
//!
//! `persons.stat_key`, `monthly_reports.stat_key`, `violations.stat_key`: a secret random
//! integer in [0, 2^32) per record, drawn by the database when the row is inserted (PostgreSQL:
//! a volatile column default; SQLite: a trigger, since SQLite cannot add a column with a
//! non-constant default) and for the rows that exist. A statistics cell's key is the sum of
//! its records' keys modulo 2^32, so the same group of records always gets the same
//! perturbation, whichever question reaches it. No caller ever reads these columns.
//!
//! Explicit DDL, frozen: this migration never changes with the entities.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["persons", "monthly_reports", "violations"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES {
            if manager.has_column(*table, "stat_key").await? {
                continue;
            }
            match db.get_database_backend() {
                DbBackend::Postgres => {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE {table} ADD COLUMN stat_key BIGINT NOT NULL DEFAULT floor(random() * 4294967296)::bigint"
                    ))
                    .await?;
                }
                _ => {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE {table} ADD COLUMN stat_key INTEGER"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "UPDATE {table} SET stat_key = (random() & 4294967295)"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER IF NOT EXISTS {table}_stat_key AFTER INSERT ON {table} FOR EACH ROW WHEN NEW.stat_key IS NULL BEGIN UPDATE {table} SET stat_key = (random() & 4294967295) WHERE rowid = NEW.rowid; END"
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES {
            if db.get_database_backend() != DbBackend::Postgres {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {table}_stat_key"))
                    .await?;
            }
            crate::drop_column(manager, table, "stat_key").await?;
        }
        Ok(())
    }
}
