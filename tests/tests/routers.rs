//! Routers cannot widen the matrix: composed into Hive Gateway (a real router, npm
//! `@graphql-hive/gateway-runtime`, installed by this test into `tests/hive/`) as
//! docs/federation.md says to run it (one router per agency on a contract supergraph composed
//! from `schema print --federation --role police`, introspection off, the caller's
//! `Authorization` forwarded), a caller with no token and a police caller cannot read a field
//! police lacks, by introspection, by suggestion or by query; police's own queries still work.
//! The control: the all-roles composed SDL behind a router with introspection on lists it.

use pora_tests::{TestApp, on_both_databases};

async fn a_contract_router_keeps_the_matrix(app: TestApp) {
    let dir = pora_tests::node_tools("hive", "@graphql-hive/gateway-runtime");
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
        let (url, token) = (format!("{}/graphql", app.base), app.token("police"));
        let (police, composed) = (police.display().to_string(), composed.display().to_string());
        let (report, success) = pora_tests::node_report(
            &dir,
            "hive.mjs",
            &[],
            &[
                ("PORA_URL", url.as_str()),
                ("PORA_SDL_FILE", police.as_str()),
                ("PORA_COMPOSED_SDL_FILE", composed.as_str()),
                ("PORA_POLICE_TOKEN", token.as_str()),
                ("PORA_HIDDEN_FIELD", hidden),
                ("PORA_HIDDEN_TYPE", "Person"),
            ],
        )
        .await;
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
        assert!(success, "{report}");
    }
}

on_both_databases!(a_contract_router_keeps_the_matrix);
