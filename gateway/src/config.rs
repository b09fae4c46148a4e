//! Configuration: defaults, then a TOML file, then `PORA_*` environment variables, then flags.
//! Unknown keys in the file are errors. Secrets never appear in `Debug` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, Deserialize, Serialize)]
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
    /// Web origins whose pages may call the API from a browser (`PORA_CORS_ORIGINS`,
    /// comma-separated): `https://dashboard.kesbangpol.example`. Empty: no cross-origin access.
    pub cors_origins: Vec<String>,
    /// Log lines: `text` (coloured only on a terminal) or `json`, one object per line
    /// (`PORA_LOG_FORMAT`). Which lines: `PORA_LOG`.
    pub log_format: LogFormat,
    /// Serve `/metrics` on this address instead of the API's (`PORA_METRICS_LISTEN`), e.g. an
    /// address only the monitoring network reaches. Unset: `/metrics` beside the API.
    pub metrics_listen: Option<SocketAddr>,
    /// Export request traces over OTLP/HTTP to this collector (`PORA_OTLP_ENDPOINT`, e.g.
    /// `http://127.0.0.1:4318`). Unset: no trace leaves the process.
    pub otlp_endpoint: Option<String>,
    /// Seconds that requests in flight may still take after SIGTERM/SIGINT; those still running
    /// then are answered 503.
    pub shutdown_timeout: f64,
    /// Test-only faults; never read from a file or the environment.
    #[serde(skip)]
    #[doc(hidden)]
    pub fault_injection: FaultInjection,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
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
#[derive(Clone, Debug, Deserialize, Serialize)]
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

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
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
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
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
            cors_origins: Vec::new(),
            refusal_audit_interval: 10.0,
            log_format: LogFormat::Text,
            metrics_listen: None,
            otlp_endpoint: None,
            shutdown_timeout: 30.0,
            fault_injection: FaultInjection::default(),
        }
    }
}

