//! HTTP: the GraphQL-over-HTTP endpoint (`POST`/`GET /graphql`), health and metrics.
//!
//! async-graphql-actix-web answers 200 for invalid documents, reads bodies without a limit and
//! runs mutations over GET, so this thin layer is our own (see docs/architecture.md).

pub mod counters;
pub mod error;
pub mod headers;
pub mod ide;
pub mod rate_limit;
pub mod state;

use schema::error_code::{ErrorCode, InOperation};
use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::parser::types::OperationType;
use futures::{FutureExt, StreamExt};
use serde::Deserialize;

use crate::audit::{AuditRecord, Outcome, document_hash};
use crate::auth::{AuthError, ROUTER_ROLE};
use error::{GRAPHQL_RESPONSE, RequestError};
use schema::Engine;
pub use state::AppState;
use std::time::Instant;

/// The GraphQL-over-HTTP request parameters.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlParams {
    query: String,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    extensions: Option<serde_json::Value>,
}

/// Cross-origin access for the configured web origins: preflights answered, `Authorization`
/// and `Content-Type` allowed, no credentials mode (a token travels in `Authorization`, never in
/// a cookie). Other origins get no grant: their pages cannot read the answers.
pub fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static(ROUTER_TOKEN_HEADER),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::HeaderName::from_static("ratelimit-limit"),
            header::HeaderName::from_static("ratelimit-remaining"),
            header::HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(600)
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// The API's routes; `/metrics` too unless it has its own address (`metrics_listen`).
pub fn configure(cfg: &mut web::ServiceConfig, with_metrics: bool) {
    cfg.route("/graphql", web::post().to(graphql_post))
        .route("/graphql", web::get().to(graphql_get))
        .route("/healthz", web::get().to(ready))
        .route("/readyz", web::get().to(ready))
        .route("/livez", web::get().to(live))
        .route("/.well-known/jwks.json", web::get().to(jwks))
        .route("/", web::get().to(ide::page))
        .service(
            web::scope("/graphiql")
                .wrap(actix_web::middleware::Compress::default())
                .route("/{name}", web::get().to(ide::asset)),
        );
    if with_metrics {
        configure_metrics(cfg);
    }
}

/// `/metrics` (Prometheus text format).
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

/// The process is up and serving; the database is not asked.
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready to answer: the signing key is loaded, the database is reachable and the audit log can
/// be written (a write transaction on `audit_events` that changes nothing), within
/// `db_acquire_timeout`, whatever the database does.
/// A healthy answer is reused for this long, so probes (unauthenticated, possibly many) do
/// not take the audit log's write lock on every call.
const READY_FOR: std::time::Duration = std::time::Duration::from_secs(1);

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let fresh = state
        .ready_at
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_some_and(|at| at.elapsed() < READY_FOR);
    let outcome = if fresh {
        Ok(Ok(()))
    } else {
        let deadline = state.config.db_acquire_timeout() + std::time::Duration::from_millis(500);
        let check = async {
            // Tokens can be verified: the current signing key is loaded (a rotation by another
            // process is picked up first).
            state.auth.reload();
            let keys = state.auth.keys();
            keys.decoding_key(Some(keys.kid()))
                .ok_or("signing key not loaded")?;
            state.db.ping().await.map_err(|_| "database unavailable")?;
            crate::audit::probe_writable(&state.db)
                .await
                .map_err(|_| "audit log not writable")
        };
        tokio::time::timeout(deadline, check).await
    };
    *state.ready_at.lock().unwrap_or_else(|e| e.into_inner()) =
        matches!(outcome, Ok(Ok(()))).then(Instant::now);
    match outcome {
        Ok(Ok(())) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Ok(Err(reason)) => HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "5"))
            .json(serde_json::json!({"status": reason})),
        Err(_) => HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "5"))
            .json(serde_json::json!({"status": "database unavailable"})),
    }
}

/// The public keys that verify this gateway's tokens (JWKS, RFC 7517 / 8037).
async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    // A rotation by another process shows here at once.
    state.auth.reload();
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header((header::CACHE_CONTROL, "max-age=60"))
        .body(state.auth.keys().jwks().to_string())
}

