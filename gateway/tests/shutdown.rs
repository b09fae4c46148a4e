//! SIGTERM, as an orchestrator sends it: no new connection is taken, a request in flight that
//! finishes within `shutdown_timeout` gets its answer, one still running at the deadline is
//! answered 503 `SHUTTING_DOWN` (never a dropped connection), the process exits 0 and logs
//! what it cut off. Runs the real binary; the test holds a request in flight by holding the
//! audit chain's lock (SQLite's write lock, PostgreSQL's advisory lock), and on PostgreSQL also
//! by stalling a TCP proxy between the gateway and the database.

#[path = "../../tests/src/proxy.rs"]
#[allow(dead_code)]
mod proxy;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, TransactionTrait,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pora-gateway");
/// The audit chain's advisory lock key ("PORA").
const CHAIN_LOCK: i64 = 0x504f_5241;

struct Gateway {
    child: Child,
    url: String,
    base: String,
    logs: Receiver<Value>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, database_url: Option<&str>, shutdown_timeout: &str) -> Gateway {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env("PORA_DATA_DIR", dir)
        .env("PORA_LISTEN", "127.0.0.1:0")
        .env("PORA_LOG", "info")
        .env("PORA_LOG_FORMAT", "json")
        .env("PORA_SHUTDOWN_TIMEOUT", shutdown_timeout)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = database_url {
        command
            .env("PORA_DATABASE_URL", url)
            .env("PORA_DEMO_DATA", "true");
    }
    let mut child = command.spawn().expect("start the gateway");
    let url = support::listening_url(&mut child);
    let (sender, logs) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(json) = serde_json::from_str::<Value>(&line) {
                let _ = sender.send(json);
            }
        }
    });
    let base = url.trim_end_matches("/graphql").to_owned();
    Gateway {
        child,
        url,
        base,
        logs,
    }
}

impl Gateway {
    /// Waits (up to 30 s) for the log line `found` accepts; the lines before it are returned.
    fn log_until(&self, found: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .logs
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no such log line; saw {seen:#?}"));
            let hit = found(&line);
            seen.push(line);
            if hit {
                return seen;
            }
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, within `limit`.
    fn exit_within(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not exit within {limit:?}"
            );
            std::thread::yield_now();
        }
    }

    /// Polls `/metrics` until a request is in flight.
    async fn until_in_flight(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = client
                .get(format!("{}/metrics", self.base))
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            if text
                .lines()
                .any(|l| l.trim() == "pora_requests_in_flight 1")
            {
                return;
            }
            assert!(Instant::now() < deadline, "the request never got in flight");
            tokio::task::yield_now().await;
        }
    }
}

