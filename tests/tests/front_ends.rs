//! What a web front end needs: cross-origin access for the configured origins only, answers in
//! the order of the selection set every time, and scalars a code generator can type.

use pora_tests::{Config, TestApp, on_both_databases};
use serde_json::json;

const ALLOWED: &str = "http://localhost:5173";

fn with_cors(c: &mut Config) {
    c.cors_origins = vec![
        ALLOWED.to_owned(),
        "https://dashboard.kesbangpol.example".into(),
    ];
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight")
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn listed_origins_may_call_the_api_from_a_browser(app: TestApp) {
    let granted = preflight(&app, ALLOWED).await;
    assert!(granted.status().is_success(), "{}", granted.status());
    assert_eq!(
        header(&granted, "access-control-allow-origin").as_deref(),
        Some(ALLOWED)
    );
    let headers = header(&granted, "access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    assert!(header(&granted, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    assert_eq!(header(&granted, "access-control-allow-credentials"), None);

    // The request itself carries the grant, and exposes the request id to the page.
    let answer = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("origin", ALLOWED)
        .bearer_auth(app.token("police"))
        .json(&json!({"query": "{ viewer { role } }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        header(&answer, "access-control-allow-origin").as_deref(),
        Some(ALLOWED)
    );
    assert!(
        header(&answer, "access-control-expose-headers")
            .is_some_and(|h| h.to_lowercase().contains("x-request-id"))
    );

    // Any other origin gets no grant, in the preflight or the answer.
    for stranger in ["http://evil.example", "http://localhost:5174", "null"] {
        let refused = preflight(&app, stranger).await;
        assert_eq!(
            header(&refused, "access-control-allow-origin"),
            None,
            "{stranger}"
        );
        let answer = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("origin", stranger)
            .bearer_auth(app.token("police"))
            .json(&json!({"query": "{ viewer { role } }"}))
            .send()
            .await
            .expect("request");
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            None,
            "{stranger}"
        );
    }
}

/// Keys of a JSON object in the order the body had them (read into an order-keeping map).
fn keys(text: &str, path: &[&str]) -> Vec<String> {
    let mut value: async_graphql::Value = serde_json::from_str(text).expect("json");
    for p in path {
        value = match value {
            async_graphql::Value::Object(mut map) => map.shift_remove(*p).expect("key"),
            other => panic!("not an object: {other}"),
        };
    }
    match value {
        async_graphql::Value::Object(map) => map.keys().map(|k| k.to_string()).collect(),
        other => panic!("not an object: {other}"),
    }
}

async fn answers_keep_the_order_of_the_selection_set(app: TestApp) {
    let token = app.token("police");
    let query = "{ shelters(first: 2) { totalCount nodes { name id } } viewer { role agency } incidents(first: 3) { nodes { region kind id } totalCount } agencies(first: 1) { nodes { code name } } }";
    for _ in 0..12 {
        let text = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        assert_eq!(
            keys(&text, &["data"]),
            ["shelters", "viewer", "incidents", "agencies"],
            "{text}"
        );
        assert_eq!(keys(&text, &["data", "shelters"]), ["totalCount", "nodes"]);
        assert_eq!(keys(&text, &["data", "incidents"]), ["nodes", "totalCount"]);
        assert_eq!(keys(&text, &["data", "viewer"]), ["role", "agency"]);
    }
}

async fn custom_scalars_say_what_they_are(app: TestApp) {
    let reply = app
        .query(
            &app.token("immigration"),
            r#"{ __schema { types { name kind specifiedByURL } } }"#,
        )
        .await;
    let types = reply.data()["__schema"]["types"]
        .as_array()
        .expect("types")
        .clone();
    let url = |name: &str| {
        types
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t["specifiedByURL"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(
        url("DateTime").as_deref(),
        Some("https://datatracker.ietf.org/doc/html/rfc3339")
    );
    assert!(url("Date").is_some_and(|u| u.contains("8601")));
    assert!(url("RegionCode").is_some());
}

on_both_databases!(
    config = with_cors;
    listed_origins_may_call_the_api_from_a_browser,
    answers_keep_the_order_of_the_selection_set,
    custom_scalars_say_what_they_are,
);
