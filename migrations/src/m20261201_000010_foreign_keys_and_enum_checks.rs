//! The relations and value sets of the catalogue as database constraints.
//!
//! PostgreSQL: a foreign key per relation (`persons.case_id` ↔ `cases.focal_person_id` point at
//! each other, so those two are checked at commit: `DEFERRABLE INITIALLY DEFERRED`) and a
//! `CHECK (column IN (…))` per enum column. The planner uses the keys, and so do peers that
//! read them (PostGraphile's relations).
//!
//! SQLite cannot add constraints to a table without rebuilding it, so there the same rules are
//! triggers that refuse a row with a dangling reference or a value outside its set (`RAISE
//! (ABORT, …)`), on insert and on update of the column, and the deletion of a row that is
//! still referenced. The two references of the
//! persons ↔ cases cycle are not checked on SQLite: a trigger cannot wait for the commit.
//!
//! Explicit DDL, frozen: this migration never changes with the entities or the catalogue.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column, referenced table, checked at commit).
pub const FOREIGN_KEYS: &[(&str, &str, &str, bool)] = &[
    ("persons", "case_id", "cases", true),
    ("cases", "focal_person_id", "persons", true),
    ("unhcr_registrations", "person_id", "persons", false),
    ("immigration_records", "person_id", "persons", false),
    (
        "immigration_records",
        "supervising_office_id",
        "agencies",
        false,
    ),
    ("violations", "person_id", "persons", false),
    ("violations", "office_id", "agencies", false),
    ("monthly_reports", "person_id", "persons", false),
    ("shelters", "operator_id", "agencies", false),
    ("placements", "person_id", "persons", false),
    ("placements", "shelter_id", "shelters", false),
    ("incidents", "reporting_agency_id", "agencies", false),
    ("incident_persons", "incident_id", "incidents", false),
    ("incident_persons", "person_id", "persons", false),
    ("meetings", "chair_agency_id", "agencies", false),
    ("meeting_participants", "meeting_id", "meetings", false),
    ("meeting_participants", "agency_id", "agencies", false),
    ("action_items", "meeting_id", "meetings", false),
    ("action_items", "agency_id", "agencies", false),
    ("referrals", "person_id", "persons", false),
    ("referrals", "from_agency_id", "agencies", false),
    ("referrals", "to_agency_id", "agencies", false),
];

/// (table, column, the values it may hold).
pub const ENUM_CHECKS: &[(&str, &str, &[&str])] = &[
    (
        "agencies",
        "kind",
        &[
            "IMMIGRATION",
            "UNHCR",
            "KESBANGPOL",
            "POLICE",
            "MUNICIPALITY",
            "IOM",
        ],
    ),
    ("persons", "sex", &["FEMALE", "MALE", "OTHER"]),
    (
        "unhcr_registrations",
        "legal_status",
        &[
            "ASYLUM_SEEKER",
            "REFUGEE",
            "REJECTED_FIRST_INSTANCE",
            "REJECTED_FINAL",
        ],
    ),
    (
        "unhcr_registrations",
        "file_status",
        &["ACTIVE", "INACTIVE", "CLOSED"],
    ),
    (
        "unhcr_registrations",
        "solution",
        &[
            "NONE",
            "RESETTLEMENT_SUBMITTED",
            "RESETTLED",
            "COMPLEMENTARY_PATHWAY",
            "VOLUNTARY_REPATRIATION",
            "DECEASED",
        ],
    ),
    (
        "unhcr_registrations",
        "document_type",
        &["ASYLUM_SEEKER_CERTIFICATE", "REFUGEE_CARD"],
    ),
    (
        "immigration_records",
        "entry_mode",
        &["AIR", "SEA", "LAND", "UNKNOWN"],
    ),
    (
        "violations",
        "action",
        &["WARNING", "DETENTION", "DEPORTATION"],
    ),
    (
        "monthly_reports",
        "method",
        &["OFFICE", "FIELD_VISIT", "APP"],
    ),
    (
        "shelters",
        "kind",
        &[
            "DETENTION_CENTRE",
            "IOM_COMMUNITY_HOUSE",
            "TEMPORARY_SHELTER",
        ],
    ),
    (
        "placements",
        "kind",
        &[
            "DETENTION",
            "COMMUNITY_HOUSE",
            "TEMPORARY_SHELTER",
            "INDEPENDENT",
        ],
    ),
    (
        "incidents",
        "kind",
        &[
            "GATHERING",
            "PROTEST",
            "ENCAMPMENT",
            "NEW_ARRIVAL",
            "PUBLIC_ORDER",
            "CRIME",
            "HEALTH",
            "DEATH",
            "ABSCONDING",
        ],
    ),
    ("meetings", "level", &["CITY", "DISTRICT", "PROVINCE"]),
    ("action_items", "status", &["OPEN", "DONE"]),
    (
        "referrals",
        "purpose",
        &[
            "SHELTER",
            "HEALTH",
            "CHILD_PROTECTION",
            "CIVIL_REGISTRATION",
            "DOCUMENT_VERIFICATION",
            "LOSS_REPORT",
            "PUBLIC_ORDER",
        ],
    ),
    (
        "referrals",
        "status",
        &["OPEN", "ACCEPTED", "DECLINED", "CLOSED"],
    ),
];

fn value_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        for (table, column, parent, deferred) in FOREIGN_KEYS {
            let name = format!("fk_{table}_{column}");
            if postgres {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {parent} (id){}",
                    if *deferred {
                        " DEFERRABLE INITIALLY DEFERRED"
                    } else {
                        ""
                    }
                ))
                .await?;
            } else if !deferred {
                // A parent that is still referenced stays (PostgreSQL's NO ACTION).
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {name}_delete BEFORE DELETE ON {parent} FOR EACH ROW \
                     WHEN EXISTS (SELECT 1 FROM {table} WHERE {column} = OLD.id) \
                     BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {table}.{column} still refers to the row'); END"
                ))
                .await?;
                for (event, when) in [
                    ("INSERT", "insert"),
                    (&format!("UPDATE OF {column}"), "update"),
                ] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {name}_{when} BEFORE {event} ON {table} FOR EACH ROW \
                         WHEN NEW.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} WHERE id = NEW.{column}) \
                         BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {table}.{column}'); END"
                    ))
                    .await?;
                }
            }
        }
        for (table, column, values) in ENUM_CHECKS {
            let name = format!("ck_{table}_{column}");
            let list = value_list(values);
            if postgres {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} IN ({list}))"
                ))
                .await?;
            } else {
                for (event, when) in [
                    ("INSERT", "insert"),
                    (&format!("UPDATE OF {column}"), "update"),
                ] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {name}_{when} BEFORE {event} ON {table} FOR EACH ROW \
                         WHEN NEW.{column} IS NOT NULL AND NEW.{column} NOT IN ({list}) \
                         BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {table}.{column}'); END"
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        let names = FOREIGN_KEYS
            .iter()
            .map(|(t, c, _, _)| (*t, format!("fk_{t}_{c}")))
            .chain(
                ENUM_CHECKS
                    .iter()
                    .map(|(t, c, _)| (*t, format!("ck_{t}_{c}"))),
            );
        for (table, name) in names {
            if postgres {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"
                ))
                .await?;
            } else {
                for when in ["insert", "update", "delete"] {
                    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name}_{when}"))
                        .await?;
                }
            }
        }
        Ok(())
    }
}
