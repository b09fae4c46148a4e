//! GraphQL over HTTP: status codes and content types, GET and POST, body limits, parse and
//! validation failures, the depth limit, cursor pagination, filters and sort orders, and a
//! number of SQL statements that does not grow with the number of rows.

use std::collections::BTreeSet;

use pora_tests::{Backend, Reply, TestApp, on_both_databases, within};
use serde_json::{Value, json};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// A POST answered as raw text: status, content type, body.
async fn post_text(
    app: &TestApp,
    token: &str,
    accept: Option<&str>,
    query: &str,
) -> (u16, String, String) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({ "query": query })).expect("json"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = header(&response, "content-type");
    (status, content_type, response.text().await.expect("body"))
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn all_messages(reply: &Reply) -> Vec<String> {
    reply.body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["message"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn a_successful_post_keeps_the_field_order_of_the_query(app: TestApp) {
    let token = app.token("immigration");
    let (status, content_type, text) =
        post_text(&app, &token, None, "{ viewer { role agency } }").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, GRAPHQL_RESPONSE);
    let (role, agency) = (
        text.find("\"role\"").expect(&text),
        text.find("\"agency\"").expect(&text),
    );
    assert!(role < agency, "role asked first: {text}");

    let (status, content_type, text) =
        post_text(&app, &token, None, "{ viewer { agency role } }").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, GRAPHQL_RESPONSE);
    let (role, agency) = (
        text.find("\"role\"").expect(&text),
        text.find("\"agency\"").expect(&text),
    );
    assert!(agency < role, "agency asked first: {text}");

    let value: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(value["data"]["viewer"]["role"], "immigration");
    assert_eq!(value["data"]["viewer"]["agency"], "KANIM-JKP");
}

async fn a_validation_error_is_200_only_for_legacy_json_clients(app: TestApp) {
    let token = app.token("immigration");
    let invalid = "{ viewer { nope } }";

    let (status, content_type, text) =
        post_text(&app, &token, Some("application/json"), invalid).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "application/json");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{text}"
    );
    assert!(body.get("data").is_none(), "{text}");

    for accept in [
        None,
        Some(GRAPHQL_RESPONSE),
        Some("application/graphql-response+json, application/json;q=0.9"),
    ] {
        let (status, content_type, text) = post_text(&app, &token, accept, invalid).await;
        assert_eq!(status, 400, "Accept {accept:?}: {text}");
        assert_eq!(content_type, GRAPHQL_RESPONSE, "Accept {accept:?}");
        let body: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{text}"
        );
        assert!(body.get("data").is_none(), "{text}");
    }
}

