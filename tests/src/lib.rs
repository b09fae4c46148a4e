//! Test helpers: start the real application on port 0 with a fresh database (a SQLite file in
//! a temporary folder, or a new PostgreSQL database), mint tokens with its key, speak HTTP.

pub mod new_role;
pub mod otlp;
pub mod proxy;

use std::path::PathBuf;

use gateway::Application;
pub use gateway::Config;
use gateway::auth::{Authenticator, Claims, SigningKeys};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

/// The roles of `shared/domain.md`, transcribed here (not read from the policy): the built-in
/// policy must have exactly these.
pub const DOMAIN_ROLES: &[&str] = &[
    "immigration",
    "unhcr",
    "kesbangpol",
    "police",
    "municipality",
    "iom",
    "admin",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub auth: Authenticator,
    /// The test's own connection to the same database, for oracles computed from raw rows.
    pub db: DatabaseConnection,
    pub backend: Backend,
    pub data_dir: PathBuf,
    /// The URL of the test's own database.
    pub database_url: String,
    /// The separate `/metrics` server, when `metrics_listen` is configured.
    pub metrics_base: Option<String>,
    /// Lets a request held by `fault_injection.hold_in_execution_for_subject` go on.
    pub fault_release: std::sync::Arc<tokio::sync::Notify>,
    /// The policy the gateway runs with (the built-in one unless the test configured a file).
    pub policy: schema::Policy,
    /// The agency and jurisdiction `token(role)` names, by role: the demo agencies, plus any a
    /// test added (`with_agency`).
    pub agencies: std::collections::BTreeMap<String, (String, String)>,
    _temp: tempfile::TempDir,
}

/// Runs each named async test function once on SQLite and once on PostgreSQL. The
/// PostgreSQL leg needs `PORA_TEST_POSTGRES_URL`; without it those tests are reported ignored.
#[macro_export]
macro_rules! on_both_databases {
    (spawn = $spawn:path; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($spawn($crate::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(pora_postgres), ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set")]
                async fn $name() {
                    super::$name($spawn($crate::Backend::Postgres).await).await
                }
            )*
        }
    };
    (config = $adjust:ident; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::spawn_with($crate::Backend::Sqlite, super::$adjust).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(pora_postgres), ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set")]
                async fn $name() {
                    super::$name($crate::spawn_with($crate::Backend::Postgres, super::$adjust).await).await
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        fn default_test_config(config: &mut $crate::Config) {
            $crate::default_config(config)
        }
        $crate::on_both_databases!(config = default_test_config; $($name),*);
    };
}

/// The configuration of `spawn`: the defaults for tests, unchanged.
pub fn default_config(_: &mut Config) {}

/// A fresh PostgreSQL database on the server named by `PORA_TEST_POSTGRES_URL`.
pub async fn fresh_postgres_database() -> String {
    let admin_url = std::env::var("PORA_TEST_POSTGRES_URL")
        .expect("PORA_TEST_POSTGRES_URL must be set for the PostgreSQL leg");
    let admin = Database::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at PORA_TEST_POSTGRES_URL: {e}"));
    let name = format!("pora_t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .expect("URL with a database name");
    format!("{base}/{name}")
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, |_| {}).await
}

/// Starts the gateway with demo data; `adjust` may change the configuration first.
pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: temp.path().to_owned(),
        workers: 1,
        // Aggregated refusal events are written soon after, for tests to read.
        refusal_audit_interval: 0.2,
        // The demo data on PostgreSQL too (it is loaded only when asked there).
        demo_data: Some(true),
        // Oracle tests read whole tables in one request (every case with its members, every
        // incident with its persons): no front end's query, so the cost limit is raised for
        // them. tests/hardening.rs runs with the default limits.
        max_cost: 10_000_000,
        ..Config::default()
    };
    config.database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    adjust(&mut config);
    let url = config.database_url();
    let app = Application::build(config.clone())
        .await
        .expect("application starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics_base = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    let keys = SigningKeys::load_or_generate(&config.data_dir).expect("key");
    let policy = gateway::app::load_policy(&config).expect("policy");
    let roles = policy.roles.keys().cloned().collect();
    let auth = Authenticator::new(keys, &config.issuer, &config.audience, roles);
    let db = Database::connect(&url).await.expect("test connection");
    let url = url.clone();
    TestApp {
        base,
        client: reqwest::Client::new(),
        auth,
        db,
        backend,
        data_dir: config.data_dir.clone(),
        database_url: url,
        metrics_base,
        fault_release: config.fault_injection.release.clone(),
        policy,
        agencies: gateway::seed::DEMO_AGENCIES
            .iter()
            .map(|a| (a.0.to_owned(), (a.1.to_owned(), a.4.to_owned())))
            .collect(),
        _temp: temp,
    }
}