impl Config {
    /// Defaults, overlaid by `file` (if given) and the environment (`overlay_env`), with the
    /// same strict checking for both: an unknown key or a value of the wrong type is an error.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Read(path.to_owned(), e))?;
                // The file alone first, so its mistakes are reported with their line.
                toml::from_str::<Config>(&text)
                    .map_err(|e| ConfigError::Parse(path.to_owned(), e.to_string()))?;
                toml::from_str::<toml::Table>(&text)
                    .map_err(|e| ConfigError::Parse(path.to_owned(), e.to_string()))?
            }
            None => toml::Table::new(),
        };
        let config = Config::from_table_and_env(&mut table, std::env::vars())?;
        config.validate()?;
        Ok(config)
    }

    /// `table` (a configuration file's) with the `PORA_*` variables of `vars` set into it.
    pub fn from_table_and_env(
        table: &mut toml::Table,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let set = overlay_env(table, vars)?;
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| {
                ConfigError::Env(
                    "PORA_*",
                    format!("{} (variables set: {})", e.message(), set.join(", ")),
                )
            })
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

    pub fn shutdown_timeout(&self) -> std::time::Duration {
        seconds(self.shutdown_timeout)
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
        positive("shutdown_timeout", self.shutdown_timeout)?;
        if let Some(endpoint) = &self.otlp_endpoint
            && !endpoint.starts_with("http://")
            && !endpoint.starts_with("https://")
        {
            return Err(ConfigError::Invalid(
                "otlp_endpoint",
                "must be an http:// or https:// URL (an OTLP/HTTP collector)".into(),
            ));
        }
        if self.max_input_depth == 0 || self.max_input_depth > 128 {
            return Err(ConfigError::Invalid(
                "max_input_depth",
                "must be between 1 and 128".into(),
            ));
        }
        for origin in &self.cors_origins {
            if !is_origin(origin) {
                return Err(ConfigError::Invalid(
                    "cors_origins",
                    format!("`{origin}` is not an origin (scheme://host[:port], no path)"),
                ));
            }
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

/// `https://host` or `http://host:port`: a web origin as browsers send it.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

/// Environment variables that are not configuration keys.
const NOT_CONFIG: &[&str] = &["LOG", "CONFIG"];
/// Prefixes of environment variables of the tests and benchmarks.
const OTHER_PREFIXES: &[&str] = &["TEST_", "BENCH_", "FUZZ_"];

/// Sets configuration keys from `PORA_*` variables into `table`: the key in capitals
/// (`PORA_MAX_COST`), nested keys joined by `__` (`PORA_RATE_LIMITS__REQUESTS_PER_MINUTE`,
/// `PORA_RATE_LIMITS__ROLES__POLICE__COST_PER_MINUTE`). A value is read as a TOML value when it
/// is one (`5`, `2.5`, `true`, `["a", "b"]`, `{ … }`), else as a string. `PORA_POLICY` names
/// `policy_file`, and `PORA_CORS_ORIGINS` also takes a comma-separated list. Returns the
/// variables used.
pub fn overlay_env(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let mut used = Vec::new();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with("PORA_"))
        .collect();
    vars.sort();
    for (name, value) in vars {
        let key = &name["PORA_".len()..];
        if NOT_CONFIG.contains(&key) || OTHER_PREFIXES.iter().any(|p| key.starts_with(p)) {
            continue;
        }
        let key = match key {
            "POLICY" => "POLICY_FILE",
            other => other,
        };
        let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Env(
                "PORA_*",
                format!("{name}: an empty key segment"),
            ));
        }
        let parsed = if key == "CORS_ORIGINS" && !value.trim_start().starts_with('[') {
            toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(|o| toml::Value::String(o.to_owned()))
                    .collect(),
            )
        } else {
            toml::from_str::<toml::Table>(&format!("v = {value}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(value.clone()))
        };
        let mut at = &mut *table;
        for segment in &path[..path.len() - 1] {
            let next = at
                .entry(segment.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            at = match next {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::Env(
                        "PORA_*",
                        format!("{name}: `{segment}` is not a table"),
                    ));
                }
            };
        }
        at.insert(path[path.len() - 1].clone(), parsed);
        used.push(name);
    }
    Ok(used)
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
        let vars = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let mut file: toml::Table =
            toml::from_str("listen = \"127.0.0.1:1\"\nmax_cost = 7").unwrap();
        let c = Config::from_table_and_env(
            &mut file,
            vars(&[
                ("PORA_LISTEN", "127.0.0.1:2"),
                ("PORA_RATE_LIMITS__ROLES__POLICE__COST_PER_MINUTE", "99"),
                (
                    "PORA_CORS_ORIGINS",
                    "https://a.example, http://b.example:8080",
                ),
                ("PORA_POLICY", "/etc/pora/policy.toml"),
                ("PORA_DEMO_DATA", "false"),
                ("PORA_DB_ACQUIRE_TIMEOUT", "0.5"),
                ("PORA_LOG", "debug"),
                ("PORA_TEST_POSTGRES_URL", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 2);
        assert_eq!(c.max_cost, 7, "the file's value stays");
        assert_eq!(c.rate_limits.roles["police"].cost_per_minute, Some(99));
        assert_eq!(
            c.cors_origins,
            ["https://a.example", "http://b.example:8080"]
        );
        assert_eq!(
            c.policy_file.as_deref(),
            Some(Path::new("/etc/pora/policy.toml"))
        );
        assert_eq!(c.demo_data, Some(false));
        assert_eq!(c.db_acquire_timeout, 0.5);
        // The same strictness as the file: unknown keys and wrong types are errors.
        for bad in [
            ("PORA_MAX_COSTT", "1"),
            ("PORA_LISTEN", "nope"),
            ("PORA_MAX_COST", "many"),
        ] {
            let err = Config::from_table_and_env(&mut toml::Table::new(), vars(&[bad]))
                .expect_err("refused");
            assert!(err.to_string().contains(bad.0), "{err}");
        }
    }
}
