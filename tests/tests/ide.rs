//! The GraphiQL IDE as a front-end developer meets it: opened in a browser at `/graphql` (and
//! `/`), served entirely from the gateway, a token pasted into the headers pane, a query run.
//! The browser test drives Debian's Chromium with playwright-core (`tests/browser/ide.mjs`,
//! npm tools installed by this test; Chromium by `.ci/run`).

use pora_tests::{TestApp, on_both_databases};

/// The browser test's npm tools (playwright-core, no browser download) and Debian's Chromium.
fn browser_tools() -> std::path::PathBuf {
    let dir = pora_tests::node_tools("browser", "playwright-core");
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it)"
    );
    dir
}

async fn get(app: &TestApp, path: &str, accept: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.base))
        .header("Accept", accept)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("request")
}

async fn the_ide_runs_a_query_in_a_browser_with_a_pasted_token(app: TestApp) {
    let dir = browser_tools();
    for role in ["police", "unhcr"] {
        let token = app.token(role);
        let (report, success) =
            pora_tests::node_report(&dir, "ide.mjs", &[&app.base, &token, role], &[]).await;
        assert_eq!(report["ok"], true, "{role}: {report}");
        // Every request the page made went to the gateway.
        assert_eq!(
            report["origins"],
            serde_json::json!([app.base]),
            "{role}: {report}"
        );
        assert!(success, "{report}");
    }
}

async fn the_ide_is_served_from_the_binary(app: TestApp) {
    for (path, accept) in [
        ("/graphql", "text/html,application/xhtml+xml,*/*;q=0.8"),
        ("/", "text/html"),
    ] {
        let page = get(&app, path, accept).await;
        assert_eq!(page.status(), 200, "{path}");
        let header = |name: &str| {
            page.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(header("content-type").starts_with("text/html"), "{path}");
        let policy = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "connect-src 'self'",
            "script-src 'self'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        let html = page.text().await.expect("html");
        assert!(html.contains("GraphiQL"));
        // The page loads only paths of this origin, each served with its media type.
        for (asset, media_type) in [
            ("/graphiql/graphiql.js", "text/javascript"),
            ("/graphiql/graphiql.css", "text/css"),
        ] {
            assert!(html.contains(asset), "{asset} in the page");
            let response = get(&app, asset, "*/*").await;
            assert_eq!(response.status(), 200, "{asset}");
            let headers = response.headers().clone();
            assert!(
                headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with(media_type),
                "{asset}: {headers:?}"
            );
            assert_eq!(headers["x-content-type-options"], "nosniff");
            assert_eq!(headers["content-encoding"], "gzip", "{asset} is compressed");
            let body = response.bytes().await.expect("body");
            assert!(!body.is_empty());
        }
        assert!(!html.contains("https://"), "the page names no other host");
    }
    for worker in ["editor.worker.js", "json.worker.js", "graphql.worker.js"] {
        let response = get(&app, &format!("/graphiql/{worker}"), "*/*").await;
        assert_eq!(response.status(), 200, "{worker}");
    }
    assert_eq!(
        get(&app, "/graphiql/../Cargo.toml", "*/*").await.status(),
        404
    );
    assert_eq!(get(&app, "/graphiql/nothing.js", "*/*").await.status(), 404);
    // A GET with a query still runs it, from a browser too; a client's GET without one is
    // still told what is missing.
    let token = app.token("police");
    let run = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(&[("query", "{ viewer { role } }")])
        .header("Accept", "text/html,application/json")
        .bearer_auth(&token)
        .send()
        .await
        .expect("run");
    assert_eq!(run.status(), 200);
    let body: serde_json::Value = run.json().await.expect("json");
    assert_eq!(body["data"]["viewer"]["role"], "police");
    let missing = get(&app, "/graphql", "application/graphql-response+json").await;
    assert_eq!(missing.status(), 401, "no token, no IDE for a non-browser");
}

on_both_databases!(
    the_ide_is_served_from_the_binary,
    the_ide_runs_a_query_in_a_browser_with_a_pasted_token,
);
