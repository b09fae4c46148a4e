//! The gateway's own PostgreSQL sessions: JIT compilation off (it cost more than it saved on
//! the gateway's short statements), the configured statement timeout, and no TLS to a
//! loopback server whose URL does not ask for it. Read from the server's view of the session.

use std::sync::Arc;

use pora_tests::Config;
use sea_orm::{ConnectionTrait, Statement};

async fn show(db: &sea_orm::DatabaseConnection, sql: &str) -> String {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .expect("query")
    .expect("a row")
    .try_get_by_index::<String>(0)
    .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn sessions_run_without_jit_with_the_timeout_and_without_tls_on_loopback() {
    let temp = tempfile::tempdir().expect("temp");
    let url = pora_tests::fresh_postgres_database().await;
    assert!(
        url.contains("127.0.0.1") && !url.contains("sslmode"),
        "{url}"
    );
    let config = Config {
        data_dir: temp.path().to_owned(),
        database_url: Some(url),
        demo_data: Some(false),
        db_statement_timeout: 7.0,
        ..Config::default()
    };
    let metrics = Arc::new(gateway::telemetry::Metrics::default());
    let db = gateway::app::connect(&config, &metrics)
        .await
        .expect("connect");
    assert_eq!(show(&db, "SHOW jit").await, "off");
    assert_eq!(show(&db, "SHOW statement_timeout").await, "7s");
    assert_eq!(
        show(
            &db,
            "SELECT CASE WHEN ssl THEN 'tls' ELSE 'plain' END FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        )
        .await,
        "plain"
    );
}
