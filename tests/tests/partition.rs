//! When the network to PostgreSQL is cut without closing anything (a partition, not a dead
//! server), the gateway still answers within its timeouts: liveness at once, readiness and
//! GraphQL with a typed 503, and it recovers by itself when the network heals. A database URL
//! whose server does not listen stops the start at once, saying so and where, without the
//! password.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::{Application, Config};
use pora_tests::proxy::Proxy;
use pora_tests::{Backend, TestApp, spawn_with};
use sea_orm::{ConnectionTrait, Database};

/// Longer than any bound asserted here: past it, a request counts as hung.
const HANG: Duration = Duration::from_secs(15);

const QUERY: &str = "{ persons(first: 1) { totalCount } }";

/// Awaits `what`, failing the test if it hangs; returns its output and how long it took.
async fn timed<T>(what: &str, future: impl Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let output = tokio::time::timeout(HANG, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {HANG:?}"));
    (output, start.elapsed())
}

/// `GET path`: the status and the body.
async fn probe(app: &TestApp, path: &str) -> (u16, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// A fresh database on the server of `PORA_TEST_POSTGRES_URL` (created directly, not through
/// a proxy), a proxy in front of that server, and the database's URL through the proxy.
async fn proxied_fresh_database() -> (Proxy, String) {
    let admin_url = std::env::var("PORA_TEST_POSTGRES_URL")
        .expect("PORA_TEST_POSTGRES_URL must be set for the PostgreSQL leg");
    let (scheme, rest) = admin_url.split_once("://").expect("URL with a scheme");
    let (authority, path) = rest.split_once('/').expect("URL with a database name");
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let query = path
        .split_once('?')
        .map_or(String::new(), |(_, q)| format!("?{q}"));
    let server: SocketAddr = tokio::net::lookup_host(&host_port)
        .await
        .expect("resolve the PostgreSQL server")
        .next()
        .expect("an address of the PostgreSQL server");

    let admin = Database::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at PORA_TEST_POSTGRES_URL: {e}"));
    let name = format!("pora_t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");

    let proxy = Proxy::start(server).await;
    let url = format!("{scheme}://{userinfo}{}/{name}{query}", proxy.addr());
    (proxy, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn a_partitioned_database_is_answered_fast_and_recovers() {
    let (proxy, url) = proxied_fresh_database().await;
    let app = spawn_with(Backend::Postgres, |c| {
        c.database_url = Some(url);
        c.db_acquire_timeout = 1.0;
    })
    .await;
    let token = app.token("immigration");
    let (before, _) = timed("query before the partition", app.query(&token, QUERY)).await;
    assert_eq!(before.status, 200, "{}", before.body);

    proxy.stall();

    let ((status, body), took) = timed("/livez", probe(&app, "/livez")).await;
    eprintln!("partitioned: /livez {status} in {took:?}: {body}");
    assert_eq!(status, 200, "/livez never asks the database: {body}");
    assert!(took < Duration::from_secs(1), "/livez took {took:?}");

    for path in ["/readyz", "/healthz"] {
        let ((status, body), took) = timed(path, probe(&app, path)).await;
        eprintln!("partitioned: {path} {status} in {took:?}: {body}");
        assert_eq!(status, 503, "{path}: {body}");
        assert!(
            took < Duration::from_secs(3),
            "{path} took {took:?} (db_acquire_timeout 1 s + 0.5 s)"
        );
    }

    let (reply, took) = timed("query in the partition", app.query(&token, QUERY)).await;
    eprintln!(
        "partitioned: query {} in {took:?}: {}",
        reply.status, reply.body
    );
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        matches!(
            reply.code(),
            Some("SERVICE_UNAVAILABLE" | "TOKEN_STATUS_UNAVAILABLE" | "AUDIT_UNAVAILABLE")
        ),
        "{}",
        reply.body
    );
    assert!(
        reply.body.get("data").is_none_or(|d| d.is_null()),
        "no data without the database: {}",
        reply.body
    );
    assert!(took < Duration::from_secs(5), "the query took {took:?}");

    proxy.resume();
    let started = Instant::now();
    let mut last = None;
    for attempt in 1..=30 {
        let (reply, took) = timed("query after the partition", app.query(&token, QUERY)).await;
        if reply.status == 200 {
            eprintln!(
                "healed: query 200 at attempt {attempt} ({took:?}), {:?} after resume",
                started.elapsed()
            );
            last = None;
            break;
        }
        last = Some((reply.status, reply.body));
        // Pacing between attempts of a condition, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        last.is_none(),
        "no 200 within 30 attempts after resume; last answer: {last:?}"
    );
    let ((status, body), took) = timed("/readyz after the partition", probe(&app, "/readyz")).await;
    eprintln!("healed: /readyz {status} in {took:?}: {body}");
    assert_eq!(status, 200, "/readyz after recovery: {body}");
}

#[tokio::test]
async fn a_dead_database_url_at_start_says_connection_refused_quickly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    // The listener is dropped: nothing listens on `port` any more.
    let temp = tempfile::tempdir().expect("temp dir");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: temp.path().to_owned(),
        database_url: Some(format!("postgres://postgres:s3cret@127.0.0.1:{port}/x")),
        workers: 1,
        ..Config::default()
    };
    let (outcome, took) = timed("Application::build", Application::build(config)).await;
    let message = match outcome {
        Ok(_) => panic!("the gateway started with nothing listening at 127.0.0.1:{port}"),
        Err(e) => e.to_string(),
    };
    eprintln!("start failed in {took:?}: {message}");
    assert!(
        took < Duration::from_secs(3),
        "the start took {took:?} to fail"
    );
    assert!(message.contains("connection refused"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("s3cret"), "the password leaks: {message}");
}

/// A configured Redis store that does not answer stops the start at once, naming where, never
/// its password.
#[tokio::test]
async fn a_dead_redis_store_at_start_is_named_quickly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let temp = tempfile::tempdir().expect("temp dir");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: temp.path().to_owned(),
        rate_limit_store: Some(format!("redis://:s3cret@127.0.0.1:{port}")),
        workers: 1,
        ..Config::default()
    };
    let (outcome, took) = timed("Application::build", Application::build(config)).await;
    let message = match outcome {
        Ok(_) => panic!("the gateway started with no Redis at 127.0.0.1:{port}"),
        Err(e) => e.to_string(),
    };
    assert!(
        took < Duration::from_secs(5),
        "the start took {took:?} to fail"
    );
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("s3cret"), "the password leaks: {message}");
}
