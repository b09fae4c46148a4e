//! Start-up: configuration → database (migrated, demo data) → policy → one schema per role →
//! bound HTTP server. `Application::build` binds before it runs, so port 0 works in tests.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::auth::{Authenticator, ROUTER_ROLE, SigningKeys};
use crate::config::Config;
use crate::http;
use crate::telemetry::{Metrics, Tracing};
use schema::{Policy, RateLimiter, build_schema};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Policy(#[from] schema::PolicyError),
    #[error("cannot read policy file {0}: {1}")]
    PolicyFile(String, std::io::Error),
    #[error("database {0}: {1}")]
    Database(String, sea_orm::DbErr),
    #[error("cannot reach the database server at {0}: {1}")]
    Unreachable(String, String),
    #[error("{0}")]
    NoStore(String),
    #[error(transparent)]
    Key(#[from] crate::auth::keys::KeyError),
    #[error("schema of role {0}: {1}")]
    Schema(String, String),
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
    #[error("cannot create data folder {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error(transparent)]
    Issuer(#[from] crate::auth::external::IssuerError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Tracing(#[from] crate::telemetry::trace::TracingError),
}

pub use crate::http::state::AppState;

pub struct Application {
    port: u16,
    server: Server,
    /// The separate `/metrics` server (`metrics_listen`), if configured.
    metrics_server: Option<(u16, Server)>,
    state: web::Data<AppState>,
}

/// Loads the configured policy, or the one compiled into the binary.
pub fn load_policy(config: &Config) -> Result<Policy, StartError> {
    match &config.policy_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| StartError::PolicyFile(path.display().to_string(), e))?;
            Ok(Policy::compile(&path.display().to_string(), &text)?)
        }
        None => Ok(Policy::builtin()?),
    }
}

/// Connects, applies migrations, and (when configured) loads demo data into an empty database.
pub async fn connect(
    config: &Config,
    metrics: &Arc<Metrics>,
) -> Result<DatabaseConnection, StartError> {
    connect_store(config, metrics, true).await
}

/// Connects to a store that must exist already (commands that read it: `audit verify`,
/// `token list`, `token revoke`): a mistyped data folder or database name is an error, never a
/// fresh empty store reported as fine.
pub async fn connect_existing(
    config: &Config,
    metrics: &Arc<Metrics>,
) -> Result<DatabaseConnection, StartError> {
    let url = config.database_url();
    if let Some(file) = sqlite_file(&url)
        && !file.exists()
    {
        return Err(StartError::NoStore(format!(
            "no gateway database at {} (is the data folder, PORA_DATA_DIR or --config right?)",
            file.display()
        )));
    }
    connect_store(config, metrics, false).await
}

async fn connect_store(
    config: &Config,
    metrics: &Arc<Metrics>,
    create: bool,
) -> Result<DatabaseConnection, StartError> {
    let url = config.database_url();
    let shown = redact(&url);
    if url.starts_with("sqlite:") {
        private_data_dir(&config.data_dir)?;
        if let Some(file) = sqlite_file(&url) {
            private_file(&file).map_err(|e| StartError::DataDir(file.display().to_string(), e))?;
        }
    }
    if !url.starts_with("sqlite:") {
        reachable(&url, config.db_acquire_timeout()).await?;
        if create {
            create_database_if_missing(&url, config.db_acquire_timeout()).await?;
        }
    }
    let loopback_without_sslmode = is_loopback_without_sslmode(&url);
    let mut options = ConnectOptions::new(url);
    let statement_timeout = config.db_statement_timeout();
    options
        .max_connections(config.max_connections)
        // Connections idle for 10 s close (down to one): their buffers, grown to the largest
        // answer they carried, are given back after a burst.
        .min_connections(1)
        .idle_timeout(std::time::Duration::from_secs(10))
        .acquire_timeout(config.db_acquire_timeout())
        .connect_timeout(config.db_acquire_timeout())
        // A connection taken from the pool is pinged only after it sat idle a while (the
        // usual way a server, proxy or firewall drops one), not on every checkout: that ping
        // was one more round trip per request and per audit group. A connection that died
        // while busy fails its statement, which is answered as unavailable all the same.
        .test_before_acquire_if_idle_for(std::time::Duration::from_secs(1))
        .statement_timeout(statement_timeout)
        .map_sqlx_sqlite_opts(move |o| o.busy_timeout(statement_timeout))
        .map_sqlx_postgres_opts(move |o| postgres_session(o, loopback_without_sslmode))
        .sqlx_logging(false);
    let mut db = Database::connect(options)
        .await
        .map_err(|e| StartError::Database(shown.clone(), e))?;
    let counter = metrics.clone();
    db.set_metric_callback(move |info| counter.sql_statement(info.elapsed, info.failed));
    Migrator::up(&db, None)
        .await
        .map_err(|e| StartError::Database(shown.clone(), e))?;
    if config.demo_data()
        && let Some(summary) = crate::seed::seed_demo(&db, config.demo_seed)
            .await
            .map_err(|e| StartError::Database(shown.clone(), e))?
    {
        tracing::info!(
            persons = summary.persons,
            cases = summary.cases,
            "loaded demo data"
        );
    }
    Ok(db)
}