async fn get_runs_queries_but_refuses_mutations(app: TestApp) {
    let token = app.token("immigration");
    let reply = app
        .get(Some(&token), &[("query", "{ viewer { role } }")])
        .await;
    assert_eq!(reply.data()["viewer"]["role"], "immigration");

    let reply = app
        .get(
            Some(&token),
            &[
                ("query", "query Who { viewer { agency } }"),
                ("variables", "{}"),
                ("operationName", "Who"),
            ],
        )
        .await;
    assert_eq!(reply.data()["viewer"]["agency"], "KANIM-JKP");

    let response = app
        .client
        .get(format!("{}/graphql", app.base))
        .bearer_auth(&token)
        .query(&[("query", "mutation { x }")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(header(&response, "allow"), "POST");
    let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "METHOD_NOT_ALLOWED",
        "{body}"
    );
    assert!(body.get("data").is_none(), "{body}");
}

async fn a_body_that_is_not_json_is_415(app: TestApp) {
    let token = app.token("immigration");
    let reply = app
        .post_raw(Some(&token), "text/plain", b"{ viewer { role } }".to_vec())
        .await;
    assert_eq!(reply.status, 415, "{}", reply.body);
    assert_eq!(reply.code(), Some("UNSUPPORTED_MEDIA_TYPE"));
    assert!(reply.body.get("data").is_none());
}

async fn oversized_body_is_413_and_the_server_keeps_answering(app: TestApp) {
    let token = app.token("immigration");
    // Well-formed JSON and GraphQL, only too long: the limit alone must refuse it.
    let padding = " ".repeat(4096);
    let big = serde_json::to_vec(&json!({ "query": format!("{{ viewer {{ role }} {padding}}}") }))
        .expect("json");
    assert!(big.len() > 1024);
    let reply = app.post_raw(Some(&token), "application/json", big).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(reply.code(), Some("REQUEST_TOO_LARGE"));
    assert!(reply.body.get("data").is_none());

    // A body just under the limit is still served, and so is everything afterwards.
    let small_padding = " ".repeat(900);
    let small =
        serde_json::to_vec(&json!({ "query": format!("{{ viewer {{ role }} {small_padding}}}") }))
            .expect("json");
    assert!(small.len() <= 1024);
    let reply = app.post_raw(Some(&token), "application/json", small).await;
    assert_eq!(reply.data()["viewer"]["role"], "immigration");
    for _ in 0..3 {
        let reply = app.query(&token, "{ viewer { agency } }").await;
        assert_eq!(reply.data()["viewer"]["agency"], "KANIM-JKP");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_sqlite() {
    oversized_body_is_413_and_the_server_keeps_answering(
        pora_tests::spawn_with(Backend::Sqlite, |c| c.max_body_bytes = 1024).await,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn oversized_body_postgres() {
    oversized_body_is_413_and_the_server_keeps_answering(
        pora_tests::spawn_with(Backend::Postgres, |c| c.max_body_bytes = 1024).await,
    )
    .await
}

async fn malformed_requests_are_400_bad_request(app: TestApp) {
    let token = app.token("immigration");
    for body in [
        &b"{\"query\": "[..],
        b"not json at all",
        b"{\"variables\": {}}",
        b"{\"query\": 42}",
        b"[]",
    ] {
        let reply = app
            .post_raw(Some(&token), "application/json", body.to_vec())
            .await;
        let shown = String::from_utf8_lossy(body);
        assert_eq!(reply.status, 400, "{shown}: {}", reply.body);
        assert_eq!(reply.code(), Some("BAD_REQUEST"), "{shown}: {}", reply.body);
        assert!(reply.body.get("data").is_none(), "{shown}");
    }
}

async fn a_syntax_error_is_400_parse_failed(app: TestApp) {
    let reply = app.query(&app.token("immigration"), "{ viewer {").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.code(), Some("GRAPHQL_PARSE_FAILED"));
    assert!(reply.body.get("data").is_none());
}

async fn a_misspelt_field_is_400_without_suggestions(app: TestApp) {
    let reply = app
        .query(&app.token("immigration"), "{ viewer { rol } }")
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(reply.body.get("data").is_none());
    let messages = all_messages(&reply);
    assert!(!messages.is_empty());
    for message in messages {
        assert!(!message.contains("Did you mean"), "{message}");
        assert!(!message.contains("role"), "{message}");
    }
}

/// `{ persons { nodes { case { members { case … id } } } } }`, exactly `depth` fields deep.
fn nested(depth: usize) -> String {
    assert!(depth >= 3);
    let mut path = vec!["persons", "nodes"];
    for i in 0..depth - 3 {
        path.push(if i % 2 == 0 {
            "case"
        } else {
            "members(first: 1)"
        });
    }
    let mut query = "id".to_owned();
    for step in path.iter().rev() {
        query = format!("{step} {{ {query} }}");
    }
    format!("{{ {query} }}")
}

async fn queries_deeper_than_twelve_levels_are_refused(app: TestApp) {
    let token = app.token("immigration");
    let reply = app.query(&token, &nested(12)).await;
    assert!(
        reply.data()["persons"]["nodes"].is_array(),
        "{}",
        reply.body
    );

    for depth in [13, 25] {
        let reply = app.query(&token, &nested(depth)).await;
        assert_eq!(reply.status, 400, "depth {depth}: {}", reply.body);
        assert!(
            reply.body.get("data").is_none(),
            "depth {depth}: {}",
            reply.body
        );
        assert_eq!(
            reply.code(),
            Some("GRAPHQL_VALIDATION_FAILED"),
            "{}",
            reply.body
        );
        assert!(reply.message().contains("too deep"), "{}", reply.body);
    }
}

/// One page of `persons`, written inline (no variables): ids, totalCount, hasNextPage, endCursor.
async fn page(
    app: &TestApp,
    token: &str,
    first: i64,
    after: Option<&str>,
) -> (Vec<String>, i64, bool, Option<String>) {
    let after = after.map_or(String::new(), |a| format!(", after: {}", json!(a)));
    let query = format!(
        "{{ persons(first: {first}{after}) {{ totalCount nodes {{ id }} pageInfo {{ hasNextPage endCursor }} }} }}"
    );
    let reply = app.query(token, &query).await;
    page_of(&reply)
}

fn page_of(reply: &Reply) -> (Vec<String>, i64, bool, Option<String>) {
    let persons = &reply.data()["persons"];
    let ids = persons["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    (
        ids,
        persons["totalCount"].as_i64().expect("totalCount"),
        persons["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("hasNextPage"),
        persons["pageInfo"]["endCursor"].as_str().map(str::to_owned),
    )
}

async fn pages_are_disjoint_and_count_the_same_total(app: TestApp) {
    let token = app.token("immigration");
    let (first_ids, first_total, has_next, end) = page(&app, &token, 10, None).await;
    assert_eq!(first_ids.len(), 10);
    assert!(has_next);
    let (second_ids, second_total, _, _) = page(&app, &token, 10, end.as_deref()).await;
    assert_eq!(second_ids.len(), 10);
    assert_eq!(first_total, second_total);
    let first_set: BTreeSet<&String> = first_ids.iter().collect();
    assert!(
        second_ids.iter().all(|id| !first_set.contains(id)),
        "pages overlap: {first_ids:?} {second_ids:?}"
    );

    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (ids, total, has_next, end) = page(&app, &token, 100, after.as_deref()).await;
        assert_eq!(total, first_total);
        all.extend(ids);
        if !has_next {
            break;
        }
        after = Some(end.expect("endCursor on a page with a next page"));
        assert!(all.len() <= 100_000, "paging does not end");
    }
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "an id appears on two pages");
    assert_eq!(all.len() as i64, first_total);
    assert!(
        first_ids
            .iter()
            .chain(&second_ids)
            .all(|id| unique.contains(id))
    );
    println!("immigration sees {first_total} persons");
}

/// The usual client pattern `persons(first: $first, after: $after)`: an omitted or null
/// `$after` means the first page, an omitted `$first` the default page size.
async fn omitted_or_null_page_variables_mean_no_argument(app: TestApp) {
    let token = app.token("immigration");
    let (expected, total, _, end) = page(&app, &token, 10, None).await;
    let query = "query Page($first: Int, $after: String) { persons(first: $first, after: $after) { totalCount nodes { id } pageInfo { hasNextPage endCursor } } }";

    let reply = app
        .query_vars(&token, query, json!({ "first": 10, "after": end }))
        .await;
    let (second, _, _, _) = page_of(&reply);
    assert_eq!(
        second,
        page(&app, &token, 10, end.as_deref()).await.0,
        "a cursor given as a variable"
    );

    for variables in [
        json!({ "first": 10 }),
        json!({ "first": 10, "after": null }),
    ] {
        let reply = app.query_vars(&token, query, variables.clone()).await;
        assert_eq!(reply.status, 200, "{variables}: {}", reply.body);
        assert!(
            reply.body.get("errors").is_none(),
            "{variables}: {}",
            reply.body
        );
        let (ids, count, _, _) = page_of(&reply);
        assert_eq!((ids, count), (expected.clone(), total), "{variables}");
    }
    let reply = app.query_vars(&token, query, json!({})).await;
    assert!(
        reply.body.get("errors").is_none(),
        "no variables: {}",
        reply.body
    );
    assert_eq!(
        page_of(&reply).0.len(),
        50.min(total as usize),
        "the default page size"
    );
}

async fn bad_page_arguments_are_bad_user_input(app: TestApp) {
    let token = app.token("immigration");
    for query in [
        "{ persons(first: 100000) { nodes { id } } }",
        "{ persons(first: -1) { nodes { id } } }",
        "{ persons(after: \"nonsense\") { nodes { id } } }",
    ] {
        let reply = app.query(&token, query).await;
        assert_eq!(
            reply.code(),
            Some("BAD_USER_INPUT"),
            "{query}: {}",
            reply.body
        );
        assert!(
            reply.body["data"].is_null() || reply.body["data"]["persons"].is_null(),
            "{query}: {}",
            reply.body
        );
    }
}

/// docs/errors.md: `BAD_USER_INPUT` is a field error, answered 200 with `data` (here null, as
/// `persons` is non-null), not a request error; the same for the legacy `application/json`.
async fn a_field_error_is_answered_200_with_data(app: TestApp) {
    let token = app.token("immigration");
    for accept in [None, Some("application/json")] {
        let (status, _, text) = post_text(
            &app,
            &token,
            accept,
            "{ persons(first: 100000) { nodes { id } } }",
        )
        .await;
        let body: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{text}"
        );
        assert_eq!(status, 200, "Accept {accept:?}: {text}");
        assert!(
            body.get("data").is_some(),
            "Accept {accept:?}: an executed request has `data`: {text}"
        );
    }
}

async fn statements_used(app: &TestApp, token: &str, n: usize) -> u64 {
    let query = format!(
        "{{ persons(first: {n}) {{ nodes {{ id case {{ members {{ id registration {{ legalStatus }} }} }} currentPlacement {{ kind shelter {{ name operator {{ code }} }} }} immigrationRecord {{ entryMode }} }} }} }}"
    );
    let reply = app.query(token, &query).await;
    let nodes = reply.data()["persons"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), n, "the demo data has at least {n} persons");
    assert!(
        nodes
            .iter()
            .any(|p| !p["currentPlacement"]["shelter"]["operator"]["code"].is_null()),
        "first {n}: some person must reach a shelter operator, or the comparison is unfair"
    );
    reply.sql_statements.expect("x-sql-statements")
}

async fn sql_statements_do_not_grow_with_rows(app: TestApp) {
    let token = app.token("immigration");
    let five = statements_used(&app, &token, 5).await;
    let hundred = statements_used(&app, &token, 100).await;
    println!(
        "{:?}: {five} statements for 5 persons, {hundred} for 100",
        app.backend
    );
    assert!(five > 0);
    assert_eq!(five, hundred, "statements must not grow with rows");
}

const FIELDS: &str = "totalCount nodes { id nationality residenceRegion dateOfBirth }";

/// All persons matching `arguments` (GraphQL literal text after `first: 500`).
async fn persons(app: &TestApp, token: &str, arguments: &str) -> Vec<Value> {
    let query = format!("{{ persons(first: 500{arguments}) {{ {FIELDS} }} }}");
    nodes_of(&app.query(token, &query).await)
}

fn nodes_of(reply: &Reply) -> Vec<Value> {
    let persons = &reply.data()["persons"];
    let nodes = persons["nodes"].as_array().expect("nodes").clone();
    assert_eq!(
        persons["totalCount"].as_u64(),
        Some(nodes.len() as u64),
        "all rows fit one page"
    );
    nodes
}

fn ids(nodes: &[Value], keep: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    nodes
        .iter()
        .filter(|n| keep(n))
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Which rows a filter must keep, computed from the unfiltered rows.
type Matcher = Box<dyn Fn(&Value) -> bool>;

fn text(node: &Value, field: &str) -> String {
    node[field].as_str().expect(field).to_owned()
}

async fn filters_and_sort_orders_select_exactly_the_matching_rows(app: TestApp) {
    let token = app.token("immigration");
    let everyone = persons(&app, &token, "").await;
    assert!(everyone.len() > 50, "demo data");

    let cases: Vec<(&str, Matcher)> = vec![
        (
            r#"nationality: { eq: "AFG" }"#,
            Box::new(|n| text(n, "nationality") == "AFG"),
        ),
        (
            r#"residenceRegion: { within: "31.71.01" }"#,
            Box::new(|n| within(&text(n, "residenceRegion"), "31.71.01")),
        ),
        (
            r#"dateOfBirth: { gte: "2010-01-01" }"#,
            Box::new(|n| text(n, "dateOfBirth").as_str() >= "2010-01-01"),
        ),
        (
            r#"nationality: { in: ["AFG", "SOM"] }"#,
            Box::new(|n| ["AFG", "SOM"].contains(&text(n, "nationality").as_str())),
        ),
    ];
    for (filter, keep) in &cases {
        let expected = ids(&everyone, keep);
        assert!(
            !expected.is_empty() && expected.len() < everyone.len(),
            "{filter}: the demo data should split"
        );
        let got = persons(&app, &token, &format!(", where: {{ {filter} }}")).await;
        assert!(got.iter().all(keep), "{filter}: a row does not match");
        assert_eq!(ids(&got, |_| true), expected, "{filter}");
    }
    let afg = ids(&everyone, |n| text(n, "nationality") == "AFG");
    let som = ids(&everyone, |n| text(n, "nationality") == "SOM");
    assert!(
        !afg.is_empty() && !som.is_empty(),
        "both nationalities occur in the demo data"
    );

    let sorted = persons(
        &app,
        &token,
        ", orderBy: [{ field: DATE_OF_BIRTH, direction: DESC }]",
    )
    .await;
    assert_eq!(sorted.len(), everyone.len());
    let dates: Vec<String> = sorted.iter().map(|n| text(n, "dateOfBirth")).collect();
    assert!(
        dates.windows(2).all(|w| w[0] >= w[1]),
        "not in descending order: {dates:?}"
    );
}

/// Filters and sort orders given as variables act exactly like the same values written inline.
async fn filters_and_sort_orders_in_variables_match_inline_ones(app: TestApp) {
    let token = app.token("immigration");
    let query = format!(
        "query F($where: PersonFilter, $orderBy: [PersonOrder!]) {{ persons(first: 500, where: $where, orderBy: $orderBy) {{ {FIELDS} }} }}"
    );
    let inline = persons(
        &app,
        &token,
        r#", where: { nationality: { in: ["AFG", "SOM"] } }"#,
    )
    .await;
    let reply = app
        .query_vars(
            &token,
            &query,
            json!({ "where": { "nationality": { "in": ["AFG", "SOM"] } } }),
        )
        .await;
    assert_eq!(nodes_of(&reply), inline, "where as a variable");

    let inline = persons(
        &app,
        &token,
        ", orderBy: [{ field: DATE_OF_BIRTH, direction: DESC }]",
    )
    .await;
    let reply = app
        .query_vars(
            &token,
            &query,
            json!({ "orderBy": [{ "field": "DATE_OF_BIRTH", "direction": "DESC" }] }),
        )
        .await;
    assert_eq!(
        reply.body.get("errors"),
        None,
        "orderBy as a variable: {}",
        reply.body
    );
    assert_eq!(nodes_of(&reply), inline, "orderBy as a variable");
}

on_both_databases!(
    a_successful_post_keeps_the_field_order_of_the_query,
    a_validation_error_is_200_only_for_legacy_json_clients,
    get_runs_queries_but_refuses_mutations,
    a_body_that_is_not_json_is_415,
    malformed_requests_are_400_bad_request,
    a_syntax_error_is_400_parse_failed,
    a_misspelt_field_is_400_without_suggestions,
    queries_deeper_than_twelve_levels_are_refused,
    pages_are_disjoint_and_count_the_same_total,
    bad_page_arguments_are_bad_user_input,
    a_field_error_is_answered_200_with_data,
    sql_statements_do_not_grow_with_rows,
    filters_and_sort_orders_select_exactly_the_matching_rows,
    omitted_or_null_page_variables_mean_no_argument,
    filters_and_sort_orders_in_variables_match_inline_ones,
);
