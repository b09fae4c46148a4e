//! What an operator sees: `/metrics` parsed as Prometheus text after a known set of requests,
//! `/metrics` on its own address, and request traces received over OTLP/HTTP by a small
//! receiver this test runs on loopback, with the trace id a caller sent in `traceparent`.

use std::collections::BTreeMap;

use pora_tests::otlp::attribute;
use pora_tests::{Backend, Config, TestApp, on_both_databases, spawn_with};
use serde_json::Value;

/// One sample of the Prometheus text format: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Reads the Prometheus text exposition format (names, `{k="v",…}`, value), written here
/// rather than taken from the exporter, so the test checks what a scraper would read.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value.parse().expect("a numeric value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels close");
                let mut labels = BTreeMap::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (key, after) = rest.split_once("=\"").expect("label key");
                    let mut value = String::new();
                    let mut chars = after.char_indices();
                    let mut end = after.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, n)) = chars.next() {
                                    value.push(n);
                                }
                            }
                            '"' => {
                                end = i + 1;
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    labels.insert(key.to_owned(), value);
                    rest = after[end..].trim_start_matches(',');
                }
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

/// The value of the series `name` with exactly these labels (others absent), if present.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == wanted)
        .map(|s| s.value)
}

async fn scrape(app: &TestApp, base: &str) -> Vec<Sample> {
    let response = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    parse_prometheus(&response.text().await.expect("text"))
}