/// Whether a PostgreSQL URL names a loopback host and says nothing of TLS: then the gateway
/// does not negotiate TLS (`sslmode=disable`), which would cost CPU on every statement for a
/// connection that never leaves the machine. A URL with `sslmode` is honoured as it is.
fn is_loopback_without_sslmode(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return false;
    };
    let (authority, query) = match rest.split_once('/') {
        Some((authority, path)) => (authority, path.split_once('?').map_or("", |(_, q)| q)),
        None => (
            rest.split_once('?').map_or(rest, |(a, _)| a),
            rest.split_once('?').map_or("", |(_, q)| q),
        ),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback && !query.split('&').any(|kv| kv.starts_with("sslmode="))
}

/// The gateway's PostgreSQL session settings: no JIT compilation (the gateway's statements are
/// short; JIT cost more than it saved, e.g. 160 ms against 16–43 ms for a count at 100,000
/// persons), and no TLS to a loopback server unless the URL asks for it.
fn postgres_session(
    options: sea_orm::sqlx::postgres::PgConnectOptions,
    loopback_without_sslmode: bool,
) -> sea_orm::sqlx::postgres::PgConnectOptions {
    let options = options.options([("jit", "off")]);
    if loopback_without_sslmode {
        options.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable)
    } else {
        options
    }
}

/// Creates the data folder readable by its owner only (0700): it holds case data and keys. A
/// folder that exists already is left as it is, with a warning if others may read it.
pub fn private_data_dir(dir: &std::path::Path) -> Result<(), StartError> {
    let shown = || dir.display().to_string();
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| StartError::DataDir(shown(), e))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(dir)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(folder = %shown(), "the data folder is readable by other users; chmod 700 it");
        }
    }
    Ok(())
}

/// The file of a `sqlite:` URL (`sqlite://path?…`), unless in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// Creates the database file, empty, readable by its owner only (0600), before SQLite opens it
/// (SQLite gives its journal files the same mode). An existing file keeps its mode.
fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the database a PostgreSQL URL names when the server has no such database and the
/// user may create one (`createdb` done for the operator); otherwise the start goes on and the
/// driver's own error says what is wrong.
async fn create_database_if_missing(
    url: &str,
    timeout: std::time::Duration,
) -> Result<(), StartError> {
    use sea_orm::ConnectionTrait;
    let Some((server, rest)) = url.rsplit_once('/') else {
        return Ok(());
    };
    let name = rest.split('?').next().unwrap_or("");
    let query = rest.strip_prefix(name).unwrap_or("");
    // Only plain names: the name goes into a statement as an identifier.
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Ok(());
    }
    let mut options = ConnectOptions::new(format!("{server}/postgres{query}"));
    options
        .max_connections(1)
        .acquire_timeout(timeout)
        .connect_timeout(timeout)
        .sqlx_logging(false);
    let Ok(admin) = Database::connect(options).await else {
        return Ok(());
    };
    let exists = admin
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT 1 AS x FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .map(|row| row.is_some())
        .unwrap_or(true);
    if !exists {
        match admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
        {
            Ok(_) => tracing::info!(database = name, "created the database"),
            Err(e) => tracing::warn!(database = name, error = %e, "cannot create the database"),
        }
    }
    let _ = admin.close().await;
    Ok(())
}