/// The metrics, with the gauges of states read now (pool, audit queue, caches, permits).
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let m = &state.metrics;
    let heavy = state
        .config
        .heavy_in_flight()
        .saturating_sub(state.heavy.available_permits());
    m.gauge("pora_heavy_in_flight", &[]).set(heavy as f64);
    m.gauge("pora_audit_queue_depth", &[])
        .set(state.audit.queue_depth() as f64);
    m.gauge("pora_scoped_schemas", &[])
        .set(state.scoped.len() as f64);
    let (size, idle) = pool_counts(&state.db);
    m.gauge("pora_db_pool_connections", &[("state", "idle")])
        .set(f64::from(idle));
    m.gauge("pora_db_pool_connections", &[("state", "in_use")])
        .set(f64::from(size.saturating_sub(idle)));
    m.gauge("pora_db_pool_max_connections", &[])
        .set(f64::from(state.config.max_connections));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(m.render())
}

/// Open and idle connections of the database pool.
fn pool_counts(db: &sea_orm::DatabaseConnection) -> (u32, u32) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            )
        }
        sea_orm::DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            )
        }
        _ => (0, 0),
    }
}

/// The request's id: the caller's `x-request-id` when it is a sane one (1 to 128 printable
/// ASCII characters), else a new UUID. It is echoed, logged and audited.
fn request_id(req: &HttpRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// The client address of a request: the peer (never a forwarded header a client can forge),
/// an IPv6 one as its /64.
fn client_address(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| rate_limit::address_key(a.ip()))
}

/// One GraphQL request, answered within the shutdown deadline: `answer` does the work; the
/// access line, the metrics and the request's span are written here whatever happened.
async fn handle(
    req: &HttpRequest,
    state: &AppState,
    is_get: bool,
    params: impl std::future::Future<Output = Result<GraphqlParams, RequestError>>,
) -> HttpResponse {
    let id = request_id(req);
    let started = Instant::now();
    let trace = state
        .tracing
        .request(req.headers(), req.method().as_str(), req.path());
    let _in_flight = state.metrics.enter();
    let mut audit = AuditRecord::new(&id);
    let mut allowance = None;
    let mut deadline = state.shutdown.subscribe();
    let answered = {
        let work = answer(
            req,
            state,
            is_get,
            params,
            &id,
            started,
            &trace,
            &mut audit,
            &mut allowance,
        );
        tokio::select! {
            response = work => Some(response),
            () = async {
                // A closed channel (never while serving) is no deadline.
                if deadline.wait_for(|passed| *passed).await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => None,
        }
    };
    let cut_off = answered.is_none();
    let mut response = answered.unwrap_or_else(|| {
        state
            .metrics
            .counter("pora_shutdown_cut_off_total", &[])
            .increment(1);
        tracing::warn!(request_id = %id, "request cut off: shutdown_timeout passed");
        RequestError::ShuttingDown.response(&id)
    });
    if let Some(a) = allowance
        && response.status().is_success()
    {
        let headers = response.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", a.limit.to_string()),
            ("ratelimit-remaining", a.remaining.to_string()),
            ("ratelimit-reset", a.reset.as_secs().to_string()),
        ] {
            if let Ok(value) = header::HeaderValue::from_str(&value) {
                headers.insert(header::HeaderName::from_static(name), value);
            }
        }
    }
    let status = response.status().as_u16();
    let outcome = if cut_off {
        "cut_off"
    } else {
        match status {
            200..=299 => audit.outcome.as_str(),
            401 | 403 => "denied",
            429 => "rate_limited",
            400..=499 => "rejected",
            _ => "error",
        }
    };
    let sql_statements = response
        .headers()
        .get("x-sql-statements")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let role = audit.role.as_deref().unwrap_or("none");
    let operation_type = audit.operation_type.unwrap_or("none");
    state.metrics.request(&crate::telemetry::metrics::Answered {
        role,
        operation_type,
        outcome,
        status,
        duration: started.elapsed(),
        sql_statements,
    });
    trace.finish(
        status,
        vec![
            opentelemetry::KeyValue::new("pora.request_id", id.clone()),
            opentelemetry::KeyValue::new("pora.role", role.to_owned()),
            opentelemetry::KeyValue::new("pora.agency", audit.agency.clone().unwrap_or_default()),
            opentelemetry::KeyValue::new("graphql.operation.type", operation_type),
            opentelemetry::KeyValue::new(
                "graphql.operation.name",
                audit
                    .operation_name
                    .as_deref()
                    .map(crate::audit::storable)
                    .unwrap_or_default(),
            ),
            opentelemetry::KeyValue::new("pora.outcome", outcome),
        ],
    );
    AccessLine::of(req, &audit).log(&id, &response, started, outcome, &trace.trace_id, &audit);
    response
}

