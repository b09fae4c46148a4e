//! Configuration: defaults, then a TOML file, then `PORA_*` environment variables, then flags.
//! Unknown keys in the file are errors. Secrets never appear in `Debug` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("config file {0}: {1}")]
    Parse(PathBuf, String),
    #[error("environment variable {0}: {1}")]
    Env(&'static str, String),
    #[error("configuration key {0}: {1}")]
    Invalid(&'static str, String),
}

/// Development tokens (`token dev`) live at most this long.
pub const DEV_TOKEN_MAX_HOURS: i64 = 24;

/// Everything the gateway can be told. See `docs/configuration.md` (and `pora.example.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on (`PORA_LISTEN`). Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Folder for the embedded database and the signing key (`PORA_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Database URL (`PORA_DATABASE_URL`); default: SQLite file `pora.db` in the data folder.
    pub database_url: Option<String>,
    /// Policy file (`PORA_POLICY`); default: the policy compiled into the binary.
    pub policy_file: Option<PathBuf>,
    /// Load the demo data into an empty database at start (`PORA_DEMO_DATA`, `serve --demo`).
    /// Unset: yes for the embedded SQLite database, never for PostgreSQL.
    pub demo_data: Option<bool>,
    /// Seed of the demo data generator: the same seed gives the same data.
    pub demo_seed: u64,
    /// Token issuer (`iss`) this gateway issues and accepts.
    pub issuer: String,
    /// Token audience (`aud`).
    pub audience: String,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// `verifyDocument` calls per caller per minute.
    pub verify_per_minute: u32,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
    /// Database connection pool size.
    pub max_connections: u32,
    /// Record every answer in the audit log before sending it. No configuration key: only
    /// `serve --unsafe-no-audit` (loudly logged) or a benchmark turns it off.
    #[serde(skip)]
    pub audit_log: bool,
    /// Longest lifetime of an issued token, in hours, unless `max_token_hours` names the role.
    pub default_max_token_hours: i64,
    /// Per-role longest token lifetime in hours (e.g. `police = 12`).
    pub max_token_hours: std::collections::BTreeMap<String, i64>,
    /// Apollo Federation: which callers are routers.
    pub federation: FederationConfig,
    /// Identity providers whose tokens are accepted (`[[trusted_issuers]]`, docs/tokens.md).
    pub trusted_issuers: Vec<crate::auth::external::TrustedIssuerConfig>,
    /// Deepest nesting of input values (arguments, variables), refused before parsing.
    pub max_input_depth: usize,
    /// Largest estimated cost of one operation (see docs/limits.md), unless the role has its own.
    pub max_cost: u64,
    /// Per-role largest cost (e.g. `iom = 50000`).
    pub max_cost_by_role: std::collections::BTreeMap<String, u64>,
    /// Most aliased fields in one operation.
    pub max_aliases: usize,
    /// Most root fields in one operation.
    pub max_root_fields: usize,
    /// Largest response body, in bytes; a larger answer is withheld (`RESPONSE_TOO_LARGE`).
    pub max_response_bytes: usize,
    /// Rows of a nested to-many relation per parent when `first` is not given.
    pub nested_page_size: u32,
    /// Operations of at least this estimated cost are heavy: at most `max_heavy_in_flight` of
    /// them execute at once in this process, so cheap requests of other callers never queue
    /// behind them.
    pub heavy_cost: u64,
    /// Heavy operations executing at once (0: twice the number of cores, at least 4).
    pub max_heavy_in_flight: usize,
    /// Largest `first` of a nested to-many relation.
    pub max_nested_page_size: u32,
    /// Seconds to wait for a database connection before answering 503.
    pub db_acquire_timeout: f64,
    /// Seconds a statement may run (PostgreSQL `statement_timeout`, SQLite busy timeout).
    pub db_statement_timeout: f64,
    /// Per-caller request limits (`[rate_limits]`).
    pub rate_limits: RateLimitConfig,
    /// Where the shared rate counters live (`verifyDocument`, refusals per address): the
    /// database when unset, or a Redis server (`redis://host:6379`, `PORA_RATE_LIMIT_STORE`).
    pub rate_limit_store: Option<String>,
    /// Seconds over which refused requests (no token, bad token, rate limited) are counted
    /// into one audit event per reason and caller or address.
    pub refusal_audit_interval: f64,
    /// Test-only faults; never read from a file or the environment.
    #[serde(skip)]
    #[doc(hidden)]
    pub fault_injection: FaultInjection,
}

