//! The state every request handler shares, built by `app::Application::build`.
//!
//! It lives beside the handlers (not in `app`) so that `http` never imports `app`: start-up
//! depends on the HTTP layer, not the other way round.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::telemetry::{Metrics, Tracing};
use schema::Policy;

/// What every request handler shares.
pub struct AppState {
    pub config: Config,
    pub db: DatabaseConnection,
    pub policy: Policy,
    pub schemas: HashMap<String, async_graphql::dynamic::Schema>,
    /// What a router's own token gets: `_service { sdl }` with the composed SDL.
    pub router: (async_graphql::dynamic::Schema, Arc<schema::RoleView>),
    /// Schemas of tokens narrowed by scopes, one per distinct scope set.
    pub scoped: schema::scoped::ScopedSchemas,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    pub audit: crate::audit::AuditLog,
    pub tokens: Arc<crate::admin::TokenStore>,
    pub issuer: schema::token_admin::Issuer,
    /// Per-caller request and cost limits of this process.
    pub rate_limits: Arc<super::rate_limit::RateLimits>,
    /// Refusals before execution, counted into aggregated audit events.
    pub refusals: Arc<crate::audit::refusals::RefusalLog>,
    /// The shared rate counters (database or Redis).
    pub counters: Arc<dyn schema::rate::CounterStore>,
    /// Permits for heavy operations (`heavy_cost`, `max_heavy_in_flight`).
    pub heavy: Arc<tokio::sync::Semaphore>,
    /// When `/readyz` last found everything ready.
    pub ready_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// Request traces (exported over OTLP when `otlp_endpoint` is set).
    pub tracing: Tracing,
    /// Turns true when `shutdown_timeout` has passed after a stop signal: requests still
    /// running are then answered 503.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}