/// Authenticates, checks the token and the caller's rate limit, reads the parameters (only
/// then, so an unauthenticated caller's body is never read), executes, audits.
#[allow(clippy::too_many_arguments)]
async fn answer(
    req: &HttpRequest,
    state: &AppState,
    is_get: bool,
    params: impl std::future::Future<Output = Result<GraphqlParams, RequestError>>,
    id: &str,
    started: Instant,
    trace: &crate::telemetry::RequestTrace,
    audit: &mut AuditRecord,
    allowance: &mut Option<rate_limit::Allowance>,
) -> HttpResponse {
    let result: Result<HttpResponse, RequestError> = async {
        let checking = std::time::SystemTime::now();
        let checked = async {
            let session = state.auth.authenticate(auth_header(req)).await?;
            audit.session(&session);
            // The router first: a refusal of the agency's token still records who forwarded it.
            audit.via = router_of(req, state).await?;
            state
                .tokens
                .check(&session.token_id, &session.agency, session.issued_at)
                .await?;
            Ok::<_, RequestError>(session)
        }
        .await;
        trace.step("token check", checking, Vec::new());
        let session = checked?;
        *allowance = state
            .rate_limits
            .request(&session.role, &session.caller_key())
            .map_err(RequestError::RateLimited)?;
        let params = params.await?;
        execute(req, state, session, params, is_get, id, audit, trace).await
    }
    .await;
    let result = match result {
        Err(e) if e.is_counted_refusal() && matches!(e, RequestError::Auth(_)) => {
            Err(refusals_per_address(req, state, e).await)
        }
        other => other,
    };
    finish(
        state,
        audit,
        started,
        result,
        id,
        client_address(req),
        trace,
    )
    .await
}

/// What the access log says of a request (`pora::access`, one line per request): who and what,
/// never a token, a variable's value or a response value.
struct AccessLine {
    method: String,
    path: String,
    role: Option<String>,
    agency: Option<String>,
    token_id: Option<String>,
    operation_name: Option<String>,
    router: Option<String>,
}

impl AccessLine {
    fn of(req: &HttpRequest, audit: &AuditRecord) -> AccessLine {
        AccessLine {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            role: audit.role.clone(),
            agency: audit.agency.clone(),
            token_id: audit.token_id.clone(),
            operation_name: audit.operation_name.as_deref().map(crate::audit::storable),
            router: audit.via.clone(),
        }
    }

    fn log(
        self,
        id: &str,
        response: &HttpResponse,
        started: Instant,
        outcome: &str,
        trace_id: &str,
        audit: &AuditRecord,
    ) {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        tracing::info!(
            target: "pora::access",
            request_id = id,
            method = %self.method,
            path = %self.path,
            status = response.status().as_u16(),
            outcome,
            trace_id,
            operation_type = audit.operation_type.unwrap_or(""),
            rows = audit.row_count,
            role = self.role.as_deref().unwrap_or(""),
            agency = self.agency.as_deref().unwrap_or(""),
            token_id = self.token_id.as_deref().unwrap_or(""),
            operation_name = self.operation_name.as_deref().unwrap_or(""),
            router = self.router.as_deref().unwrap_or(""),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            sql_statements = %header("x-sql-statements"),
            cost = %header("x-pora-cost"),
            "request"
        );
    }
}