/// Whether the database server of `url` accepts a TCP connection within `timeout`: a dead or
/// unreachable server stops the start at once with what happened and where (never the
/// password), instead of a pool timing out later.
async fn reachable(url: &str, timeout: std::time::Duration) -> Result<(), StartError> {
    let Some((host, port)) = server_of(url) else {
        return Ok(());
    };
    let place = format!("{host}:{port}");
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(place.as_str())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(StartError::Unreachable(place, "connection refused".into()))
        }
        Ok(Err(e)) => Err(StartError::Unreachable(place, e.to_string())),
        Err(_) => Err(StartError::Unreachable(
            place,
            format!("timed out after {:.1} s", timeout.as_secs_f64()),
        )),
    }
}

/// Host and port of a `postgres://user:pw@host:port/db?…` URL (default port 5432); `None` for
/// a Unix socket or a URL this cannot read (the driver then says what is wrong).
fn server_of(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return None;
    }
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse().ok()?),
        _ => (host_port, 5432),
    };
    Some((host.trim_matches(['[', ']']).to_owned(), port))
}

/// The configured external issuers, checked, their JWKS files loaded and their JWKS URLs
/// refreshing in the background.
async fn trusted_issuers(
    config: &Config,
    policy: &Policy,
) -> Result<Vec<Arc<crate::auth::external::ExternalIssuer>>, StartError> {
    let roles: Vec<String> = policy.roles.keys().cloned().collect();
    let mut issuers = Vec::new();
    for (i, entry) in config.trusted_issuers.iter().enumerate() {
        if config.trusted_issuers[..i]
            .iter()
            .any(|e| e.issuer == entry.issuer)
        {
            return Err(crate::auth::external::IssuerError::Config(
                entry.issuer.clone(),
                "is configured twice".into(),
            )
            .into());
        }
        if entry.issuer == config.issuer {
            return Err(crate::auth::external::IssuerError::Config(
                entry.issuer.clone(),
                "is this gateway's own issuer".into(),
            )
            .into());
        }
        let issuer = Arc::new(crate::auth::external::ExternalIssuer::new(
            entry.clone(),
            &config.audience,
            &roles,
        )?);
        // Fetched once before serving, so the first token finds the keys.
        if let Err(e) = issuer.refresh().await {
            tracing::error!(issuer = %entry.issuer, error = %e, "cannot fetch JWKS; will retry");
        }
        issuer.start_refresher();
        issuers.push(issuer);
    }
    Ok(issuers)
}

/// The composed SDL that routers compose: every role's schema, merged, with its scopes.
pub fn router_sdl(
    schemas: &HashMap<String, async_graphql::dynamic::Schema>,
) -> Result<String, StartError> {
    let mut roles: Vec<(&str, &async_graphql::dynamic::Schema)> =
        schemas.iter().map(|(r, s)| (r.as_str(), s)).collect();
    roles.sort_by_key(|(r, _)| *r);
    schema::federation::router_sdl(&roles)
        .map_err(|e| StartError::Schema("composed (router)".to_owned(), e))
}

/// A role's schema as SDL, as `schema print --role R` prints it: what its introspection says,
/// scalars with their `@specifiedBy`; `federation` adds the subgraph's directives.
pub fn role_sdl(schema: &async_graphql::dynamic::Schema, federation: bool) -> String {
    let options = async_graphql::SDLExportOptions::new().include_specified_by();
    schema.sdl_with_options(if federation {
        options.federation()
    } else {
        options
    })
}

/// Every role's schema, as the policy defines it.
pub fn build_schemas(
    policy: &Policy,
    config: &Config,
    limiter: &Arc<RateLimiter>,
) -> Result<HashMap<String, async_graphql::dynamic::Schema>, StartError> {
    let options = config.schema_options();
    policy
        .roles
        .iter()
        .map(|(name, role)| {
            build_schema(role, &options, limiter.clone())
                .map(|s| (name.clone(), s))
                .map_err(|e| StartError::Schema(name.clone(), e.0))
        })
        .collect()
}