fn dev_token(dir: &std::path::Path, database_url: Option<&str>) -> String {
    let mut command = Command::new(BIN);
    command
        .args(["token", "dev", "--role", "police"])
        .env("PORA_DATA_DIR", dir);
    if let Some(url) = database_url {
        command.env("PORA_DATABASE_URL", url);
    }
    let out = command.output().expect("token dev");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

/// What keeps the request in flight.
enum Hold {
    /// The test holds the audit chain's lock: the request's audit commit waits for it.
    ChainLock(DatabaseConnection, DatabaseTransaction),
    /// Nothing passes between the gateway and PostgreSQL.
    Partition(proxy::Proxy),
}

async fn hold_chain_lock(url: &str) -> Hold {
    let db = Database::connect(url).await.expect("test connection");
    let txn = db.begin().await.expect("begin");
    let backend = txn.get_database_backend();
    let lock = match backend {
        sea_orm::DbBackend::Postgres => format!("SELECT pg_advisory_xact_lock({CHAIN_LOCK})"),
        // A write takes SQLite's write lock until the transaction ends.
        _ => "UPDATE audit_events SET seq = seq WHERE 1 = 0".to_owned(),
    };
    txn.execute_raw(sea_orm::Statement::from_string(backend, lock))
        .await
        .expect("take the lock");
    Hold::ChainLock(db, txn)
}

async fn release(hold: Hold) {
    match hold {
        Hold::ChainLock(db, txn) => {
            txn.rollback().await.expect("rollback");
            db.close().await.expect("close");
        }
        Hold::Partition(proxy) => proxy.resume(),
    }
}

async fn post(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": "{ incidents(first: 2) { nodes { id } } }" }))
        .send()
        .await
        .expect("an answer, not a dropped connection");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// The database the gateway is told to use, and the test's own URL to the same database.
struct Store {
    gateway_url: Option<String>,
    test_url: String,
    proxy: Option<proxy::Proxy>,
}

async fn sqlite_store(dir: &std::path::Path) -> Store {
    Store {
        gateway_url: None,
        test_url: format!("sqlite://{}?mode=rw", dir.join("pora.db").display()),
        proxy: None,
    }
}

async fn postgres_store(through_proxy: bool) -> Store {
    let admin_url = std::env::var("PORA_TEST_POSTGRES_URL").expect("PORA_TEST_POSTGRES_URL");
    let admin = Database::connect(&admin_url)
        .await
        .expect("PostgreSQL reachable");
    let name = format!("pora_t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let server = admin_url.rsplit_once('/').expect("URL with a database").0;
    let test_url = format!("{server}/{name}");
    if !through_proxy {
        return Store {
            gateway_url: Some(test_url.clone()),
            test_url,
            proxy: None,
        };
    }
    let (user, host) = server.rsplit_once('@').expect("user@host:port");
    let proxy = proxy::Proxy::start(host.parse().expect("host:port")).await;
    Store {
        gateway_url: Some(format!("{user}@{}/{name}", proxy.addr())),
        test_url,
        proxy: Some(proxy),
    }
}

/// A request in flight when SIGTERM comes, done before the deadline: it gets its answer, and
/// no new connection is taken meanwhile.
async fn in_flight_request_finishes(store: Store, dir: tempfile::TempDir) {
    let mut gateway = start(dir.path(), store.gateway_url.as_deref(), "20");
    let token = dev_token(
        dir.path(),
        store.gateway_url.as_ref().map(|_| store.test_url.as_str()),
    );
    let client = reqwest::Client::new();
    assert_eq!(post(&client, &gateway.url, &token).await.0, 200);

    let hold = hold_chain_lock(&store.test_url).await;
    let held = tokio::spawn({
        let (client, url, token) = (client.clone(), gateway.url.clone(), token.clone());
        async move { post(&client, &url, &token).await }
    });
    gateway.until_in_flight(&client).await;
    gateway.terminate();
    gateway.log_until(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("stopping"))
            && l["in_flight"] == 1
    });
    // Stopped accepting: a new connection is refused while the request is still running.
    let address = gateway.base.trim_start_matches("http://").to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpStream::connect(&address).await {
            Err(_) => break,
            Ok(_) => assert!(Instant::now() < deadline, "still accepting connections"),
        }
        tokio::task::yield_now().await;
    }
    assert!(!held.is_finished());
    release(hold).await;
    let (status, body) = held.await.expect("held request");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["incidents"]["nodes"].as_array().map(Vec::len),
        Some(2)
    );
    let exit = gateway.exit_within(Duration::from_secs(20));
    assert!(exit.success(), "{exit:?}");
    drop(store.proxy);
}

/// A request still running at the deadline gets 503 `SHUTTING_DOWN`, and the log says so.
async fn request_running_at_the_deadline_is_answered_503(mut store: Store, dir: tempfile::TempDir) {
    let mut gateway = start(dir.path(), store.gateway_url.as_deref(), "1");
    let token = dev_token(
        dir.path(),
        store.gateway_url.as_ref().map(|_| store.test_url.as_str()),
    );
    let client = reqwest::Client::new();
    assert_eq!(post(&client, &gateway.url, &token).await.0, 200);

    let hold = match store.proxy.take() {
        Some(proxy) => {
            proxy.stall();
            Hold::Partition(proxy)
        }
        None => hold_chain_lock(&store.test_url).await,
    };
    let held = tokio::spawn({
        let (client, url, token) = (client.clone(), gateway.url.clone(), token.clone());
        async move { post(&client, &url, &token).await }
    });
    gateway.until_in_flight(&client).await;
    let signalled = Instant::now();
    gateway.terminate();
    let (status, body) = held.await.expect("held request");
    let waited = signalled.elapsed();
    assert_eq!(status, 503, "{body}");
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "SHUTTING_DOWN");
    let request_id = error["extensions"]["requestId"]
        .as_str()
        .expect("request id")
        .to_owned();
    assert!(
        waited >= Duration::from_secs(1),
        "answered before the deadline: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(8),
        "answered long after the deadline: {waited:?}"
    );
    let lines = gateway.log_until(|l| l["message"] == "stopped");
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("shutdown_timeout passed"))
            && l["cut_off"] == 1),
        "the log says one request was cut off: {lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l["target"] == "pora::access"
            && l["request_id"] == request_id.as_str()
            && l["status"] == 503
            && l["outcome"] == "cut_off"),
        "the cut-off request has its access line"
    );
    let exit = gateway.exit_within(Duration::from_secs(10));
    assert!(exit.success(), "{exit:?}");
    release(hold).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_flight_request_finishes_after_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite_store(dir.path()).await;
    in_flight_request_finishes(store, dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_request_running_at_the_deadline_is_answered_503() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite_store(dir.path()).await;
    request_running_at_the_deadline_is_answered_503(store, dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn postgres_in_flight_request_finishes_after_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    in_flight_request_finishes(postgres_store(false).await, dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn postgres_request_stalled_on_the_database_is_answered_503_at_the_deadline() {
    let dir = tempfile::tempdir().expect("temp dir");
    request_running_at_the_deadline_is_answered_503(postgres_store(true).await, dir).await;
}