/// Faults a test can inject into a running gateway (set only from Rust, never configured).
#[derive(Clone, Debug, Default)]
pub struct FaultInjection {
    /// A request of this token subject panics when its execution sends SQL.
    pub panic_in_execution_for_subject: Option<String>,
    /// A request of this token subject waits at its first statement until `release` is
    /// notified: a request held in flight, for tests of what others get meanwhile.
    pub hold_in_execution_for_subject: Option<String>,
    pub release: std::sync::Arc<tokio::sync::Notify>,
}

/// `[rate_limits]`: see docs/limits.md.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests per minute per caller (issuer and subject); 0 switches the limit off.
    pub requests_per_minute: u32,
    /// Estimated cost per minute per caller; 0 switches the limit off.
    pub cost_per_minute: u32,
    /// Refused requests (no token, bad token) per minute per client address, counted across
    /// every gateway sharing the database; past it the address is refused with 429 unheard.
    pub refusals_per_minute: u32,
    /// Per-role limits overriding the ones above (`[rate_limits.roles.police]`).
    pub roles: std::collections::BTreeMap<String, RoleRateLimits>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRateLimits {
    pub requests_per_minute: Option<u32>,
    pub cost_per_minute: Option<u32>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            requests_per_minute: 1_200,
            cost_per_minute: 600_000,
            refusals_per_minute: 120,
            roles: std::collections::BTreeMap::new(),
        }
    }
}

/// `[federation]`: see docs/federation.md.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Token subjects that may hold a `router` token: such a token reads the composed SDL
    /// through `_service` (and nothing else), and names the router in `x-pora-router-token`
    /// when it forwards an agency's request. Empty: no router is trusted.
    pub routers: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            policy_file: None,
            demo_data: None,
            demo_seed: 2016,
            issuer: "pora-gateway".to_owned(),
            audience: "pora".to_owned(),
            max_body_bytes: 256 * 1024,
            max_depth: 12,
            max_complexity: 2_000,
            default_page_size: 50,
            max_page_size: 500,
            verify_per_minute: 30,
            workers: 0,
            max_connections: 10,
            audit_log: true,
            default_max_token_hours: 12,
            max_token_hours: std::collections::BTreeMap::new(),
            federation: FederationConfig::default(),
            trusted_issuers: Vec::new(),
            max_input_depth: 32,
            max_cost: 50_000,
            max_cost_by_role: std::collections::BTreeMap::new(),
            max_aliases: 100,
            max_root_fields: 100,
            max_response_bytes: 4 * 1024 * 1024,
            nested_page_size: 50,
            max_nested_page_size: 500,
            heavy_cost: 1_000,
            max_heavy_in_flight: 0,
            db_acquire_timeout: 2.0,
            db_statement_timeout: 10.0,
            rate_limits: RateLimitConfig::default(),
            rate_limit_store: None,
            refusal_audit_interval: 10.0,
            fault_injection: FaultInjection::default(),
        }
    }
}