/// What tokens may be issued for: the policy's roles (scopes within them), and `router` when
/// routers are configured.
pub fn issuable(policy: &Policy, config: &Config) -> crate::admin::Issuable {
    let mut roles: Vec<String> = policy.roles.keys().cloned().collect();
    if !config.federation.routers.is_empty() {
        roles.push(ROUTER_ROLE.to_owned());
    }
    crate::admin::Issuable {
        roles,
        policy: policy.clone(),
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        config.validate()?;
        let policy = load_policy(&config)?;
        let metrics = Arc::new(Metrics::default());
        metrics.start_upkeep();
        // A configured Redis store is checked before the database is migrated and seeded, so
        // a dead one stops the start at once.
        let redis = match &config.rate_limit_store {
            Some(url) => Some(
                crate::http::counters::RedisCounters::connect(url, config.db_acquire_timeout())
                    .await
                    .map_err(|e| StartError::Unreachable(redact(url), e))?,
            ),
            None => None,
        };
        let db = connect(&config, &metrics).await?;
        let retire_after = config.longest_token_lifetime();
        let keys = SigningKeys::load(&config.data_dir, Some(retire_after))?;
        let auth = Authenticator::new(
            keys,
            &config.issuer,
            &config.audience,
            policy.roles.keys().cloned().collect(),
        )
        .reloading_from(&config.data_dir, retire_after)
        .with_routers(&config.federation.routers)
        .with_trusted_issuers(trusted_issuers(&config, &policy).await?);
        let auth = Arc::new(auth);
        let counters: Arc<dyn schema::rate::CounterStore> = match redis {
            Some(redis) => Arc::new(redis),
            None => Arc::new(schema::rate::DatabaseCounters(db.clone())),
        };
        // One limiter for every schema: a token's `verifyDocument` budget is its own.
        let limiter =
            Arc::new(RateLimiter::new(config.verify_per_minute).with_store(counters.clone()));
        let schemas = build_schemas(&policy, &config, &limiter)?;
        let scoped = schema::scoped::ScopedSchemas::new(config.schema_options(), limiter);
        let router = (
            schema::federation::router_schema(router_sdl(&schemas)?)
                .map_err(|e| StartError::Schema(ROUTER_ROLE.to_owned(), e.0))?,
            Arc::new(schema::RoleView::empty(ROUTER_ROLE)),
        );
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| StartError::Listen(config.listen.to_string(), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| StartError::Listen(config.listen.to_string(), e))?
            .port();
        let workers = config.workers;
        let tracing_export = match &config.otlp_endpoint {
            Some(endpoint) => Tracing::otlp(endpoint)?,
            None => Tracing::off(),
        };
        let audit = if config.audit_log {
            crate::audit::AuditLog::start(db.clone(), metrics.clone())
        } else {
            tracing::warn!(
                "AUDIT LOG OFF (--unsafe-no-audit): answers are NOT recorded; never run this with real case data"
            );
            crate::audit::AuditLog::disabled()
        };
        let refusals = crate::audit::refusals::RefusalLog::new(audit.clone());
        refusals.start_flusher(std::time::Duration::from_secs_f64(
            config.refusal_audit_interval,
        ));
        let rate_limits = crate::http::rate_limit::RateLimits::new(&config.rate_limits);
        rate_limits.start_sweeper();
        let heavy_in_flight = config.heavy_in_flight();
        let tokens = crate::admin::TokenStore::new(db.clone());
        tokens.start_flusher();
        let issuer = schema::token_admin::Issuer(Arc::new(crate::admin::GraphqlIssuer {
            store: tokens.clone(),
            auth: auth.clone(),
            config: config.clone(),
            allowed: issuable(&policy, &config),
        }));
        let state = web::Data::new(AppState {
            config,
            db,
            policy,
            schemas,
            router,
            scoped,
            auth,
            metrics,
            audit,
            tokens,
            issuer,
            rate_limits,
            refusals,
            counters,
            heavy: Arc::new(tokio::sync::Semaphore::new(heavy_in_flight)),
            ready_at: std::sync::Mutex::default(),
            tracing: tracing_export,
            shutdown: tokio::sync::watch::Sender::new(false),
        });
        let metrics_apart = state.config.metrics_listen.is_some();
        let shared = state.clone();
        let mut server = HttpServer::new(move || {
            let origins = &shared.config.cors_origins;
            App::new()
                .wrap_fn(|mut request, service| {
                    crate::http::headers::own_header_values(request.headers_mut());
                    actix_web::dev::Service::call(service, request)
                })
                .wrap(actix_web::middleware::Condition::new(
                    !origins.is_empty(),
                    crate::http::cors(origins),
                ))
                .app_data(shared.clone())
                .configure(|cfg| http::configure(cfg, !metrics_apart))
        })
        // Signals are `run_until_signalled`'s: it answers what is still running at the
        // deadline before the workers stop.
        .disable_signals()
        .shutdown_timeout(grace_seconds(state.config.shutdown_timeout()))
        .listen(listener)
        .map_err(|e| StartError::Listen(port.to_string(), e))?;
        if workers > 0 {
            server = server.workers(workers);
        }
        let metrics_server = match state.config.metrics_listen {
            Some(address) => Some(metrics_server(address, state.clone())?),
            None => None,
        };
        Ok(Application {
            port,
            server: server.run(),
            metrics_server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate `/metrics` server, when `metrics_listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the server stops, then writes the refusals still counted in memory (so
    /// none goes unaudited) and the spans still buffered. Signals are not listened to (tests
    /// and benchmarks run gateways inside their own process): see `run_until_signalled`.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let result = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        self.state.refusals.flush().await;
        let tracing_export = self.state.tracing.clone();
        let _ = tokio::task::spawn_blocking(move || tracing_export.flush()).await;
        result
    }

    /// Serves until SIGTERM or SIGINT, then stops gracefully: no new connections, requests in
    /// flight may finish within `shutdown_timeout`, those still running then are answered 503
    /// (`SHUTTING_DOWN`), and what was cut off is logged.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let state = self.state.clone();
        tokio::spawn(async move {
            stop_signal().await;
            let timeout = state.config.shutdown_timeout();
            tracing::info!(
                in_flight = state.metrics.in_flight(),
                timeout_seconds = timeout.as_secs_f64(),
                "stopping: no new connections; requests in flight may finish"
            );
            let stopped = handle.stop(true);
            tokio::pin!(stopped);
            tokio::select! {
                () = &mut stopped => {}
                () = tokio::time::sleep(timeout) => {
                    let cut_off = state.metrics.in_flight();
                    tracing::warn!(
                        cut_off,
                        "shutdown_timeout passed: requests still running are answered 503"
                    );
                    state.shutdown.send_replace(true);
                    stopped.await;
                }
            }
        });
        let result = self.run_until_stopped().await;
        tracing::info!("stopped");
        result
    }
}

/// How long the HTTP workers wait for connections after a graceful stop: the shutdown
/// timeout, plus time to write the 503 answers of requests cut off at its end.
fn grace_seconds(timeout: std::time::Duration) -> u64 {
    timeout.as_secs() + 3
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `/metrics` alone on its own address (`metrics_listen`), one worker.
fn metrics_server(
    address: std::net::SocketAddr,
    state: web::Data<AppState>,
) -> Result<(u16, Server), StartError> {
    let listener =
        TcpListener::bind(address).map_err(|e| StartError::Listen(address.to_string(), e))?;
    let port = listener
        .local_addr()
        .map_err(|e| StartError::Listen(address.to_string(), e))?
        .port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(http::configure_metrics)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(|e| StartError::Listen(address.to_string(), e))?
    .run();
    Ok((port, server))
}

#[cfg(test)]
mod session_tests {
    use super::is_loopback_without_sslmode;

    #[test]
    fn tls_is_skipped_only_for_loopback_urls_that_do_not_ask_for_it() {
        for plain in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgresql://u:p@localhost/db",
            "postgres://[::1]:5432/db?application_name=x",
        ] {
            assert!(is_loopback_without_sslmode(plain), "{plain}");
        }
        for kept in [
            "postgres://postgres@127.0.0.1:5432/test?sslmode=require",
            "postgres://u@db.internal:5432/pora",
            "postgres://u@10.0.0.5/pora",
            "sqlite://data/pora.db",
        ] {
            assert!(!is_loopback_without_sslmode(kept), "{kept}");
        }
    }
}
