//! Metrics for `/metrics`, kept by `metrics` and rendered by `metrics-exporter-prometheus`.
//!
//! Each application holds its own recorder (not the process-wide one), so several gateways in
//! one process (the tests) never mix their series. Gauges that describe a state (pool, audit
//! queue, caches) are read when `/metrics` is asked.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Seconds: from a fast statement to a statement timeout.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Statements per request.
const STATEMENTS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 50.0, 100.0];

/// The metrics of one gateway process.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    in_flight: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Every series, with what it counts (the `# HELP` lines, and docs/operations.md).
const DESCRIPTIONS: &[(&str, Kind, &str)] = &[
    (
        "pora_build_info",
        Kind::Gauge,
        "Always 1; `version` is the gateway's.",
    ),
    (
        "pora_http_requests_total",
        Kind::Counter,
        "GraphQL requests answered, by role, operation type, outcome and HTTP status.",
    ),
    (
        "pora_http_request_duration_seconds",
        Kind::Histogram,
        "Time from request to answer (audit commit included), by role and operation type.",
    ),
    (
        "pora_request_sql_statements",
        Kind::Histogram,
        "SQL statements a request's execution sent, by role and operation type.",
    ),
    (
        "pora_requests_in_flight",
        Kind::Gauge,
        "GraphQL requests being answered now.",
    ),
    (
        "pora_graphql_requests_total",
        Kind::Counter,
        "GraphQL operations executed.",
    ),
    (
        "pora_refused_requests_total",
        Kind::Counter,
        "Requests refused before execution, by code.",
    ),
    (
        "pora_token_refusals_total",
        Kind::Counter,
        "Requests refused for their token, by code.",
    ),
    (
        "pora_rate_limited_total",
        Kind::Counter,
        "Requests answered 429, by the limit they hit.",
    ),
    (
        "pora_sql_statements_total",
        Kind::Counter,
        "SQL statements sent to the database (audit and token checks included).",
    ),
    (
        "pora_sql_statement_failures_total",
        Kind::Counter,
        "SQL statements that failed.",
    ),
    (
        "pora_sql_statement_duration_seconds",
        Kind::Histogram,
        "Duration of each SQL statement.",
    ),
    (
        "pora_db_pool_connections",
        Kind::Gauge,
        "Database connections of the pool, by state (idle, in_use).",
    ),
    (
        "pora_db_pool_max_connections",
        Kind::Gauge,
        "Most connections the pool opens (max_connections).",
    ),
    (
        "pora_audit_queue_depth",
        Kind::Gauge,
        "Audit events waiting for the writer.",
    ),
    (
        "pora_audit_commit_duration_seconds",
        Kind::Histogram,
        "Duration of each audit group commit.",
    ),
    (
        "pora_audit_events_total",
        Kind::Counter,
        "Audit events committed by the writer.",
    ),
    (
        "pora_audit_commit_failures_total",
        Kind::Counter,
        "Audit events that could not be committed (their requests got 503).",
    ),
    (
        "pora_scoped_schemas",
        Kind::Gauge,
        "Schemas cached for distinct token scope sets.",
    ),
    (
        "pora_scoped_schemas_built_total",
        Kind::Counter,
        "Schemas built for distinct token scope sets.",
    ),
    (
        "pora_heavy_in_flight",
        Kind::Gauge,
        "Heavy operations executing now (max_heavy_in_flight permits).",
    ),
    (
        "pora_shutdown_cut_off_total",
        Kind::Counter,
        "Requests answered 503 because shutdown_timeout passed.",
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|(k, v)| Label::new(*k, (*v).to_owned()))
            .collect::<Vec<_>>(),
    )
}

