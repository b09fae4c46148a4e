//! A typed client from the live endpoint, as a front-end developer makes one: for every role,
//! standard introspection (graphql-js) describes exactly the schema `schema print --role R`
//! prints; for police, graphql-codegen generates types from the live URL with a token and a
//! document using them type-checks with `tsc --strict` (`tests/clients/`, npm tools installed
//! by this test).

use std::sync::OnceLock;

use pora_tests::{TestApp, on_both_databases};

fn client_tools() -> std::path::PathBuf {
    static READY: OnceLock<std::path::PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients");
            if !dir.join("node_modules/@graphql-codegen/cli").exists() {
                let status = std::process::Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&dir)
                    .status()
                    .expect("npm must be installed for the client tests (Node.js 18 or later)");
                assert!(status.success(), "npm ci in tests/clients failed");
            }
            dir
        })
        .clone()
}

/// The SDL `pora-gateway schema print --role <role>` prints, for the default configuration.
fn printed_sdl(role: &str) -> String {
    let config = gateway::Config::default();
    let policy = gateway::app::load_policy(&config).expect("policy");
    let limiter = std::sync::Arc::new(schema::RateLimiter::new(config.verify_per_minute));
    let schemas = gateway::app::build_schemas(&policy, &config, &limiter).expect("schemas");
    gateway::app::role_sdl(&schemas[role], false)
}

async fn run(app: &TestApp, role: &str, only_introspection: bool) -> serde_json::Value {
    let dir = client_tools();
    let sdl = app.data_dir.join(format!("{role}.graphql"));
    std::fs::write(&sdl, printed_sdl(role)).expect("sdl file");
    let mut command = std::process::Command::new("node");
    command
        .arg("clients.mjs")
        .current_dir(&dir)
        .env("PORA_URL", format!("{}/graphql", app.base))
        .env("PORA_TOKEN", app.token(role))
        .env("PORA_SDL_FILE", &sdl);
    if only_introspection {
        command.env("PORA_CHECK", "introspection");
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("node runs"))
        .await
        .expect("client tools");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no report from clients.mjs: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

async fn introspection_describes_the_printed_schema_of_every_role(app: TestApp) {
    for role in [
        "immigration",
        "iom",
        "kesbangpol",
        "municipality",
        "police",
        "unhcr",
        "admin",
    ] {
        let report = run(&app, role, true).await;
        assert_eq!(report["introspectionMatchesSdl"], true, "{role}: {report}");
        assert_eq!(report["errors"], serde_json::json!([]), "{role}: {report}");
    }
}

async fn a_typed_client_is_generated_from_the_live_endpoint(app: TestApp) {
    let report = run(&app, "police", false).await;
    assert_eq!(report["codegen"], true, "{report}");
    assert_eq!(report["typecheck"], true, "{report}");
    assert_eq!(report["introspectionMatchesSdl"], true, "{report}");
}

on_both_databases!(
    introspection_describes_the_printed_schema_of_every_role,
    a_typed_client_is_generated_from_the_live_endpoint,
);