/// The demo agency and jurisdiction of a role.
pub fn demo_agency(role: &str) -> (&'static str, &'static str) {
    gateway::seed::DEMO_AGENCIES
        .iter()
        .find(|a| a.0 == role)
        .map_or(("PORA-ADMIN", "31"), |a| (a.1, a.4))
}

pub struct Reply {
    pub status: u16,
    /// The `x-request-id` header: the audit event's request id.
    pub request_id: String,
    /// The `x-sql-statements` header: statements the execution sent.
    pub sql_statements: Option<u64>,
    pub content_type: String,
    pub body: Value,
}

impl Reply {
    /// The `errors[0].extensions.code`, if any.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    pub fn message(&self) -> &str {
        self.body["errors"][0]["message"].as_str().unwrap_or("")
    }

    /// `data`, asserting there were no errors.
    pub fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        assert_eq!(self.status, 200, "{}", self.body);
        &self.body["data"]
    }
}

impl TestApp {
    /// `token(role)` names `agency` with `jurisdiction` from now on.
    pub fn with_agency(mut self, role: &str, agency: &str, jurisdiction: &str) -> TestApp {
        self.agencies.insert(
            role.to_owned(),
            (agency.to_owned(), jurisdiction.to_owned()),
        );
        self
    }

    /// The agency and jurisdiction of `role`'s tokens (`token(role)`).
    pub fn agency_of(&self, role: &str) -> (&str, &str) {
        self.agencies
            .get(role)
            .map_or(("PORA-ADMIN", "31"), |(a, j)| (a.as_str(), j.as_str()))
    }