/// Counts a token refusal against the client's address, in the database (so every replica
/// counts into one allowance). Past `refusals_per_minute` the address's refused requests are
/// answered 429 instead: requests with a valid token from the same address are never refused
/// for it, so one client behind an agency's NAT cannot cut off its colleagues.
async fn refusals_per_address(
    req: &HttpRequest,
    state: &AppState,
    error: RequestError,
) -> RequestError {
    let per_minute = state.config.rate_limits.refusals_per_minute;
    // Only a token that is bad (forged, revoked, foreign) counts: a missing or expired one is
    // a client's ordinary life (it refreshes on 401), and a status that cannot be read now is
    // not the client's doing.
    if matches!(
        error,
        RequestError::Auth(
            AuthError::Missing
                | AuthError::Expired
                | AuthError::NotYetValid
                | AuthError::StatusUnavailable
        )
    ) {
        return error;
    }
    let Some(address) = client_address(req).filter(|_| per_minute > 0) else {
        return error;
    };
    // Over the allowance in this process already: no need to ask the database.
    if let Err(exceeded) = state.rate_limits.refusals.count(&address) {
        return RequestError::RateLimited(exceeded);
    }
    match state.counters.hit("refusals", &address, per_minute).await {
        Ok(schema::rate::Verdict::Limited { retry_after }) => {
            RequestError::RateLimited(rate_limit::Exceeded {
                limit: per_minute,
                retry_after,
                what: "refused requests",
            })
        }
        // Within the allowance, or not countable now (database down): the refusal as it is.
        _ => error,
    }
}

async fn graphql_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    handle(
        &req,
        &state,
        false,
        post_params(&req, payload, state.config.max_body_bytes),
    )
    .await
}

async fn graphql_get(
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    // A browser opening the endpoint gets the IDE; a GET with a query runs it.
    if ide::wanted(&req, query.contains_key("query")) {
        return ide::page().await;
    }
    handle(&req, &state, true, get_params(query.into_inner())).await
}

