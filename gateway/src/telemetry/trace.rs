//! Traces: each request's W3C trace context (`traceparent`/`tracestate`), and, when
//! `otlp_endpoint` is set, spans exported over OTLP/HTTP (JSON): one per request, with children
//! for the token check, parse and validation, execution with one span per SQL statement (its
//! text, never its values), and the audit commit. Attributes are coordinates (role, agency,
//! operation type and name, status), never personal data. Without `otlp_endpoint` no exporter
//! exists and nothing is sent anywhere.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The span exporter of one gateway, if it has one.
#[derive(Clone, Default)]
pub struct Tracing {
    exporter: Option<(SdkTracerProvider, SdkTracer)>,
}

#[derive(Debug, thiserror::Error)]
#[error("otlp_endpoint {0}: {1}")]
pub struct TracingError(String, String);

impl Tracing {
    /// No export: trace ids are still read from `traceparent` for the logs.
    pub fn off() -> Tracing {
        Tracing::default()
    }

    /// Exports to `endpoint` (a collector's OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318`;
    /// `/v1/traces` is added unless given).
    pub fn otlp(endpoint: &str) -> Result<Tracing, TracingError> {
        use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
        let url = if endpoint.trim_end_matches('/').ends_with("/v1/traces") {
            endpoint.to_owned()
        } else {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        };
        let fail = |e: String| TracingError(endpoint.to_owned(), e);
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(url)
            .with_timeout(Duration::from_secs(5))
            .with_http_client(BlockingClient::new().map_err(fail)?)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let processor = opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                opentelemetry_sdk::trace::BatchConfigBuilder::default()
                    .with_scheduled_delay(Duration::from_millis(500))
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("pora-gateway")
                    .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("pora-gateway");
        Ok(Tracing {
            exporter: Some((provider, tracer)),
        })
    }

    pub fn exporting(&self) -> bool {
        self.exporter.is_some()
    }

    /// Sends the spans still buffered (at shutdown).
    pub fn flush(&self) {
        if let Some((provider, _)) = &self.exporter {
            let _ = provider.force_flush();
        }
    }

    /// The trace of one request: its parent from `traceparent` (a malformed one is ignored, as
    /// the W3C specification asks), its root span started now.
    pub fn request(&self, headers: &HeaderMap, method: &str, path: &str) -> RequestTrace {
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        let remote = parent.span().span_context().clone();
        match &self.exporter {
            Some((_, tracer)) => {
                let span = tracer
                    .span_builder(format!("{method} {path}"))
                    .with_kind(SpanKind::Server)
                    .with_attributes([
                        KeyValue::new("http.request.method", method.to_owned()),
                        KeyValue::new("url.path", path.to_owned()),
                    ])
                    .start_with_context(tracer, &parent);
                let trace_id = span.span_context().trace_id().to_string();
                RequestTrace {
                    trace_id,
                    inner: Some(Arc::new(Live {
                        tracer: tracer.clone(),
                        root: parent.with_span(span),
                    })),
                }
            }
            None => RequestTrace {
                trace_id: if remote.is_valid() {
                    remote.trace_id().to_string()
                } else {
                    String::new()
                },
                inner: None,
            },
        }
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct Live {
    tracer: SdkTracer,
    root: Context,
}

/// One request's trace: its id (for the access log; empty when the request has none and
/// nothing is exported), and its spans when exporting.
#[derive(Clone)]
pub struct RequestTrace {
    pub trace_id: String,
    inner: Option<Arc<Live>>,
}

impl RequestTrace {
    /// A request with no trace (commands, tests of parts).
    pub fn none() -> RequestTrace {
        RequestTrace {
            trace_id: String::new(),
            inner: None,
        }
    }

    /// Records a finished step of the request as a child span.
    pub fn step(&self, name: &'static str, started: SystemTime, attributes: Vec<KeyValue>) {
        if let Some(live) = &self.inner {
            record(&live.tracer, &live.root, name, started, attributes);
        }
    }

    /// A step whose own children are recorded while it runs (execution and its statements).
    pub fn open(&self, name: &'static str) -> OpenStep {
        OpenStep {
            inner: self.inner.as_ref().map(|live| {
                let span = live.tracer.start_with_context(name, &live.root);
                (live.tracer.clone(), live.root.with_span(span))
            }),
        }
    }

    /// Ends the request's span with what was answered.
    pub fn finish(&self, status: u16, attributes: Vec<KeyValue>) {
        if let Some(live) = &self.inner {
            let span = live.root.span();
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            for attribute in attributes {
                span.set_attribute(attribute);
            }
            if status >= 500 {
                span.set_status(Status::error(format!("HTTP {status}")));
            }
            span.end();
        }
    }
}

fn record(
    tracer: &SdkTracer,
    parent: &Context,
    name: &'static str,
    started: SystemTime,
    attributes: Vec<KeyValue>,
) {
    let mut span = tracer
        .span_builder(name)
        .with_start_time(started)
        .with_attributes(attributes)
        .start_with_context(tracer, parent);
    span.end_with_timestamp(SystemTime::now());
}

/// A step in progress; its children are statements. Ends when dropped.
pub struct OpenStep {
    inner: Option<(SdkTracer, Context)>,
}

impl OpenStep {
    pub fn end(self) {}
}

impl Drop for OpenStep {
    fn drop(&mut self) {
        if let Some((_, cx)) = &self.inner {
            cx.span().end();
        }
    }
}

/// Each SQL statement of a request's execution as a span under the execution step.
pub struct StatementSpans {
    step: Option<(SdkTracer, Context)>,
}

impl StatementSpans {
    /// Statement spans under `step`; `None` when nothing is exported.
    pub fn under(step: &OpenStep) -> Option<StatementSpans> {
        step.inner
            .clone()
            .map(|step| StatementSpans { step: Some(step) })
    }
}

impl schema::engine::StatementObserver for StatementSpans {
    fn statement(&self, sql: &str, started: SystemTime, elapsed: Duration, ok: bool) {
        if let Some((tracer, cx)) = &self.step {
            let mut span = tracer
                .span_builder("sql")
                .with_kind(SpanKind::Client)
                .with_start_time(started)
                .with_attributes([KeyValue::new("db.query.text", sql.to_owned())])
                .start_with_context(tracer, cx);
            if !ok {
                span.set_status(Status::error("statement failed"));
            }
            span.end_with_timestamp(started + elapsed);
        }
    }
}

/// opentelemetry-otlp's exporter runs on its own thread, off the async runtime: a blocking
/// client (this workspace's reqwest) serves it.
#[derive(Debug)]
struct BlockingClient(reqwest::blocking::Client);

impl BlockingClient {
    fn new() -> Result<BlockingClient, String> {
        // A blocking client must be built (and dropped) off the async runtime.
        std::thread::spawn(|| {
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
        })
        .join()
        .map_err(|_| "cannot build the HTTP client".to_owned())?
        .map(BlockingClient)
        .map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for BlockingClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let mut outgoing = self.0.post(parts.uri.to_string()).body(body.to_vec());
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
        let response = outgoing.send()?;
        let status = response.status().as_u16();
        let body = response.bytes()?;
        Ok(http::Response::builder().status(status).body(body)?)
    }
}
