//! `m20261201_000011_shelter_occupancy` on a database of its own, on SQLite and (with
//! `PORA_TEST_POSTGRES_URL`) on PostgreSQL: the backfill counts the placements that were there
//! before it, and the triggers keep `shelters.occupancy` equal to the open placements counted
//! from the raw rows after every insert, every update from each (shelter, open) state to each
//! other one, every delete, and (PostgreSQL) a TRUNCATE; down and up again backfill again.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use migrations::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult, Statement,
};

const SHELTERS: [&str; 3] = ["s1", "s2", "s3"];
/// The states of a placement: its shelter (or none) and whether it is open.
const STATES: [(Option<&str>, bool); 6] = [
    (None, true),
    (None, false),
    (Some("s1"), true),
    (Some("s1"), false),
    (Some("s2"), true),
    (Some("s2"), false),
];

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn shelter_sql(shelter: Option<&str>) -> String {
    shelter.map_or("NULL".to_owned(), |s| format!("'{s}'"))
}

fn end_sql(open: bool) -> &'static str {
    if open { "NULL" } else { "'2026-11-20'" }
}

async fn insert(db: &DatabaseConnection, id: &str, (shelter, open): (Option<&str>, bool)) {
    exec(
        db,
        &format!(
            "INSERT INTO placements (id, person_id, shelter_id, kind, start_date, end_date, created_at, updated_at) \
             VALUES ('{id}', 'p', {}, 'DETENTION', '2026-11-01', {}, '2026-11-01 00:00:00+00', '2026-11-01 00:00:00+00')",
            shelter_sql(shelter),
            end_sql(open)
        ),
    )
    .await;
}

/// `shelters.occupancy` by shelter.
async fn stored(db: &DatabaseConnection) -> BTreeMap<String, i64> {
    rows(
        db,
        "SELECT id, CAST(occupancy AS BIGINT) AS occupancy FROM shelters",
    )
    .await
    .iter()
    .map(|row| {
        (
            row.try_get::<String>("", "id").expect("id"),
            row.try_get::<i64>("", "occupancy").expect("occupancy"),
        )
    })
    .collect()
}

/// Open placements by shelter, counted here from the rows (every shelter, 0 included).
async fn counted(db: &DatabaseConnection) -> BTreeMap<String, i64> {
    let mut open: BTreeMap<String, i64> = SHELTERS.iter().map(|s| (s.to_string(), 0)).collect();
    for row in rows(
        db,
        "SELECT shelter_id, CASE WHEN end_date IS NULL THEN 1 ELSE 0 END AS open FROM placements",
    )
    .await
    {
        let shelter: Option<String> = row.try_get("", "shelter_id").expect("shelter_id");
        let is_open: i32 = row.try_get("", "open").expect("open");
        if let (Some(shelter), 1) = (shelter, is_open) {
            *open.get_mut(&shelter).expect("a known shelter") += 1;
        }
    }
    open
}

async fn assert_exact(db: &DatabaseConnection, step: &str) {
    assert_eq!(stored(db).await, counted(db).await, "after {step}");
}

