//! The row rules' SQL is shaped so PostgreSQL probes per row: on a grown database, the plan of
//! a page of persons (the rule as the engine renders it, with its values bound) has no hashed
//! subplan and no sequential scan of placements or referrals, for the roles whose rules read
//! other tables. The verdict is PostgreSQL's own `EXPLAIN`.

use pora_tests::{Backend, spawn};
use schema::Session;
use schema::rows::Conditions;
use sea_orm::{ConnectionTrait, Statement};

/// Forty copies of every person with their placements, referrals and incident links, then
/// fresh statistics: large enough tables that a hash of a whole one would be chosen only if
/// the statement's shape invited it.
async fn grow(app: &pora_tests::TestApp) {
    for sql in [
        "INSERT INTO persons SELECT (jsonb_populate_record(NULL::persons, to_jsonb(p) || jsonb_build_object('id', md5(p.id || g::text)))).* FROM persons p, generate_series(1, 40) g",
        "INSERT INTO placements SELECT (jsonb_populate_record(NULL::placements, to_jsonb(pl) || jsonb_build_object('id', md5(pl.id || g::text), 'person_id', md5(pl.person_id || g::text)))).* FROM placements pl, generate_series(1, 40) g",
        "INSERT INTO referrals SELECT (jsonb_populate_record(NULL::referrals, to_jsonb(r) || jsonb_build_object('id', md5(r.id || g::text), 'person_id', md5(r.person_id || g::text)))).* FROM referrals r, generate_series(1, 40) g",
        "INSERT INTO incident_persons SELECT (jsonb_populate_record(NULL::incident_persons, to_jsonb(i) || jsonb_build_object('id', md5(i.id || g::text), 'person_id', md5(i.person_id || g::text)))).* FROM incident_persons i, generate_series(1, 40) g",
        "ANALYZE",
    ] {
        app.db.execute_unprepared(sql).await.expect(sql);
    }
}

fn session(role: &str, agency: &str, jurisdiction: &str) -> Session {
    Session {
        issuer: "pora-gateway".to_owned(),
        subject: "plans".to_owned(),
        role: role.to_owned(),
        agency: agency.to_owned(),
        jurisdiction: jurisdiction.to_owned(),
        token_id: "plans".to_owned(),
        issued_at: 0,
        purpose: None,
        scopes: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn pages_probe_per_row_instead_of_hashing_whole_tables() {
    let app = spawn(Backend::Postgres).await;
    grow(&app).await;
    let persons: i64 = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM persons".to_owned(),
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get("", "n")
        .expect("n");
    assert!(persons > 10_000, "{persons} persons");
    let referrals: i64 = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM referrals".to_owned(),
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get("", "n")
        .expect("n");
    assert!(referrals > 1_000, "{referrals} referrals");
    for (role, agency, jurisdiction) in [
        ("immigration", "KANIM-JKP", "31.71"),
        ("immigration", "KANIM-JKP", "31.71.01"),
        ("iom", "IOM-JKT", "31"),
        ("police", "POLRES-JKP", "31.71"),
    ] {
        let view = app.policy.role(role).expect("role");
        let session = session(role, agency, jurisdiction);
        let conditions = Conditions::new(view, &session);
        let mut sql =
            schema::sql::Sql::new("EXPLAIN (FORMAT JSON) SELECT t.id FROM persons t WHERE ");
        sql.append(conditions.rows("Person", "t"))
            .push(" ORDER BY t.id LIMIT 21");
        let plan = app
            .db
            .query_one_raw(sql.statement(app.db.get_database_backend()))
            .await
            .expect("explain")
            .expect("a plan")
            .try_get_by_index::<serde_json::Value>(0)
            .expect("json")
            .to_string();
        assert!(
            !plan.contains("hashed"),
            "{role} at {jurisdiction}: a hashed subplan: {plan}"
        );
        for table in ["placements", "referrals", "incident_persons"] {
            assert!(
                !seq_scan_of(&plan, table),
                "{role} at {jurisdiction}: a sequential scan of {table}: {plan}"
            );
        }
    }
}

/// Whether the JSON plan has a sequential scan node over `table`.
fn seq_scan_of(plan: &str, table: &str) -> bool {
    let value: serde_json::Value = serde_json::from_str(plan).expect("plan json");
    fn walk(node: &serde_json::Value, table: &str) -> bool {
        match node {
            serde_json::Value::Object(map) => {
                (map.get("Node Type").and_then(|v| v.as_str()) == Some("Seq Scan")
                    && map.get("Relation Name").and_then(|v| v.as_str()) == Some(table))
                    || map.values().any(|v| walk(v, table))
            }
            serde_json::Value::Array(items) => items.iter().any(|v| walk(v, table)),
            _ => false,
        }
    }
    walk(&value, table)
}
