//! Routers cannot widen the matrix: composed into Hive Gateway (a real router, npm
//! `@graphql-hive/gateway-runtime`, installed by this test into `tests/hive/`) as
//! docs/federation.md says to run it (one router per agency on a contract supergraph composed
//! from `schema print --federation --role police`, introspection off, the caller's
//! `Authorization` forwarded), a caller with no token and a police caller cannot read a field
//! police lacks, by introspection, by suggestion or by query; police's own queries still work.
//! The control: the all-roles composed SDL behind a router with introspection on lists it.

use std::sync::OnceLock;

use pora_tests::{TestApp, on_both_databases};

fn router_tools() -> std::path::PathBuf {
    static READY: OnceLock<std::path::PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hive");
            if !dir
                .join("node_modules/@graphql-hive/gateway-runtime")
                .exists()
            {
                let status = std::process::Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&dir)
                    .status()
                    .expect("npm must be installed for the router tests (Node.js 18 or later)");
                assert!(status.success(), "npm ci in tests/hive failed");
            }
            dir
        })
        .clone()
}

async fn a_contract_router_keeps_the_matrix(app: TestApp) {
    let dir = router_tools();
    let config = gateway::Config::default();
    let policy = gateway::app::load_policy(&config).expect("policy");
    let limiter = std::sync::Arc::new(schema::RateLimiter::new(config.verify_per_minute));
    let schemas = gateway::app::build_schemas(&policy, &config, &limiter).expect("schemas");
    // What `schema print --federation --role police` and `schema print --federation` print.
    let police = app.data_dir.join("police.graphql");
    std::fs::write(&police, gateway::app::role_sdl(&schemas["police"], true)).expect("sdl");
    let composed = app.data_dir.join("composed.graphql");
    std::fs::write(
        &composed,
        gateway::app::router_sdl(&schemas).expect("composed"),
    )
    .expect("sdl");
    for hidden in ["religion", "medicalNotes", "claimNarrative"] {
        let mut command = std::process::Command::new("node");
        command
            .arg("hive.mjs")
            .current_dir(&dir)
            .env("PORA_URL", format!("{}/graphql", app.base))
            .env("PORA_SDL_FILE", &police)
            .env("PORA_COMPOSED_SDL_FILE", &composed)
            .env("PORA_POLICE_TOKEN", app.token("police"))
            .env("PORA_HIDDEN_FIELD", hidden)
            .env("PORA_HIDDEN_TYPE", "Person");
        let output = tokio::task::spawn_blocking(move || command.output().expect("node runs"))
            .await
            .expect("router run");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: serde_json::Value = stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| {
                panic!(
                    "no report from hive.mjs: {stdout}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            });
        for caller in ["anonymous", "police"] {
            assert_eq!(
                report["introspectionListsHidden"][caller], false,
                "{hidden}: {report}"
            );
            assert_eq!(
                report["queryReturnsHidden"][caller], false,
                "{hidden}: {report}"
            );
        }
        assert_eq!(report["allowedQueryWorks"], true, "{report}");
        assert_eq!(
            report["composedLeaksWithIntrospection"], true,
            "the control must show the risk the documentation warns of: {report}"
        );
        assert!(output.status.success(), "{report}");
    }
}

on_both_databases!(a_contract_router_keeps_the_matrix);