async fn follow(db: &DatabaseConnection) {
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    // Everything up to the migration before, and rows that are there before it.
    Migrator::up(db, Some(10)).await.expect("migrate to 000010");
    exec(
        db,
        "INSERT INTO persons (id, full_name, aliases, sex, date_of_birth, nationality, languages, \
         residence_region, specific_needs, created_at, updated_at) VALUES ('p', 'P', '[]', 'FEMALE', \
         '1990-01-01', 'AF', '[]', '31.71', '[]', '2026-11-01 00:00:00+00', '2026-11-01 00:00:00+00')",
    )
    .await;
    for shelter in SHELTERS {
        exec(
            db,
            &format!(
                "INSERT INTO shelters (id, name, kind, region, address, capacity, created_at, updated_at) \
                 VALUES ('{shelter}', '{shelter}', 'TEMPORARY_SHELTER', '31.71', 'x', 10, \
                 '2026-11-01 00:00:00+00', '2026-11-01 00:00:00+00')"
            ),
        )
        .await;
    }
    for (i, state) in STATES.iter().chain(&STATES[2..3]).enumerate() {
        insert(db, &format!("before{i}"), *state).await;
    }
    Migrator::up(db, None).await.expect("migrate up");
    let backfilled = stored(db).await;
    assert_eq!(
        backfilled,
        BTreeMap::from([("s1".into(), 2), ("s2".into(), 1), ("s3".into(), 0)]),
        "backfill"
    );
    assert_exact(db, "the backfill").await;

    // Every state to every state, one placement at a time, by update.
    let mut n = 0;
    for from in STATES {
        for to in STATES {
            n += 1;
            let id = format!("u{n}");
            insert(db, &id, from).await;
            assert_exact(db, &format!("insert {from:?}")).await;
            exec(
                db,
                &format!(
                    "UPDATE placements SET shelter_id = {}, end_date = {} WHERE id = '{id}'",
                    shelter_sql(to.0),
                    end_sql(to.1)
                ),
            )
            .await;
            assert_exact(db, &format!("update {from:?} -> {to:?}")).await;
        }
    }
    // An update of neither column, one of many rows at once, then deletes from every state.
    exec(db, "UPDATE placements SET reason = 'seen'").await;
    assert_exact(db, "an update of another column").await;
    exec(
        db,
        "UPDATE placements SET shelter_id = 's3' WHERE shelter_id = 's1'",
    )
    .await;
    assert_exact(db, "moving every placement of s1 to s3 in one statement").await;
    for (i, state) in STATES.iter().enumerate() {
        let id = format!("d{i}");
        insert(db, &id, *state).await;
        exec(db, &format!("DELETE FROM placements WHERE id = '{id}'")).await;
        assert_exact(db, &format!("delete {state:?}")).await;
    }
    exec(db, "DELETE FROM placements WHERE shelter_id = 's2'").await;
    assert_exact(db, "deleting every placement of s2").await;

    // Down drops the column and its triggers; up counts again.
    Migrator::down(db, Some(1)).await.expect("migrate down");
    exec(
        db,
        "UPDATE placements SET shelter_id = 's1' WHERE shelter_id = 's3'",
    )
    .await;
    Migrator::up(db, None).await.expect("migrate up again");
    assert_exact(db, "down, a write without the triggers, up").await;
    assert!(stored(db).await["s1"] > 0);

    if postgres {
        exec(db, "TRUNCATE placements").await;
        assert_exact(db, "TRUNCATE").await;
        assert!(stored(db).await.values().all(|o| *o == 0));
    }
}

#[tokio::test]
async fn sqlite_occupancy_follows_the_placements() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("occupancy.db").display()
    );
    let db = Database::connect(&url).await.expect("connect to SQLite");
    follow(&db).await;
    db.close().await.expect("close SQLite");
}

#[tokio::test]
async fn postgres_occupancy_follows_the_placements() {
    let Ok(server) = std::env::var("PORA_TEST_POSTGRES_URL") else {
        eprintln!("PORA_TEST_POSTGRES_URL is not set: PostgreSQL not tested");
        return;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let name = format!("pora_occupancy_{}_{nanos}", std::process::id());
    let admin = Database::connect(&server)
        .await
        .expect("connect to PORA_TEST_POSTGRES_URL");
    exec(&admin, &format!("CREATE DATABASE \"{name}\"")).await;
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    let db = Database::connect(&format!("{base}/{name}"))
        .await
        .expect("connect to the test database");
    // Dropped whether the checks pass or not.
    let outcome = tokio::spawn({
        let db = db.clone();
        async move { follow(&db).await }
    })
    .await;
    db.close().await.expect("close the test database");
    exec(&admin, &format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await;
    admin.close().await.expect("close PORA_TEST_POSTGRES_URL");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
