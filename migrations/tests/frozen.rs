//! The released migrations against the entities, read from the database catalog.
//!
//! `Migrator::up` on a fresh database must leave every table an entity describes with exactly
//! the entity's columns and nullability (plus the known extras below), on SQLite and, when
//! `PORA_TEST_POSTGRES_URL` is set (a server URL such as
//! `postgres://postgres@127.0.0.1:5432/test`), on PostgreSQL, in a database of its own created
//! and dropped by the test. And the migrations that create tables must not derive them from the
//! entities, so that they never change once released.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use migrations::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait, IdenStatic,
    Iterable, Statement,
};

/// Column name → nullable.
type Columns = BTreeMap<String, bool>;

/// Columns that migrations add to an entity's table and no entity maps (never read by callers).
const EXTRA_COLUMNS: &[(&str, &str)] = &[
    ("persons", "stat_key"),
    ("monthly_reports", "stat_key"),
    ("violations", "stat_key"),
];

/// Tables that migrations create and no entity describes.
const EXTRA_TABLES: &[&str] = &["seaql_migrations", "rate_counters"];

fn entity<E: EntityTrait>(entity: E) -> (String, Columns) {
    let columns = E::Column::iter()
        .map(|column| (column.as_str().to_owned(), column.def().is_null()))
        .collect();
    (entity.table_name().to_owned(), columns)
}

/// Every entity of crate `entities`.
fn entity_tables() -> BTreeMap<String, Columns> {
    use entities::*;
    let tables = [
        entity(access_token::Entity),
        entity(action_item::Entity),
        entity(agency::Entity),
        entity(agency_cutoff::Entity),
        entity(audit_event::Entity),
        entity(case::Entity),
        entity(immigration_record::Entity),
        entity(incident::Entity),
        entity(incident_person::Entity),
        entity(meeting::Entity),
        entity(meeting_participant::Entity),
        entity(monthly_report::Entity),
        entity(person::Entity),
        entity(placement::Entity),
        entity(referral::Entity),
        entity(shelter::Entity),
        entity(unhcr_registration::Entity),
        entity(violation::Entity),
    ];
    let count = tables.len();
    let tables: BTreeMap<_, _> = tables.into_iter().collect();
    assert_eq!(tables.len(), count, "two entities name the same table");
    tables
}

async fn query(
    db: &DatabaseConnection,
    sql: String,
) -> Result<Vec<sea_orm_migration::sea_orm::QueryResult>, String> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        sql.clone(),
    ))
    .await
    .map_err(|err| format!("{sql}: {err}"))
}

/// The tables of the database (its catalog), without the engine's own.
async fn db_tables(db: &DatabaseConnection) -> Result<BTreeSet<String>, String> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        _ => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    query(db, sql.to_owned())
        .await?
        .iter()
        .map(|row| {
            row.try_get::<String>("", "name")
                .map_err(|err| err.to_string())
        })
        .collect()
}

/// The columns of `table` and whether each is nullable, from the database catalog.
async fn db_columns(db: &DatabaseConnection, table: &str) -> Result<Columns, String> {
    let mut columns = Columns::new();
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            for row in query(db, format!("PRAGMA table_info(\"{table}\")")).await? {
                let name: String = row.try_get("", "name").map_err(|err| err.to_string())?;
                let not_null: i64 = row.try_get("", "notnull").map_err(|err| err.to_string())?;
                columns.insert(name, not_null == 0);
            }
        }
        _ => {
            let sql = format!(
                "SELECT column_name::text AS name, is_nullable::text AS nullable \
                 FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{table}'"
            );
            for row in query(db, sql).await? {
                let name: String = row.try_get("", "name").map_err(|err| err.to_string())?;
                let nullable: String =
                    row.try_get("", "nullable").map_err(|err| err.to_string())?;
                columns.insert(name, nullable == "YES");
            }
        }
    }
    Ok(columns)
}