/// The parameters of a POST: a JSON body of at most `limit` bytes.
async fn post_params(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<GraphqlParams, RequestError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The media type exactly (parameters such as `charset` allowed): `application/jsonx` is not JSON.
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && essence != "application/graphql+json" {
        return Err(RequestError::UnsupportedMediaType);
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| RequestError::BadRequest(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(RequestError::BodyTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        RequestError::BadRequest(format!(
            "body is not a JSON object with a `query` string ({e})"
        ))
    })
}

/// The parameters of a GET: the URL's query string.
async fn get_params(mut query: HashMap<String, String>) -> Result<GraphqlParams, RequestError> {
    let variables = match query.remove("variables") {
        Some(v) => Some(
            serde_json::from_str(&v)
                .map_err(|_| RequestError::BadRequest("`variables` is not JSON".into()))?,
        ),
        None => None,
    };
    Ok(GraphqlParams {
        query: query
            .remove("query")
            .ok_or_else(|| RequestError::BadRequest("`query` is missing".into()))?,
        operation_name: query.remove("operationName"),
        variables,
        extensions: None,
    })
}

/// Commits the request's audit event, then answers; without a committed event there is no
/// answer but 503 AUDIT_UNAVAILABLE. Refusals before execution are counted into an aggregated
/// event instead (`audit::refusals`).
async fn finish(
    state: &AppState,
    audit: &mut AuditRecord,
    started: Instant,
    result: Result<HttpResponse, RequestError>,
    id: &str,
    address: Option<String>,
    trace: &crate::telemetry::RequestTrace,
) -> HttpResponse {
    match &result {
        Err(RequestError::Auth(e)) => state
            .metrics
            .counter("pora_token_refusals_total", &[("code", e.code().as_str())])
            .increment(1),
        Err(RequestError::RateLimited(e)) => state
            .metrics
            .counter("pora_rate_limited_total", &[("limit", e.what)])
            .increment(1),
        _ => {}
    }
    let response = match result {
        Ok(response) => response,
        Err(e) if e.is_counted_refusal() => {
            state.metrics.refused(e.code().as_str());
            let mut who = crate::audit::refusals::Refused::from(&*audit);
            who.address = address;
            state.refusals.note(e.code().as_str(), who, id);
            return e.response(id);
        }
        Err(e) => {
            audit.outcome = match e {
                RequestError::Auth(_) => Outcome::Denied,
                _ => Outcome::Error,
            };
            e.response(id)
        }
    };
    audit.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let committing = std::time::SystemTime::now();
    let committed = state.audit.record(audit.clone()).await;
    trace.step("audit commit", committing, Vec::new());
    match committed {
        Ok(()) => response,
        Err(e) => {
            tracing::error!(request_id = id, error = %e, "answer withheld: no audit record");
            RequestError::AuditUnavailable.response(id)
        }
    }
}

/// The schema a session gets with the view it exposes and the whole role's view: its role's,
/// narrowed to its scopes if it has any (built once per distinct scope set), or the router
/// schema for a router's own token.
fn schema_for(
    state: &AppState,
    session: &schema::Session,
) -> Result<
    (
        async_graphql::dynamic::Schema,
        Arc<schema::RoleView>,
        Arc<schema::RoleView>,
    ),
    RequestError,
> {
    let (schema, role) = if session.role == ROUTER_ROLE {
        state.router.clone()
    } else {
        (
            state
                .schemas
                .get(&session.role)
                .ok_or(RequestError::NoSchema)?
                .clone(),
            state
                .policy
                .role(&session.role)
                .ok_or(RequestError::NoSchema)?
                .clone(),
        )
    };
    if session.scopes.is_empty() {
        return Ok((schema, role.clone(), role));
    }
    match state.scoped.get(&role, &session.scopes) {
        Ok(scoped) => {
            if scoped.built {
                state.metrics.scoped_schema_built();
            }
            Ok((scoped.schema, scoped.view, role))
        }
        Err(schema::scoped::ScopeError::Refused(refusal)) => {
            Err(AuthError::ScopeNotInRole(refusal.to_string()).into())
        }
        Err(schema::scoped::ScopeError::Build(e)) => {
            tracing::error!(error = %e, "cannot build a scoped schema");
            Err(RequestError::NoSchema)
        }
    }
}

/// Header in which a federation router names itself (its own `router` token) when it forwards
/// an agency's request; the agency's token stays in `Authorization`.
pub const ROUTER_TOKEN_HEADER: &str = "x-pora-router-token";

/// The subject of the router that forwarded this request, if it says one did. A router token
/// that does not verify, is not a router's or is revoked refuses the request: an audit record
/// must not name a router that was not there.
async fn router_of(req: &HttpRequest, state: &AppState) -> Result<Option<String>, RequestError> {
    let Some(value) = req.headers().get(ROUTER_TOKEN_HEADER) else {
        return Ok(None);
    };
    let token = value.to_str().map_err(|_| AuthError::RouterInvalid)?;
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    let claims = state
        .auth
        .verify(token)
        .map_err(|_| AuthError::RouterInvalid)?;
    if claims.role != ROUTER_ROLE {
        return Err(AuthError::RouterInvalid.into());
    }
    state
        .tokens
        .check(&claims.jti, &claims.agency, claims.iat)
        .await
        .map_err(|e| match e {
            AuthError::StatusUnavailable => e,
            _ => AuthError::RouterInvalid,
        })?;
    Ok(Some(claims.sub))
}

fn auth_header(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// Whether the client accepts only the legacy `application/json` (then validation errors
/// keep status 200, as the GraphQL-over-HTTP specification asks).
fn legacy_json_only(req: &HttpRequest) -> bool {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json")
        && !accept.contains(GRAPHQL_RESPONSE)
        && !accept.contains("*/*")
}

/// Refuses, before parsing, what could hurt the parser or the database: NUL characters, and
/// values nested deeper than `max_input_depth` (in variables or in the document).
fn check_input(params: &GraphqlParams, max_input_depth: usize) -> Result<(), RequestError> {
    let nul = "a NUL character cannot be part of a request";
    if params.query.contains('\0')
        || params
            .operation_name
            .as_deref()
            .is_some_and(|n| n.contains('\0'))
    {
        return Err(RequestError::BadUserInput(nul.into()));
    }
    if let Some(variables) = &params.variables {
        if !variables.is_object() && !variables.is_null() {
            return Err(RequestError::BadRequest(
                "`variables` must be an object".into(),
            ));
        }
        // The variables object itself is one level.
        if schema::limits::json_depth(variables) > max_input_depth + 1 {
            return Err(schema::limits::LimitError::InputTooDeep {
                limit: max_input_depth,
            }
            .into());
        }
        if schema::limits::json_has_nul(variables) {
            return Err(RequestError::BadUserInput(nul.into()));
        }
    }
    schema::limits::scan_nesting(&params.query, max_input_depth)?;
    Ok(())
}

/// The panic's message, for the log.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    req: &HttpRequest,
    state: &AppState,
    session: schema::Session,
    params: GraphqlParams,
    is_get: bool,
    id: &str,
    audit: &mut AuditRecord,
    trace: &crate::telemetry::RequestTrace,
) -> Result<HttpResponse, RequestError> {
    audit.operation_name = params.operation_name.clone();
    audit.query_hash = Some(document_hash(&params.query));
    let validating = std::time::SystemTime::now();
    let validated = validate(state, &session, &params, is_get, audit);
    trace.step("parse and validate", validating, Vec::new());
    let (document, schema, role, base, variables, analysis) = validated?;
    state
        .rate_limits
        .cost(&session.role, &session.caller_key(), analysis.cost)
        .map_err(RequestError::RateLimited)?;
    // A heavy operation waits for one of a few permits (cheap ones never wait), at most as long
    // as a statement may run; the permit is held until the answer is built.
    let _permit = if analysis.cost >= state.config.heavy_cost {
        match tokio::time::timeout(
            state.config.db_statement_timeout(),
            state.heavy.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => Some(permit),
            _ => return Err(RequestError::Busy),
        }
    } else {
        None
    };
    let faults = &state.config.fault_injection;
    let mut engine = Engine::new(state.db.clone(), session, role, base, id.to_owned()).with_faults(
        faults.panic_in_execution_for_subject.clone(),
        faults
            .hold_in_execution_for_subject
            .clone()
            .map(|s| (s, faults.release.clone())),
    );
    engine = engine.with_mentioned(Arc::new(schema::order::mentioned_fields(&document)));
    let step = trace.open("execute");
    if let Some(spans) = crate::telemetry::trace::StatementSpans::under(&step) {
        engine = engine.with_observer(Arc::new(spans));
    }
    if state.config.audit_log {
        // A write's event commits in the write's transaction (who: this request's record).
        engine = engine.with_write_audit(Arc::new(crate::audit::TransactionalAudit {
            template: audit.clone(),
        }));
    }
    let loader = engine.loader();
    let started = schema::builder::ExecutionStarted::default();
    let trail = Arc::new(schema::audit::AuditTrail::default());
    let mut request = async_graphql::Request::new(params.query)
        .variables(variables)
        .data(engine.clone())
        .data(loader)
        .data(started.clone())
        .data(trail.clone())
        .data(state.issuer.clone())
        .data(schema::token_admin::TokenRevoked({
            let tokens = state.tokens.clone();
            Arc::new(move |id: &str| tokens.forget(id))
        }));
    request.set_parsed_query(document.clone());
    if let Some(name) = params.operation_name.clone() {
        request = request.operation_name(name);
    }
    // A panic anywhere in this request's execution is this request's 500, never the process's.
    let mut response = match std::panic::AssertUnwindSafe(schema.execute(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            tracing::error!(
                request_id = id,
                panic = panic_message(&*panic),
                "request panicked"
            );
            return Err(RequestError::Internal);
        }
    };
    step.end();
    state.metrics.graphql_request();
    // Concurrent resolution answers in completion order: put the selection set's order back.
    schema::order::reorder(
        &mut response.data,
        &document,
        params.operation_name.as_deref(),
    );
    schema::order::clear_schema_description(
        &mut response.data,
        &document,
        params.operation_name.as_deref(),
    );

    // A request that never reached execution (validation, limits) is a request error (4xx);
    // errors during execution are field errors next to the data (200).
    let request_failed = !started.started() && !response.errors.is_empty();
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set(
                "code",
                if request_failed {
                    ErrorCode::GraphqlValidationFailed.as_str()
                } else {
                    ErrorCode::InternalError.as_str()
                },
            );
        }
        if extensions.get("requestId").is_none() {
            extensions.set("requestId", id);
        }
    }
    let returned = trail.returned();
    audit.fields_read = returned.fields;
    audit.person_ids = returned.persons;
    audit.row_count = i64::try_from(returned.rows).unwrap_or(i64::MAX);
    audit.outcome = if response.errors.is_empty() {
        Outcome::Ok
    } else if request_failed || response.data == async_graphql::Value::Null {
        Outcome::Error
    } else {
        Outcome::Partial
    };
    // Serialised straight from the response, so fields keep the order the query asked for.
    let body = if request_failed {
        serde_json::to_string(&serde_json::json!({ "errors": response.errors }))
    } else {
        serde_json::to_string(&response)
    }
    .unwrap_or_else(|_| r#"{"errors":[{"message":"internal error"}]}"#.to_owned());
    if body.len() > state.config.max_response_bytes {
        // Nothing of it leaves: the event says so.
        audit.fields_read.clear();
        audit.person_ids.clear();
        audit.row_count = 0;
        return Err(RequestError::ResponseTooLarge {
            limit: state.config.max_response_bytes,
        });
    }
    let legacy = legacy_json_only(req);
    // What each error does to the status is its code's (`ErrorCode::in_operation`).
    let effect = |e: &async_graphql::ServerError| match e.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(s) => ErrorCode::parse(s).map(ErrorCode::in_operation),
        _ => None,
    };
    // An unreachable database (or an audit log that cannot take a write's event) is the
    // server's trouble, not the request's: 503, retry later.
    let unavailable = response
        .errors
        .iter()
        .any(|e| effect(e) == Some(InOperation::Unavailable));
    // A rate limit inside the operation (verifyDocument) answers 429 with its Retry-After.
    let retry_after = response
        .errors
        .iter()
        .filter(|e| effect(e) == Some(InOperation::RateLimited))
        .filter_map(|e| match e.extensions.as_ref()?.get("retryAfter")? {
            async_graphql::Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .max();
    // A refused operation (nothing executed, a refusal code) answers 403.
    let refused = response.data == async_graphql::Value::Null
        && response
            .errors
            .iter()
            .any(|e| effect(e) == Some(InOperation::Refusal));
    let status = if unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else if retry_after.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else if refused && !legacy {
        StatusCode::FORBIDDEN
    } else if request_failed && !legacy {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    if retry_after.is_some() {
        state
            .metrics
            .counter("pora_rate_limited_total", &[("limit", "verifyDocument")])
            .increment(1);
    }
    let mut builder = HttpResponse::build(status);
    if unavailable {
        builder.insert_header((header::RETRY_AFTER, "5"));
    } else if let Some(seconds) = retry_after {
        builder.insert_header((header::RETRY_AFTER, seconds.to_string()));
    }
    // What executing this request cost the database (token checks and audit excluded).
    builder.insert_header((
        "x-sql-statements",
        engine
            .statements
            .load(std::sync::atomic::Ordering::Relaxed)
            .to_string(),
    ));
    builder.insert_header(("x-pora-cost", analysis.cost.to_string()));
    Ok(builder
        .content_type(if legacy {
            "application/json"
        } else {
            GRAPHQL_RESPONSE
        })
        .insert_header(("x-request-id", id))
        .body(body))
}

/// What execution needs of a request that passed every check before it.
type Validated = (
    async_graphql::parser::types::ExecutableDocument,
    async_graphql::dynamic::Schema,
    Arc<schema::RoleView>,
    Arc<schema::RoleView>,
    async_graphql::Variables,
    schema::limits::Analysis,
);

/// Reads and checks a request before anything runs: input, parse, operation, method, schema,
/// cost.
fn validate(
    state: &AppState,
    session: &schema::Session,
    params: &GraphqlParams,
    is_get: bool,
    audit: &mut AuditRecord,
) -> Result<Validated, RequestError> {
    check_input(params, state.config.max_input_depth)?;
    let document = async_graphql::parser::parse_query(&params.query)
        .map_err(|e| RequestError::Parse(e.to_string()))?;
    let operation = schema::limits::select_operation(&document, params.operation_name.as_deref())?;
    audit.operation_type = Some(match operation.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    });
    if is_get && operation.ty != OperationType::Query {
        return Err(RequestError::MutationOverGet);
    }
    let (schema, role, base) = schema_for(state, session)?;
    let variables = params
        .variables
        .clone()
        .map(async_graphql::Variables::from_json)
        .unwrap_or_default();
    // Cost is known before any SQL runs.
    let analysis = schema::limits::analyse(
        schema.registry(),
        &document,
        params.operation_name.as_deref(),
        &variables,
        &state.config.limits(&session.role),
    )?;
    Ok((document, schema, role, base, variables, analysis))
}
