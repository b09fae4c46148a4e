//! Relay keyset pagination as a front end pages: forward with `first`/`after` and backward with
//! `last`/`before`, over orders with nulls, descending and mixed terms; rows inserted and
//! deleted between pages neither repeat nor push others out; cursors are bound to their list,
//! filter and order. (That a page is a seek whatever its number is measured in `bench/`.)

use std::collections::HashSet;

use base64::Engine as _;
use pora_tests::{TestApp, on_both_databases};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String, $order: [IncidentOrder!], $where: IncidentFilter) {
  incidents(first: $first, after: $after, last: $last, before: $before, orderBy: $order, where: $where) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

/// The orders tried: the default (id), a nullable column descending, and two mixed terms.
fn orders() -> Vec<Value> {
    vec![
        json!([]),
        json!([{ "field": "HEADCOUNT", "direction": "DESC" }]),
        json!([{ "field": "KIND" }, { "field": "OCCURRED_AT", "direction": "DESC" }]),
    ]
}

struct Page {
    ids: Vec<String>,
    cursors: Vec<String>,
    info: Value,
}

async fn page(app: &TestApp, token: &str, variables: Value) -> Page {
    let reply = app.query_vars(token, PAGE, variables.clone()).await;
    assert_eq!(reply.status, 200, "{variables}: {}", reply.body);
    let connection = &reply.data()["incidents"];
    let edges = connection["edges"].as_array().expect("edges");
    Page {
        ids: edges
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
            .collect(),
        cursors: edges
            .iter()
            .map(|e| e["cursor"].as_str().expect("cursor").to_owned())
            .collect(),
        info: connection["pageInfo"].clone(),
    }
}

/// Every visible incident in `order`, in one page (the oracle's view of the order).
async fn all(app: &TestApp, token: &str, order: &Value) -> Vec<String> {
    let whole = page(app, token, json!({ "first": 500, "order": order })).await;
    assert_eq!(
        whole.info["hasNextPage"], false,
        "more than one page of incidents"
    );
    whole.ids
}

async fn create_incident(app: &TestApp, token: &str, headcount: Option<i64>) -> String {
    let reply = app
        .query_vars(
            token,
            "mutation($input: IncidentCreateInput!) { createIncident(input: $input) { id } }",
            json!({ "input": { "kind": "GATHERING", "occurredAt": "2026-11-20T08:00:00Z", "region": "31.71.04.1001", "headcount": headcount } }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.data()["createIncident"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Deletes an incident and the links to its persons (the database refuses to leave them
/// pointing at nothing).
async fn delete_incident(app: &TestApp, id: &str) {
    let backend = app.db.get_database_backend();
    let placeholder = match backend {
        sea_orm::DbBackend::Postgres => "$1",
        _ => "?",
    };
    for table_and_column in ["incident_persons WHERE incident_id", "incidents WHERE id"] {
        app.db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!("DELETE FROM {table_and_column} = {placeholder}"),
                [id.into()],
            ))
            .await
            .expect("delete");
    }
}

/// Whether `part` appears in `whole` in the same relative order.
fn is_subsequence(part: &[String], whole: &[String]) -> bool {
    let mut rest = whole.iter();
    part.iter().all(|p| rest.any(|w| w == p))
}

async fn pages_hold_under_inserts_and_deletes(app: TestApp) {
    let token = app.token("police");
    for order in orders() {
        let before = all(&app, &token, &order).await;
        assert!(before.len() > 12, "enough incidents to page through");
        let mut seen: Vec<String> = Vec::new();
        let mut deleted = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let p = page(
                &app,
                &token,
                json!({ "first": 4, "after": after, "order": order }),
            )
            .await;
            assert_eq!(p.info["hasPreviousPage"], json!(after.is_some()));
            seen.extend(p.ids.iter().cloned());
            pages += 1;
            if pages == 1 {
                // Between pages: rows are inserted and deleted, some before the position,
                // some after it.
                create_incident(&app, &token, None).await;
                create_incident(&app, &token, Some(100_000)).await;
                create_incident(&app, &token, Some(1)).await;
                let seen_one = p.ids[0].clone();
                let unseen = before[before.len() - 2].clone();
                delete_incident(&app, &seen_one).await;
                delete_incident(&app, &unseen).await;
                deleted.push(seen_one);
                deleted.push(unseen);
            }
            if p.info["hasNextPage"] == false {
                break;
            }
            assert_eq!(p.info["endCursor"], json!(p.cursors.last()));
            after = p.info["endCursor"].as_str().map(str::to_owned);
            assert!(pages < 100, "paging never ends");
        }
        let end = all(&app, &token, &order).await;
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{order}: a row came twice");
        let survivors: Vec<String> = seen
            .iter()
            .filter(|id| !deleted.contains(id))
            .cloned()
            .collect();
        assert!(
            is_subsequence(&survivors, &end),
            "{order}: the pages are out of order"
        );
        for id in before.iter().filter(|id| end.contains(id)) {
            assert!(seen.contains(id), "{order}: row {id} was skipped");
        }
    }
}

async fn backward_pages_walk_the_same_rows(app: TestApp) {
    let token = app.token("police");
    for order in orders() {
        let whole = all(&app, &token, &order).await;
        let mut walked: Vec<String> = Vec::new();
        let mut before: Option<String> = None;
        let mut first_page = true;
        loop {
            let p = page(
                &app,
                &token,
                json!({ "last": 5, "before": before, "order": order }),
            )
            .await;
            assert_eq!(p.info["hasNextPage"], json!(!first_page));
            first_page = false;
            let mut ids = p.ids.clone();
            ids.extend(walked);
            walked = ids;
            if p.info["hasPreviousPage"] == false {
                break;
            }
            before = p.info["startCursor"].as_str().map(str::to_owned);
        }
        assert_eq!(
            walked, whole,
            "{order}: backward pages differ from the order"
        );
        // Forward from a backward page's end cursor continues where it ends.
        let tail = page(&app, &token, json!({ "last": 3, "order": order })).await;
        let back = page(
            &app,
            &token,
            json!({ "last": 3, "before": tail.info["startCursor"], "order": order }),
        )
        .await;
        let forward = page(
            &app,
            &token,
            json!({ "first": 3, "after": back.info["endCursor"], "order": order }),
        )
        .await;
        assert_eq!(forward.ids, tail.ids);
    }
}

async fn a_cursor_is_bound_to_its_list_filter_and_order(app: TestApp) {
    let token = app.token("police");
    let first = page(&app, &token, json!({ "first": 2 })).await;
    let cursor = first.info["endCursor"].as_str().expect("cursor").to_owned();
    let refused = |variables: Value| {
        let app = &app;
        let token = &token;
        async move {
            let reply = app.query_vars(token, PAGE, variables.clone()).await;
            assert_eq!(
                reply.code(),
                Some("BAD_USER_INPUT"),
                "{variables}: {}",
                reply.body
            );
        }
    };
    // Another filter, another order, backward from a forward cursor of another order.
    refused(json!({ "first": 2, "after": cursor, "where": { "kind": { "eq": "GATHERING" } } }))
        .await;
    refused(json!({ "first": 2, "after": cursor, "order": [{ "field": "HEADCOUNT" }] })).await;
    refused(
        json!({ "first": 2, "after": cursor, "order": [{ "field": "ID", "direction": "DESC" }] }),
    )
    .await;
    // Both directions at once.
    refused(json!({ "first": 2, "before": cursor })).await;
    refused(json!({ "last": 2, "after": cursor })).await;
    refused(json!({ "first": 2, "last": 2 })).await;
    // Another list.
    let reply = app
        .query(
            &token,
            &format!(r#"{{ shelters(after: "{cursor}") {{ nodes {{ id }} }} }}"#),
        )
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
    // A cursor taken apart and forged: its keys changed in kind or number.
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut position: Value =
        serde_json::from_slice(&engine.decode(&cursor).expect("base64")).expect("json");
    let keys = position["k"].clone();
    for forged in [
        json!([1, 2, 3]),
        json!([]),
        json!([null]),
        json!([{ "a": 1 }]),
    ] {
        position["k"] = forged.clone();
        let forged_cursor = engine.encode(position.to_string());
        refused(json!({ "first": 2, "after": forged_cursor })).await;
    }
    // A forged position that is a key of the right kind pages from there: it can only seek
    // within the caller's own rows.
    position["k"] = keys;
    let honest = engine.encode(position.to_string());
    let again = page(&app, &token, json!({ "first": 2, "after": honest })).await;
    let next = page(&app, &token, json!({ "first": 2, "after": cursor })).await;
    assert_eq!(again.ids, next.ids);
}

/// An order written inline as one object (GraphQL's list coercion) is that order, a list of
/// one, checked against the raw table's ids sorted here; a value of the wrong shape is refused.
async fn a_single_order_is_a_list_of_one(app: TestApp) {
    let token = app.token("immigration");
    let ascending = page(&app, &token, json!({ "first": 500 })).await.ids;
    let mut expected = ascending.clone();
    expected.sort();
    assert_eq!(ascending, expected, "the default order is by id");
    expected.reverse();
    for order in [
        "orderBy: {field: ID, direction: DESC}",
        "orderBy: [{field: ID, direction: DESC}]",
    ] {
        let reply = app
            .query(
                &token,
                &format!("{{ incidents(first: 500, {order}) {{ nodes {{ id }} }} }}"),
            )
            .await;
        let ids: Vec<&str> = reply.data()["incidents"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids, expected, "{order}");
    }
    let wrong = app
        .query_vars(
            &token,
            "query($o: [IncidentOrder!]) { incidents(first: 5, orderBy: $o) { nodes { id } } }",
            json!({ "o": "ID" }),
        )
        .await;
    assert_eq!(wrong.code(), Some("BAD_USER_INPUT"), "{}", wrong.body);
    assert!(wrong.body["data"].is_null(), "{}", wrong.body);
}

on_both_databases!(
    a_single_order_is_a_list_of_one,
    pages_hold_under_inserts_and_deletes,
    backward_pages_walk_the_same_rows,
    a_cursor_is_bound_to_its_list_filter_and_order,
);
