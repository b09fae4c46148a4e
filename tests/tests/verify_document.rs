//! Police point lookup: `verifyDocument` answers only validity, type and expiry, checks the
//! document against its case, and is rate-limited per caller.

use chrono::Utc;
use entities::{case, person, unhcr_registration};
use pora_tests::{Backend, TestApp, on_both_databases, spawn_with};
use sea_orm::EntityTrait;
use serde_json::json;

const VERIFY: &str = "query($d: String!, $c: String!) { verifyDocument(documentNumber: $d, unhcrCaseNumber: $c) { valid documentType expiry } }";

/// (document number, its case number, whether it is valid today) for every registration.
async fn documents(app: &TestApp) -> Vec<(String, String, bool, String)> {
    let persons = person::Entity::find().all(&app.db).await.expect("persons");
    let cases = case::Entity::find().all(&app.db).await.expect("cases");
    let today = Utc::now().date_naive();
    unhcr_registration::Entity::find()
        .all(&app.db)
        .await
        .expect("registrations")
        .into_iter()
        .filter_map(|r| {
            let person = persons.iter().find(|p| p.id == r.person_id)?;
            let case = cases
                .iter()
                .find(|c| Some(&c.id) == person.case_id.as_ref())?;
            let valid = r.file_status == "ACTIVE" && r.document_expiry >= today;
            Some((
                r.document_number,
                case.unhcr_case_number.clone(),
                valid,
                r.document_type,
            ))
        })
        .collect()
}

async fn verification_matches_the_records(app: TestApp) {
    let police = app.token("police");
    let docs = documents(&app).await;
    assert!(
        docs.iter().any(|d| d.2) && docs.iter().any(|d| !d.2),
        "the demo data has valid and invalid documents"
    );
    for (number, case, valid, kind) in docs.iter().take(20) {
        let reply = app
            .query_vars(&police, VERIFY, json!({ "d": number, "c": case }))
            .await;
        let answer = &reply.data()["verifyDocument"];
        assert_eq!(answer["valid"], *valid, "{number}");
        assert_eq!(answer["documentType"], kind.as_str());
        // Nothing but these three fields exists in the answer type.
        assert_eq!(answer.as_object().expect("object").len(), 3);
    }
    // The right document with another case's number proves nothing and reveals nothing.
    let (number, _, _, _) = &docs[0];
    let other_case = &docs
        .iter()
        .find(|d| d.1 != docs[0].1)
        .expect("another case")
        .1;
    let reply = app
        .query_vars(&police, VERIFY, json!({ "d": number, "c": other_case }))
        .await;
    assert_eq!(
        reply.data()["verifyDocument"],
        json!({ "valid": false, "documentType": null, "expiry": null })
    );
    // Only the police have it.
    let unhcr = app
        .query_vars(
            &app.token("unhcr"),
            VERIFY,
            json!({ "d": number, "c": other_case }),
        )
        .await;
    assert_eq!(unhcr.code(), Some("GRAPHQL_VALIDATION_FAILED"));
}

async fn lookups_are_rate_limited_per_caller(backend: Backend) {
    let app = spawn_with(backend, |c| c.verify_per_minute = 3).await;
    let docs = documents(&app).await;
    let vars = json!({ "d": docs[0].0, "c": docs[0].1 });
    let police = app.token("police");
    for _ in 0..3 {
        assert!(
            app.query_vars(&police, VERIFY, vars.clone()).await.data()["verifyDocument"]
                .is_object()
        );
    }
    let limited = app.query_vars(&police, VERIFY, vars.clone()).await;
    assert_eq!(limited.code(), Some("RATE_LIMITED"), "{}", limited.body);
    assert_eq!(limited.status, 429, "{}", limited.body);
    let retry = limited.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .expect("retryAfter");
    assert!((1..=60).contains(&retry), "{retry}");
    // The allowance lives in the database: a second gateway on it hands out no fresh one.
    let replica = spawn_with(backend, |c| {
        c.verify_per_minute = 3;
        c.database_url = Some(app.database_url.clone());
        c.data_dir = app.data_dir.clone();
    })
    .await;
    let elsewhere = replica.query_vars(&police, VERIFY, vars.clone()).await;
    assert_eq!(
        (elsewhere.status, elsewhere.code()),
        (429, Some("RATE_LIMITED")),
        "{}",
        elsewhere.body
    );
    // A fresh token of the same caller buys no fresh allowance; another caller has its own.
    let fresh = app.token_for("police", "POLRES-JKP", "31.71");
    let again = app.query_vars(&fresh, VERIFY, vars.clone()).await;
    assert_eq!(again.code(), Some("RATE_LIMITED"), "{}", again.body);
    let colleague = app
        .auth
        .issue(
            "police",
            "POLRES-JKP",
            "31.71",
            "officer-2",
            chrono::Duration::hours(1),
        )
        .expect("sign");
    assert!(app.query_vars(&colleague, VERIFY, vars).await.data()["verifyDocument"].is_object());
}

async fn rate_limit_on_sqlite_and_postgres(app: TestApp) {
    lookups_are_rate_limited_per_caller(app.backend).await;
}

/// With `rate_limit_store` on Redis, gateways on *different* databases still share one
/// allowance: the counts live in Redis (127.0.0.1:6379, as `.ci/run` ensures).
async fn lookups_share_an_allowance_through_redis(app: TestApp) {
    let redis = std::env::var("PORA_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let with_redis = |c: &mut pora_tests::Config| {
        c.verify_per_minute = 2;
        c.rate_limit_store = Some(redis.clone());
    };
    let first = spawn_with(app.backend, with_redis).await;
    // The same signing key, another database (SQLite: a file of its own).
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let second = spawn_with(app.backend, |c| {
        with_redis(c);
        if c.database_url.is_none() {
            c.database_url = Some(format!(
                "sqlite://{}?mode=rwc",
                elsewhere.path().join("other.db").display()
            ));
        }
        c.data_dir = first.data_dir.clone();
    })
    .await;
    assert_ne!(first.database_url, second.database_url);
    let docs = documents(&first).await;
    let vars = json!({ "d": docs[0].0, "c": docs[0].1 });
    // A caller of its own, so no earlier run's counts (Redis keeps them two minutes) interfere.
    let subject = format!("officer-{}", uuid::Uuid::new_v4());
    let police = first
        .auth
        .issue(
            "police",
            "POLRES-JKP",
            "31.71",
            &subject,
            chrono::Duration::hours(1),
        )
        .expect("sign");
    for gateway in [&first, &second] {
        let reply = gateway.query_vars(&police, VERIFY, vars.clone()).await;
        assert!(reply.data()["verifyDocument"].is_object());
    }
    for gateway in [&first, &second] {
        let reply = gateway.query_vars(&police, VERIFY, vars.clone()).await;
        assert_eq!(
            (reply.status, reply.code()),
            (429, Some("RATE_LIMITED")),
            "{}",
            reply.body
        );
    }
}

on_both_databases!(
    verification_matches_the_records,
    rate_limit_on_sqlite_and_postgres,
    lookups_share_an_allowance_through_redis
);
