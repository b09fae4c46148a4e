//! When the database goes away under a running gateway, callers get a typed 503 that says
//! nothing about the database, the process keeps answering (without data), and health reports it.

use pora_tests::{Backend, spawn};
use sea_orm::{ConnectionTrait, Database};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn a_vanished_database_gives_503_and_the_gateway_stays_up() {
    let app = spawn(Backend::Postgres).await;
    let token = app.token("immigration");
    let before = app
        .query(&token, "{ persons(first: 1) { totalCount } }")
        .await;
    assert_eq!(before.status, 200, "{}", before.body);

    // Drop the gateway's database from under it.
    let name = app
        .database_url
        .rsplit('/')
        .next()
        .expect("database name")
        .to_owned();
    let admin = Database::connect(std::env::var("PORA_TEST_POSTGRES_URL").expect("url"))
        .await
        .expect("admin");
    app.db
        .clone()
        .close()
        .await
        .expect("close the test connection");
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .expect("drop database");

    for _ in 0..3 {
        let reply = app
            .query(&token, "{ persons(first: 5) { nodes { fullName } } }")
            .await;
        assert_eq!(reply.status, 503, "{}", reply.body);
        // The database is gone, and with it the audit log and the token status: each reason is
        // a typed 503.
        assert!(
            matches!(
                reply.code(),
                Some("SERVICE_UNAVAILABLE" | "AUDIT_UNAVAILABLE" | "TOKEN_STATUS_UNAVAILABLE")
            ),
            "{}",
            reply.body
        );
        assert!(reply.body.get("data").is_none() || reply.body["data"].is_null());
        let text = reply.body.to_string();
        for secret in [name.as_str(), "postgres", "SELECT", "persons", "sqlx"] {
            assert!(!text.contains(secret), "the error leaks `{secret}`: {text}");
        }
        assert!(reply.body["errors"][0]["extensions"]["requestId"].is_string());
    }
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 503);
    // The process is alive and still answers, without data: nothing leaves unaudited.
    let viewer = app.query(&token, "{ viewer { role } }").await;
    assert_eq!(viewer.status, 503);
    assert!(matches!(
        viewer.code(),
        Some("AUDIT_UNAVAILABLE" | "TOKEN_STATUS_UNAVAILABLE")
    ));
    assert!(viewer.body.get("data").is_none());
}