    /// The roles of the running policy that have `type_name`.
    pub fn roles_with(&self, type_name: &str) -> Vec<String> {
        self.policy
            .roles
            .iter()
            .filter(|(_, r)| r.types.contains_key(type_name))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// A token for `role` at its agency and jurisdiction (`agency_of`).
    pub fn token(&self, role: &str) -> String {
        let (agency, jurisdiction) = self.agency_of(role);
        self.token_for(role, agency, jurisdiction)
    }

    pub fn token_for(&self, role: &str, agency: &str, jurisdiction: &str) -> String {
        self.auth
            .issue(
                role,
                agency,
                jurisdiction,
                &format!("test-{role}"),
                chrono::Duration::hours(1),
            )
            .expect("sign")
    }

    /// A token for `role` at its demo agency whose `scope` claim is `scope` as given.
    pub fn token_with_scope(&self, role: &str, scope: &str) -> String {
        let (agency, jurisdiction) = self.agency_of(role);
        let now = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            iss: self.auth.issuer().to_owned(),
            aud: self.auth.audience().to_owned(),
            sub: format!("test-{role}-scoped"),
            exp: now + 3600,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            role: role.to_owned(),
            agency: agency.to_owned(),
            jurisdiction: jurisdiction.to_owned(),
            purpose: None,
            scope: Some(scope.to_owned()),
        })
    }

    pub fn sign(&self, claims: &Claims) -> String {
        self.auth.sign(claims).expect("sign")
    }

    pub async fn post_raw(&self, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        reply(request.send().await.expect("request")).await
    }

    pub async fn query(&self, token: &str, query: &str) -> Reply {
        self.query_vars(token, query, json!({})).await
    }

    /// A query with extra request headers (a router's `x-pora-router-token`, say).
    pub async fn query_with_headers(
        &self,
        token: &str,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(token)
            .json(&json!({ "query": query }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.send().await.expect("request")).await
    }

    pub async fn query_vars(&self, token: &str, query: &str, variables: Value) -> Reply {
        let body =
            serde_json::to_vec(&json!({ "query": query, "variables": variables })).expect("json");
        self.post_raw(Some(token), "application/json", body).await
    }

    pub async fn get(&self, token: Option<&str>, params: &[(&str, &str)]) -> Reply {
        let mut request = self
            .client
            .get(format!("{}/graphql", self.base))
            .query(params);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        reply(request.send().await.expect("request")).await
    }

    /// `pora_sql_statements_total` from `/metrics`.
    pub async fn sql_statements(&self) -> u64 {
        self.metric("pora_sql_statements_total").await
    }

    /// A counter of `/metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no counter {name}"))
    }

    /// The events of the writes the request with `request_id` made, in chain order.
    pub async fn write_events(&self, request_id: &str) -> Vec<entities::audit_event::Model> {
        use entities::audit_event;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        audit_event::Entity::find()
            .filter(audit_event::Column::RequestId.eq(request_id))
            .filter(audit_event::Column::FieldsWritten.is_not_null())
            .order_by_asc(audit_event::Column::Seq)
            .all(&self.db)
            .await
            .expect("audit events")
    }

    /// The aggregated event that counts the refusal of the request with `request_id` (the first
    /// of its interval), once it has been written.
    pub async fn refusal_event(&self, request_id: &str) -> entities::audit_event::Model {
        use entities::audit_event;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        for _ in 0..100 {
            if let Some(event) = audit_event::Entity::find()
                .filter(audit_event::Column::RequestId.eq(request_id))
                .one(&self.db)
                .await
                .expect("audit events")
            {
                return event;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no refusal event for request {request_id}");
    }

    /// The audit event of the answer to the request with `request_id`, as stored (exactly one;
    /// a write's own events, committed with the write, are `write_events`).
    pub async fn audit_event(&self, request_id: &str) -> entities::audit_event::Model {
        use entities::audit_event;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let mut events = audit_event::Entity::find()
            .filter(audit_event::Column::RequestId.eq(request_id))
            .filter(audit_event::Column::FieldsWritten.is_null())
            .all(&self.db)
            .await
            .expect("audit events");
        assert_eq!(events.len(), 1, "one audit event for request {request_id}");
        events.remove(0)
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let sql_statements = response
        .headers()
        .get("x-sql-statements")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    Reply {
        status,
        request_id,
        sql_statements,
        content_type,
        body,
    }
}

/// Whether region `code` lies within `prefix`.
pub fn within(code: &str, prefix: &str) -> bool {
    code == prefix || code.starts_with(&format!("{prefix}."))
}

/// Installs the npm test tools of `tests/<folder>` (`npm ci`, from its lockfile) once per run,
/// unless `node_modules/<marker>` is there already; returns the folder.
pub fn node_tools(folder: &str, marker: &str) -> PathBuf {
    static READY: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    if !ready.iter().any(|f| f == folder) {
        if !dir.join("node_modules").join(marker).exists() {
            let status = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .expect("npm must be installed for the tests with npm tools (Node.js 18 or later)");
            assert!(status.success(), "npm ci in tests/{folder} failed");
        }
        ready.push(folder.to_owned());
    }
    dir
}

/// Runs `node <script> <args>` in `dir` with `envs`, off the async runtime, and returns the
/// report it prints (its last JSON line) and whether it exited 0.
pub async fn node_report(
    dir: &std::path::Path,
    script: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Value, bool) {
    let mut command = std::process::Command::new("node");
    command.arg(script).args(args).current_dir(dir);
    for (name, value) in envs {
        command.env(name, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("node runs"))
        .await
        .expect("node tool");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no report from {script}: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    (report, output.status.success())
}