/// Migrates `db` (fresh) up and lists every difference between the entities and its catalog.
async fn differences(db: &DatabaseConnection) -> Result<Vec<String>, String> {
    Migrator::up(db, None)
        .await
        .map_err(|err| format!("Migrator::up: {err}"))?;
    let entities = entity_tables();
    let mut found = Vec::new();

    let tables = db_tables(db).await?;
    let expected_tables: BTreeSet<String> = entities
        .keys()
        .cloned()
        .chain(EXTRA_TABLES.iter().map(|t| t.to_string()))
        .collect();
    if tables != expected_tables {
        found.push(format!(
            "tables: missing {:?}, unexpected {:?}",
            expected_tables.difference(&tables).collect::<Vec<_>>(),
            tables.difference(&expected_tables).collect::<Vec<_>>(),
        ));
    }

    for (table, expected) in &entities {
        let mut actual = db_columns(db, table).await?;
        for (extra_table, extra) in EXTRA_COLUMNS {
            if extra_table == table && actual.remove(*extra).is_none() {
                found.push(format!("{table}.{extra}: known extra column is missing"));
            }
        }
        for (column, nullable) in expected {
            match actual.get(column) {
                None => found.push(format!("{table}.{column}: missing")),
                Some(actual) if actual != nullable => found.push(format!(
                    "{table}.{column}: nullable {actual} in the database, {nullable} in the entity"
                )),
                Some(_) => {}
            }
        }
        for column in actual.keys().filter(|c| !expected.contains_key(*c)) {
            found.push(format!("{table}.{column}: not in the entity"));
        }
    }
    Ok(found)
}

fn assert_none(backend: &str, differences: Result<Vec<String>, String>) {
    match differences {
        Ok(found) => assert!(
            found.is_empty(),
            "{backend}: the migrated schema differs from the entities:\n{}",
            found.join("\n")
        ),
        Err(err) => panic!("{backend}: {err}"),
    }
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{}_{nanos}", std::process::id())
}

#[tokio::test]
async fn sqlite_schema_matches_entities() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("frozen.db").display()
    );
    let db = Database::connect(&url).await.expect("connect to SQLite");
    let found = differences(&db).await;
    db.close().await.expect("close SQLite");
    assert_none("SQLite", found);
}

/// `url` with its database (the path) replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((base, params)) => (base, Some(params)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").expect("a URL with a scheme");
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let mut url = format!("{scheme}://{authority}/{database}");
    if let Some(params) = params {
        url.push('?');
        url.push_str(params);
    }
    url
}

#[tokio::test]
async fn postgres_schema_matches_entities() {
    let Ok(server) = std::env::var("PORA_TEST_POSTGRES_URL") else {
        eprintln!("PORA_TEST_POSTGRES_URL is not set: PostgreSQL not tested");
        return;
    };
    let name = format!("pora_frozen_{}", unique_suffix());
    let admin = Database::connect(&server)
        .await
        .expect("connect to PORA_TEST_POSTGRES_URL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create the test database");

    let found = match Database::connect(&with_database(&server, &name)).await {
        Ok(db) => {
            let found = differences(&db).await;
            db.close().await.expect("close the test database");
            found
        }
        Err(err) => Err(format!("connect to the test database: {err}")),
    };

    admin
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .expect("drop the test database");
    admin.close().await.expect("close PORA_TEST_POSTGRES_URL");
    assert_none("PostgreSQL", found);
}

/// The migrations that create tables spell out their DDL: none derives a table from the entities.
#[test]
fn frozen_migrations_do_not_use_the_entities() {
    let sources = [
        (
            "m20261127_000001_create_case_tables",
            include_str!("../src/m20261127_000001_create_case_tables.rs"),
        ),
        (
            "m20261127_000002_create_audit_events",
            include_str!("../src/m20261127_000002_create_audit_events.rs"),
        ),
        (
            "m20261127_000003_create_access_tokens",
            include_str!("../src/m20261127_000003_create_access_tokens.rs"),
        ),
        (
            "m20261128_000005_create_agency_cutoffs",
            include_str!("../src/m20261128_000005_create_agency_cutoffs.rs"),
        ),
        (
            "m20261201_000007_refusals_and_rate_counters",
            include_str!("../src/m20261201_000007_refusals_and_rate_counters.rs"),
        ),
    ];
    for (migration, source) in sources {
        for forbidden in ["create_table_from_entity", "entities::", "Schema::new"] {
            assert!(
                !source.contains(forbidden),
                "{migration} uses `{forbidden}`: a released migration must not follow the entities"
            );
        }
    }
}
