//! SIGKILL under load: every answer a client received has its audit event. Runs the real
//! binary as a child process (SQLite, and PostgreSQL when PORA_TEST_POSTGRES_URL is set).

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use entities::audit_event;
use sea_orm::{ColumnTrait, ConnectionTrait, Database, EntityTrait, QueryFilter};
use tokio::sync::Notify;

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_pora-gateway");

/// Starts `pora-gateway serve` and returns it with the URL it printed.
fn start(dir: &std::path::Path, database_url: Option<&str>) -> (Child, String) {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env("PORA_DATA_DIR", dir)
        .env("PORA_LISTEN", "127.0.0.1:0")
        .env("PORA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        command.env("PORA_DATABASE_URL", url);
    }
    let mut child = command.spawn().expect("start the gateway");
    let url = support::listening_url(&mut child);
    (child, url)
}

fn dev_token(dir: &std::path::Path, database_url: Option<&str>) -> String {
    let mut command = Command::new(BIN);
    command
        .args(["token", "dev", "--role", "immigration"])
        .env("PORA_DATA_DIR", dir);
    if let Some(url) = database_url {
        command.env("PORA_DATABASE_URL", url);
    }
    let out = command.output().expect("token dev");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

async fn killed_under_load(database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, url) = start(dir.path(), database_url.as_deref());
    let token = dev_token(dir.path(), database_url.as_deref());
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let progress = Arc::new(Notify::new());
    let client = reqwest::Client::new();
    let mut load = Vec::new();
    for worker in 0..8 {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        let (answered, progress) = (answered.clone(), progress.clone());
        load.push(tokio::spawn(async move {
            for i in 0.. {
                let query = format!(
                    "{{ persons(first: {}) {{ nodes {{ id initials }} }} }}",
                    1 + (worker + i) % 7
                );
                let Ok(response) = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "query": query }))
                    .send()
                    .await
                else {
                    break; // the gateway is gone
                };
                let id = response
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let ok = response.status().is_success();
                // An answer counts as received only once its whole body has arrived.
                if response.bytes().await.is_ok() && ok {
                    answered.lock().expect("lock").push(id.expect("request id"));
                    progress.notify_one();
                }
            }
        }));
    }
    while answered.lock().expect("lock").len() < 200 {
        progress.notified().await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    for task in load {
        task.await.expect("load task");
    }

    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}?mode=rw", dir.path().join("pora.db").display()));
    let db = Database::connect(&url).await.expect("database");
    let answered = answered.lock().expect("lock").clone();
    assert!(answered.len() >= 200);
    for id in &answered {
        let event = audit_event::Entity::find()
            .filter(audit_event::Column::RequestId.eq(id.as_str()))
            .one(&db)
            .await
            .expect("query");
        assert!(
            event.is_some(),
            "request {id} was answered but has no audit event"
        );
    }
    assert!(matches!(
        gateway::audit::verify(&db).await.expect("verify"),
        gateway::audit::Verification::Intact { .. }
    ));
    println!(
        "{} answers before SIGKILL, each with its event",
        answered.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_sigkill_under_load_loses_no_answered_event() {
    killed_under_load(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn postgres_sigkill_under_load_loses_no_answered_event() {
    let admin_url = std::env::var("PORA_TEST_POSTGRES_URL").expect("PORA_TEST_POSTGRES_URL");
    let admin = Database::connect(&admin_url)
        .await
        .expect("PostgreSQL reachable");
    let name = format!("pora_t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let base = admin_url.rsplit_once('/').expect("URL with a database").0;
    killed_under_load(Some(format!("{base}/{name}"))).await;
}