impl Config {
    /// Defaults, overlaid by `file` (if given) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Read(path.to_owned(), e))?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError::Parse(path.to_owned(), e.to_string()))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("PORA_LISTEN") {
            self.listen = v
                .parse()
                .map_err(|e| ConfigError::Env("PORA_LISTEN", format!("{e}")))?;
        }
        if let Some(v) = var("PORA_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("PORA_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = var("PORA_POLICY") {
            self.policy_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("PORA_RATE_LIMIT_STORE") {
            self.rate_limit_store = Some(v);
        }
        if let Some(v) = var("PORA_DEMO_DATA") {
            self.demo_data = Some(v.parse().map_err(|_| {
                ConfigError::Env("PORA_DEMO_DATA", "expected true or false".into())
            })?);
        }
        Ok(())
    }

    /// Whether the database is the embedded SQLite one.
    pub fn embedded(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }

    /// Whether demo data is loaded into an empty database: as configured, else only into the
    /// embedded database (a PostgreSQL database never receives it unless asked).
    pub fn demo_data(&self) -> bool {
        self.demo_data.unwrap_or_else(|| self.embedded())
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("pora.db").display()
            )
        })
    }

    /// The longest lifetime a token of `role` may be issued with.
    pub fn max_token_lifetime(&self, role: &str) -> chrono::Duration {
        chrono::Duration::hours(
            *self
                .max_token_hours
                .get(role)
                .unwrap_or(&self.default_max_token_hours),
        )
    }

    /// The longest lifetime any token may have (development tokens included): how long a
    /// rotated-out signing key must keep verifying.
    pub fn longest_token_lifetime(&self) -> chrono::Duration {
        let longest = self
            .max_token_hours
            .values()
            .copied()
            .chain([self.default_max_token_hours, DEV_TOKEN_MAX_HOURS])
            .max()
            .unwrap_or(DEV_TOKEN_MAX_HOURS);
        chrono::Duration::hours(longest)
    }

    pub fn schema_options(&self) -> schema::SchemaOptions {
        schema::SchemaOptions {
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
            default_page_size: self.default_page_size,
            max_page_size: self.max_page_size,
            verify_per_minute: self.verify_per_minute,
            nested_page_size: self.nested_page_size,
            max_nested_page_size: self.max_nested_page_size,
        }
    }

    /// The cost limits of `role`.
    pub fn limits(&self, role: &str) -> schema::limits::Limits {
        schema::limits::Limits {
            max_depth: self.max_depth,
            max_cost: *self.max_cost_by_role.get(role).unwrap_or(&self.max_cost),
            max_aliases: self.max_aliases,
            max_root_fields: self.max_root_fields,
            default_page_size: u64::from(self.default_page_size),
            nested_page_size: u64::from(self.nested_page_size),
            max_page_size: u64::from(self.max_page_size),
            max_nested_page_size: u64::from(self.max_nested_page_size),
            introspection_cost: schema::limits::Limits::default().introspection_cost,
        }
    }

    /// Heavy operations allowed to execute at once.
    pub fn heavy_in_flight(&self) -> usize {
        if self.max_heavy_in_flight > 0 {
            return self.max_heavy_in_flight;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        (2 * cores).max(4)
    }

    pub fn db_acquire_timeout(&self) -> std::time::Duration {
        seconds(self.db_acquire_timeout)
    }

    pub fn db_statement_timeout(&self) -> std::time::Duration {
        seconds(self.db_statement_timeout)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |name: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 && v < 86_400.0 {
                Ok(())
            } else {
                Err(ConfigError::Invalid(
                    name,
                    "must be a positive number of seconds".into(),
                ))
            }
        };
        positive("db_acquire_timeout", self.db_acquire_timeout)?;
        positive("db_statement_timeout", self.db_statement_timeout)?;
        positive("refusal_audit_interval", self.refusal_audit_interval)?;
        if self.max_input_depth == 0 || self.max_input_depth > 128 {
            return Err(ConfigError::Invalid(
                "max_input_depth",
                "must be between 1 and 128".into(),
            ));
        }
        if let Some(store) = &self.rate_limit_store
            && !store.starts_with("redis://")
            && !store.starts_with("rediss://")
        {
            return Err(ConfigError::Invalid(
                "rate_limit_store",
                "must be a redis:// or rediss:// URL (unset: the database)".into(),
            ));
        }
        if self.nested_page_size > self.max_nested_page_size {
            return Err(ConfigError::Invalid(
                "nested_page_size",
                "must not exceed max_nested_page_size".into(),
            ));
        }
        Ok(())
    }
}

fn seconds(value: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(value).unwrap_or(std::time::Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<Config>("listen = \"127.0.0.1:1\"\ncolour = 3\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn the_example_file_lists_valid_keys() {
        let text = include_str!("../../pora.example.toml");
        let c: Config = toml::from_str(text).expect("pora.example.toml parses");
        assert_eq!(c.listen, Config::default().listen);
    }

    #[test]
    fn environment_overrides_file() {
        let mut c: Config = toml::from_str("listen = \"127.0.0.1:1\"").unwrap();
        c.apply_env(|k| (k == "PORA_LISTEN").then(|| "127.0.0.1:2".to_owned()))
            .unwrap();
        assert_eq!(c.listen.port(), 2);
        assert!(
            c.apply_env(|k| (k == "PORA_LISTEN").then(|| "nope".to_owned()))
                .is_err()
        );
    }
}
