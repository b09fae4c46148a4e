//! A typed client from the live endpoint, as a front-end developer makes one: for every role,
//! standard introspection (graphql-js) describes exactly the schema `schema print --role R`
//! prints; for police, graphql-codegen generates types from the live URL with a token and a
//! document using them type-checks with `tsc --strict` (`tests/clients/`, npm tools installed
//! by this test).

use pora_tests::{TestApp, on_both_databases};

/// The SDL `pora-gateway schema print --role <role>` prints, for the default configuration.
fn printed_sdl(role: &str) -> String {
    let config = gateway::Config::default();
    let policy = gateway::app::load_policy(&config).expect("policy");
    let limiter = std::sync::Arc::new(schema::RateLimiter::new(config.verify_per_minute));
    let schemas = gateway::app::build_schemas(&policy, &config, &limiter).expect("schemas");
    gateway::app::role_sdl(&schemas[role], false)
}

async fn run(app: &TestApp, role: &str, only_introspection: bool) -> serde_json::Value {
    let dir = pora_tests::node_tools("clients", "@graphql-codegen/cli");
    let sdl = app.data_dir.join(format!("{role}.graphql"));
    std::fs::write(&sdl, printed_sdl(role)).expect("sdl file");
    let (url, token) = (format!("{}/graphql", app.base), app.token(role));
    let sdl = sdl.display().to_string();
    let mut envs = vec![
        ("PORA_URL", url.as_str()),
        ("PORA_TOKEN", token.as_str()),
        ("PORA_SDL_FILE", sdl.as_str()),
    ];
    if only_introspection {
        envs.push(("PORA_CHECK", "introspection"));
    }
    pora_tests::node_report(&dir, "clients.mjs", &[], &envs)
        .await
        .0
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