async fn labelled_series_count_a_known_set_of_requests(app: TestApp) {
    let police = app.token("police");
    let kesbangpol = app.token("kesbangpol");
    for _ in 0..3 {
        let reply = app
            .query(&police, "{ incidents(first: 2) { nodes { id } } }")
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    let reply = app.query(&kesbangpol, "{ viewer { role } }").await;
    assert_eq!(reply.status, 200);
    // A field police does not have: a validation error.
    let reply = app
        .query(&police, "{ persons { nodes { religion } } }")
        .await;
    assert_eq!(reply.status, 400);
    // No token, and a forged one.
    let reply = app
        .post_raw(
            None,
            "application/json",
            br#"{"query":"{ viewer { role } }"}"#.to_vec(),
        )
        .await;
    assert_eq!(reply.status, 401);
    let reply = app.query("not.a.token", "{ viewer { role } }").await;
    assert_eq!(reply.status, 401);
    // A scoped token builds (and caches) one narrowed schema.
    let scoped = app.token_with_scope("police", "Incident");
    let reply = app
        .query(&scoped, "{ incidents(first: 1) { nodes { id } } }")
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    let m = scrape(&app, &app.base).await;
    let requests = |role: &str, kind: &str, outcome: &str, status: &str| {
        value(
            &m,
            "pora_http_requests_total",
            &[
                ("role", role),
                ("operation_type", kind),
                ("outcome", outcome),
                ("status", status),
            ],
        )
    };
    assert_eq!(requests("police", "query", "ok", "200"), Some(4.0));
    assert_eq!(requests("kesbangpol", "query", "ok", "200"), Some(1.0));
    assert_eq!(requests("police", "query", "rejected", "400"), Some(1.0));
    assert_eq!(requests("none", "none", "denied", "401"), Some(2.0));
    assert_eq!(
        value(
            &m,
            "pora_token_refusals_total",
            &[("code", "TOKEN_MISSING")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "pora_token_refusals_total",
            &[("code", "TOKEN_INVALID")]
        ),
        Some(1.0)
    );
    let police_query = [("role", "police"), ("operation_type", "query")];
    // Every police query answered has its duration and its statement count.
    assert_eq!(
        value(
            &m,
            "pora_http_request_duration_seconds_count",
            &police_query
        ),
        Some(5.0)
    );
    assert_eq!(
        value(&m, "pora_request_sql_statements_count", &police_query),
        Some(5.0)
    );
    // Four pages of incidents sent at least one statement each; the refused one none.
    assert!(value(&m, "pora_request_sql_statements_sum", &police_query).unwrap() >= 4.0);
    let statements = value(&m, "pora_sql_statements_total", &[]).unwrap();
    assert!(statements >= 4.0);
    assert_eq!(
        value(&m, "pora_sql_statement_duration_seconds_count", &[]),
        Some(statements),
        "every statement has its duration"
    );
    assert_eq!(
        value(&m, "pora_sql_statement_failures_total", &[]),
        Some(0.0)
    );
    // Six answers were audited one by one (the two token refusals are counted, not chained).
    assert!(value(&m, "pora_audit_events_total", &[]).unwrap() >= 6.0);
    assert!(value(&m, "pora_audit_commit_duration_seconds_count", &[]).unwrap() >= 1.0);
    assert_eq!(
        value(&m, "pora_audit_commit_failures_total", &[]),
        Some(0.0)
    );
    assert_eq!(value(&m, "pora_audit_queue_depth", &[]), Some(0.0));
    assert_eq!(value(&m, "pora_scoped_schemas", &[]), Some(1.0));
    assert_eq!(value(&m, "pora_requests_in_flight", &[]), Some(0.0));
    let idle = value(&m, "pora_db_pool_connections", &[("state", "idle")]).unwrap();
    let in_use = value(&m, "pora_db_pool_connections", &[("state", "in_use")]).unwrap();
    let max = value(&m, "pora_db_pool_max_connections", &[]).unwrap();
    assert!(
        idle + in_use >= 1.0 && idle + in_use <= max,
        "{idle} + {in_use} of {max}"
    );
    let build = m
        .iter()
        .find(|s| s.name == "pora_build_info")
        .expect("build info");
    assert_eq!(build.value, 1.0);
    assert!(!build.labels["version"].is_empty());
    // Histogram buckets are cumulative up to +Inf, which equals the count.
    let inf = m
        .iter()
        .find(|s| {
            s.name == "pora_http_request_duration_seconds_bucket"
                && s.labels.get("role").map(String::as_str) == Some("police")
                && s.labels.get("le").map(String::as_str) == Some("+Inf")
        })
        .expect("+Inf bucket");
    assert_eq!(inf.value, 5.0);
}

async fn rate_limited_requests_are_counted_by_limit(app: TestApp) {
    let token = app.token("police");
    let mut limited = 0;
    for _ in 0..4 {
        if app.query(&token, "{ viewer { role } }").await.status == 429 {
            limited += 1;
        }
    }
    assert_eq!(limited, 2, "two of four over a limit of two a minute");
    let m = scrape(&app, &app.base).await;
    assert_eq!(
        value(&m, "pora_rate_limited_total", &[("limit", "requests")]),
        Some(2.0)
    );
    assert_eq!(
        m.iter()
            .filter(|s| s.name == "pora_http_requests_total"
                && s.labels.get("status").map(String::as_str) == Some("429"))
            .map(|s| s.value)
            .sum::<f64>(),
        2.0
    );
}

fn two_requests_a_minute(c: &mut Config) {
    c.rate_limits.requests_per_minute = 2;
}

on_both_databases!(labelled_series_count_a_known_set_of_requests);

mod limited {
    use super::*;
    on_both_databases!(config = two_requests_a_minute; rate_limited_requests_are_counted_by_limit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_have_an_address_of_their_own() {
    let app = spawn_with(Backend::Sqlite, |c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    let reply = app.query(&app.token("police"), "{ viewer { role } }").await;
    assert_eq!(reply.status, 200);
    let api = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics on the API address");
    assert_eq!(api.status(), 404, "not beside the API any more");
    let base = app.metrics_base.clone().expect("metrics address");
    let m = scrape(&app, &base).await;
    assert_eq!(
        value(
            &m,
            "pora_http_requests_total",
            &[
                ("role", "police"),
                ("operation_type", "query"),
                ("outcome", "ok"),
                ("status", "200")
            ]
        ),
        Some(1.0)
    );
}

async fn traces_follow_traceparent_to_the_collector(backend: Backend) {
    let (endpoint, mut exports) = pora_tests::otlp::receiver().await;
    let app = spawn_with(backend, move |c| c.otlp_endpoint = Some(endpoint)).await;
    let token = app.token("police");
    let trace_id = "4bf92f3577b34da6a3ce929b0e0e4736";
    let parent = "00f067aa0ba902b7";
    let reply = app
        .query_with_headers(
            &token,
            "{ incidents(first: 3) { nodes { id } } }",
            &[("traceparent", &format!("00-{trace_id}-{parent}-01"))],
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let returned: Vec<String> = reply.data()["incidents"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(!returned.is_empty());

    // The exporter sends within a second; wait for the whole trace (the root ends last).
    let mut spans: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !spans
        .iter()
        .any(|s| s["parentSpanId"] == parent && s["traceId"] == trace_id)
    {
        let export = tokio::time::timeout_at(deadline, exports.recv())
            .await
            .expect("the trace reaches the collector within 20 s")
            .expect("receiver open");
        spans.extend(pora_tests::otlp::spans_of(&export));
    }
    let ours: Vec<&Value> = spans.iter().filter(|s| s["traceId"] == trace_id).collect();
    let root = ours
        .iter()
        .find(|s| s["parentSpanId"] == parent)
        .expect("the request's span continues the caller's trace");
    assert_eq!(root["name"], "POST /graphql");
    assert_eq!(root["kind"], 2, "a server span");
    // OTLP/JSON writes 64-bit integers as strings.
    let status = &attribute(root, "http.response.status_code").expect("status")["intValue"];
    assert!(status == "200" || status == 200, "{status}");
    assert_eq!(
        attribute(root, "pora.request_id").map(|v| v["stringValue"].clone()),
        Some(Value::from(reply.request_id.clone()))
    );
    assert_eq!(
        attribute(root, "pora.role").map(|v| v["stringValue"].clone()),
        Some(Value::from("police"))
    );
    let root_id = root["spanId"].clone();
    let child = |name: &str| {
        ours.iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("a `{name}` span"))
    };
    for name in [
        "token check",
        "parse and validate",
        "execute",
        "audit commit",
    ] {
        assert_eq!(
            child(name)["parentSpanId"],
            root_id,
            "{name} is the request's child"
        );
    }
    let execute_id = child("execute")["spanId"].clone();
    let statements: Vec<&&Value> = ours.iter().filter(|s| s["name"] == "sql").collect();
    assert_eq!(
        statements.len() as u64,
        reply.sql_statements.expect("x-sql-statements"),
        "one span per statement the request sent"
    );
    for statement in &statements {
        assert_eq!(statement["parentSpanId"], execute_id);
        let text = attribute(statement, "db.query.text").expect("statement text")["stringValue"]
            .as_str()
            .expect("text")
            .to_owned();
        assert!(text.to_ascii_uppercase().contains("SELECT"), "{text}");
    }
    // No personal data, no token and no answer value in any attribute of the trace.
    let everything = serde_json::to_string(&ours).expect("json");
    assert!(
        !everything.contains(&token),
        "the token never leaves in a span"
    );
    for id in &returned {
        assert!(
            !everything.contains(id.as_str()),
            "an answer value left in a span"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_traces_follow_traceparent_to_the_collector() {
    traces_follow_traceparent_to_the_collector(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn postgres_traces_follow_traceparent_to_the_collector() {
    traces_follow_traceparent_to_the_collector(Backend::Postgres).await;
}
