//! `shelters.occupancy`: the shelter's open placements (`end_date IS NULL`), kept by the
//! database in the transaction of every write that changes them, instead of a count per read.
//!
//! The column is backfilled from the placements, and triggers on `placements` follow every
//! INSERT, DELETE and UPDATE of `shelter_id` or `end_date`: a placement that stops being open in
//! a shelter takes one off, one that becomes open in a shelter adds one (a move of an open
//! placement does both). Each is an atomic `occupancy = occupancy ± 1` on the shelter's row, so
//! concurrent writers serialise on that row and none of their changes is lost.
//!
//! PostgreSQL: one plpgsql function, row-level AFTER triggers. A move takes the two shelter rows
//! in id order, so two moves in opposite directions wait for each other instead of deadlocking.
//! `TRUNCATE placements` (which fires no row trigger) empties every shelter.
//!
//! SQLite: one trigger per event (SQLite has a single writer).
//!
//! The triggers are installed before the backfill, in the migration's transaction: on
//! PostgreSQL `CREATE TRIGGER` holds off writers of `placements` until the commit, so no write
//! falls between the count and the first trigger.
//!
//! Explicit DDL, frozen: this migration never changes with the entities or the catalogue.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The triggers on `placements` that follow `shelters.occupancy` (the names of both backends).
pub const TRIGGERS: &[&str] = &[
    "placements_occupancy",
    "placements_occupancy_truncate",
    "placements_occupancy_insert",
    "placements_occupancy_update",
    "placements_occupancy_delete",
];

const POSTGRES_FUNCTION: &str = r#"CREATE FUNCTION placements_follow_occupancy() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    -- The shelter the row was open in before the write, and the one it is open in after.
    left_shelter TEXT := NULL;
    entered_shelter TEXT := NULL;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE shelters SET occupancy = 0 WHERE occupancy <> 0;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.end_date IS NULL THEN
            left_shelter := OLD.shelter_id;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.end_date IS NULL THEN
            entered_shelter := NEW.shelter_id;
        END IF;
    END IF;
    IF left_shelter IS NOT DISTINCT FROM entered_shelter THEN
        RETURN NULL;
    END IF;
    -- Both rows of a move in id order.
    IF left_shelter IS NOT NULL AND entered_shelter IS NOT NULL
       AND entered_shelter < left_shelter THEN
        UPDATE shelters SET occupancy = occupancy + 1 WHERE id = entered_shelter;
        UPDATE shelters SET occupancy = occupancy - 1 WHERE id = left_shelter;
        RETURN NULL;
    END IF;
    IF left_shelter IS NOT NULL THEN
        UPDATE shelters SET occupancy = occupancy - 1 WHERE id = left_shelter;
    END IF;
    IF entered_shelter IS NOT NULL THEN
        UPDATE shelters SET occupancy = occupancy + 1 WHERE id = entered_shelter;
    END IF;
    RETURN NULL;
END
$$"#;

const POSTGRES_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER placements_occupancy \
     AFTER INSERT OR DELETE OR UPDATE OF shelter_id, end_date ON placements \
     FOR EACH ROW EXECUTE FUNCTION placements_follow_occupancy()",
    "CREATE TRIGGER placements_occupancy_truncate AFTER TRUNCATE ON placements \
     FOR EACH STATEMENT EXECUTE FUNCTION placements_follow_occupancy()",
];

const SQLITE_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER placements_occupancy_insert AFTER INSERT ON placements FOR EACH ROW \
     WHEN NEW.end_date IS NULL AND NEW.shelter_id IS NOT NULL \
     BEGIN UPDATE shelters SET occupancy = occupancy + 1 WHERE id = NEW.shelter_id; END",
    "CREATE TRIGGER placements_occupancy_update AFTER UPDATE OF shelter_id, end_date ON placements \
     FOR EACH ROW \
     WHEN (OLD.end_date IS NULL) <> (NEW.end_date IS NULL) OR OLD.shelter_id IS NOT NEW.shelter_id \
     BEGIN \
     UPDATE shelters SET occupancy = occupancy - 1 WHERE OLD.end_date IS NULL AND id = OLD.shelter_id; \
     UPDATE shelters SET occupancy = occupancy + 1 WHERE NEW.end_date IS NULL AND id = NEW.shelter_id; \
     END",
    "CREATE TRIGGER placements_occupancy_delete AFTER DELETE ON placements FOR EACH ROW \
     WHEN OLD.end_date IS NULL AND OLD.shelter_id IS NOT NULL \
     BEGIN UPDATE shelters SET occupancy = occupancy - 1 WHERE id = OLD.shelter_id; END",
];

const BACKFILL: &str = "UPDATE shelters SET occupancy = \
     (SELECT COUNT(*) FROM placements p WHERE p.shelter_id = shelters.id AND p.end_date IS NULL)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// The column, its triggers and its backfill together or not at all, on SQLite too.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        db.execute_unprepared(
            "ALTER TABLE shelters ADD COLUMN occupancy INTEGER NOT NULL DEFAULT 0",
        )
        .await?;
        if postgres {
            db.execute_unprepared(POSTGRES_FUNCTION).await?;
            for trigger in POSTGRES_TRIGGERS {
                db.execute_unprepared(trigger).await?;
            }
        } else {
            for trigger in SQLITE_TRIGGERS {
                db.execute_unprepared(trigger).await?;
            }
        }
        db.execute_unprepared(BACKFILL).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        for trigger in TRIGGERS {
            if postgres {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {trigger} ON placements"))
                    .await?;
            } else {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {trigger}"))
                    .await?;
            }
        }
        if postgres {
            db.execute_unprepared("DROP FUNCTION IF EXISTS placements_follow_occupancy()")
                .await?;
        }
        crate::drop_column(manager, "shelters", "occupancy").await
    }
}