impl Metrics {
    pub fn new() -> Metrics {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("pora_request_sql_statements".into()),
                    STATEMENTS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        for (name, kind, help) in DESCRIPTIONS {
            let unit = name.ends_with("_seconds").then_some(Unit::Seconds);
            match kind {
                Kind::Counter => recorder.describe_counter((*name).into(), unit, (*help).into()),
                Kind::Gauge => recorder.describe_gauge((*name).into(), unit, (*help).into()),
                Kind::Histogram => {
                    recorder.describe_histogram((*name).into(), unit, (*help).into())
                }
            }
        }
        let metrics = Metrics {
            recorder,
            handle,
            in_flight: std::sync::atomic::AtomicUsize::new(0),
        };
        metrics
            .gauge("pora_build_info", &[("version", env!("CARGO_PKG_VERSION"))])
            .set(1.0);
        // Series that alerts compare against exist from the start, at zero.
        for name in [
            "pora_sql_statements_total",
            "pora_sql_statement_failures_total",
            "pora_graphql_requests_total",
            "pora_audit_events_total",
            "pora_audit_commit_failures_total",
            "pora_scoped_schemas_built_total",
            "pora_shutdown_cut_off_total",
        ] {
            metrics.counter(name, &[]).absolute(0);
        }
        metrics
    }

    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.recorder
            .register_counter(&key(name, labels), &METADATA)
    }

    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        self.recorder.register_gauge(&key(name, labels), &METADATA)
    }

    pub fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Histogram {
        self.recorder
            .register_histogram(&key(name, labels), &METADATA)
    }

    /// A request being answered, until the guard is dropped.
    pub fn enter(&self) -> InFlight<'_> {
        let now = self
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        self.gauge("pora_requests_in_flight", &[]).set(now as f64);
        InFlight(self)
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One answered GraphQL request.
    pub fn request(&self, answered: &Answered<'_>) {
        let status = answered.status.to_string();
        self.counter(
            "pora_http_requests_total",
            &[
                ("role", answered.role),
                ("operation_type", answered.operation_type),
                ("outcome", answered.outcome),
                ("status", &status),
            ],
        )
        .increment(1);
        let labels = [
            ("role", answered.role),
            ("operation_type", answered.operation_type),
        ];
        self.histogram("pora_http_request_duration_seconds", &labels)
            .record(answered.duration.as_secs_f64());
        if let Some(statements) = answered.sql_statements {
            self.histogram("pora_request_sql_statements", &labels)
                .record(statements as f64);
        }
    }

    /// One SQL statement, as the database connection reports it.
    pub fn sql_statement(&self, elapsed: std::time::Duration, failed: bool) {
        self.counter("pora_sql_statements_total", &[]).increment(1);
        self.histogram("pora_sql_statement_duration_seconds", &[])
            .record(elapsed.as_secs_f64());
        if failed {
            self.counter("pora_sql_statement_failures_total", &[])
                .increment(1);
        }
    }

    pub fn graphql_request(&self) {
        self.counter("pora_graphql_requests_total", &[])
            .increment(1);
    }

    pub fn scoped_schema_built(&self) {
        self.counter("pora_scoped_schemas_built_total", &[])
            .increment(1);
    }

    /// A request refused before execution.
    pub fn refused(&self, code: &'static str) {
        self.counter("pora_refused_requests_total", &[("code", code)])
            .increment(1);
    }

    /// Drains the histograms' raw samples into their buckets every five seconds. The exporter
    /// keeps every observation until its upkeep runs, and without this it runs only when
    /// `/metrics` is scraped: an unscraped gateway grew by about 16 bytes per SQL statement.
    pub fn start_upkeep(self: &Arc<Self>) {
        let metrics = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                let Some(metrics) = metrics.upgrade() else {
                    return;
                };
                metrics.handle.run_upkeep();
            }
        });
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// What one answered request adds to the metrics.
pub struct Answered<'a> {
    /// The token's role, or `none` before one is known.
    pub role: &'a str,
    /// `query`, `mutation`, `subscription`, or `none` before the document is read.
    pub operation_type: &'a str,
    pub outcome: &'a str,
    pub status: u16,
    pub duration: std::time::Duration,
    pub sql_statements: Option<u64>,
}

/// Counts a request in flight while it lives.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let now = self
            .0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(1);
        self.0.gauge("pora_requests_in_flight", &[]).set(now as f64);
    }
}
