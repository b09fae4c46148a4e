//! A PostgreSQL database never receives the demo data unless asked (`--demo`,
//! `PORA_DEMO_DATA=true`), and one that does not exist yet is created; the embedded database
//! gets the demo data by default.

use gateway::{Application, Config};
use sea_orm::{ConnectionTrait, Database, Statement};

async fn persons_after_start(database_url: Option<String>, demo_data: Option<bool>) -> i64 {
    let temp = tempfile::tempdir().expect("temp dir");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: temp.path().to_owned(),
        database_url,
        demo_data,
        workers: 1,
        ..Config::default()
    };
    let url = config.database_url();
    drop(Application::build(config).await.expect("starts"));
    let db = Database::connect(&url).await.expect("connect");
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM persons".to_owned(),
        ))
        .await
        .expect("count")
        .expect("row");
    row.try_get_by::<i64, _>("n").expect("n")
}

async fn fresh_postgres() -> String {
    let admin_url = std::env::var("PORA_TEST_POSTGRES_URL").expect("PORA_TEST_POSTGRES_URL");
    let admin = Database::connect(&admin_url).await.expect("admin");
    let name = format!("pora_t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create");
    format!("{}/{name}", admin_url.rsplit_once('/').expect("url").0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn postgres_gets_demo_data_only_when_asked() {
    assert_eq!(
        persons_after_start(Some(fresh_postgres().await), None).await,
        0
    );
    assert!(persons_after_start(Some(fresh_postgres().await), Some(true)).await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_database_gets_demo_data_by_default() {
    assert!(persons_after_start(None, None).await > 0);
    assert_eq!(persons_after_start(None, Some(false)).await, 0);
}
