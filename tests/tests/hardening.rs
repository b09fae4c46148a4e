//! Hostile callers, as tests: deeply nested documents and variables, NUL bytes, an audit event
//! that cannot be stored, operations that would amplify into huge answers, floods of requests
//! and of bad tokens, a panic inside one request. None of them may take the process down, fail
//! another caller's request, or cost the chain a row per refusal.

use std::time::Duration;

use futures::future::join_all;
use pora_tests::{Config, Reply, TestApp, on_both_databases};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

fn config(c: &mut Config) {
    // The default limits (the harness raises the cost limit for oracle tests).
    let defaults = Config::default();
    c.max_cost = defaults.max_cost;
    // Room for the deepest documents: the nesting limit must answer, not the body limit.
    c.max_body_bytes = 4 * 1024 * 1024;
}

fn panicky(c: &mut Config) {
    config(c);
    c.fault_injection.panic_in_execution_for_subject = Some("test-police".into());
}

/// The gateway still answers an ordinary request of another agency.
async fn still_serving(app: &TestApp) {
    let reply = app
        .query(&app.token("immigration"), "{ viewer { role } }")
        .await;
    assert_eq!(reply.data()["viewer"]["role"], "immigration");
}

fn assert_refused(reply: &Reply, status: u16, code: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (status, Some(code)),
        "{}",
        reply.body
    );
    assert!(
        reply.body.get("data").is_none() || reply.body["data"].is_null(),
        "{}",
        reply.body
    );
    assert!(
        reply.body["errors"][0]["extensions"]["requestId"].is_string(),
        "{}",
        reply.body
    );
}

/// `persons(where: {and: [{and: [ … ]}]})`, `levels` filters deep (2 value levels each).
fn nested_filter(levels: usize) -> String {
    format!(
        "{{ persons(where: {}{}) {{ totalCount }} }}",
        "{and: [".repeat(levels),
        "]}".repeat(levels)
    )
}

async fn nesting_of_any_depth_is_refused_and_the_process_lives(app: TestApp) {
    let token = app.token("immigration");
    // Within the limit (16 filters: 32 value levels) is a query like any other.
    let ok = app.query(&token, &nested_filter(16)).await;
    assert!(ok.data()["persons"]["totalCount"].is_number());
    for levels in [17, 350, 1_000, 100_000] {
        let reply = app.query(&token, &nested_filter(levels)).await;
        assert_refused(&reply, 400, "MAX_INPUT_DEPTH_LIMIT");
        assert_eq!(reply.body["errors"][0]["extensions"]["limit"], 32);
    }
    for depth in [40, 2_000, 100_000] {
        let query = format!(
            "{{ __type(name: {}\"Person\"{}) {{ name }} }}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert_refused(
            &app.query(&token, &query).await,
            400,
            "MAX_INPUT_DEPTH_LIMIT",
        );
    }
    // Selections nested beyond any depth limit, and lists in variable definitions.
    let selections = format!("{}{}", "{ persons ".repeat(100_000), "}".repeat(100_000));
    let reply = app.query(&token, &selections).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let types = format!(
        "query($v: {}Int{}) {{ viewer {{ role }} }}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    assert_refused(
        &app.query(&token, &types).await,
        400,
        "MAX_INPUT_DEPTH_LIMIT",
    );
    // Variables: nested JSON, as deep as a body can carry.
    for depth in [34, 127, 100_000] {
        let value = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let body = format!(
            r#"{{"query":"query($f: PersonFilter) {{ persons(where: $f) {{ totalCount }} }}","variables":{{"f":{value}}}}}"#
        );
        let reply = app
            .post_raw(Some(&token), "application/json", body.into_bytes())
            .await;
        assert_eq!(reply.status, 400, "depth {depth}: {}", reply.body);
        assert!(
            matches!(reply.code(), Some("MAX_INPUT_DEPTH_LIMIT" | "BAD_REQUEST")),
            "{}",
            reply.body
        );
    }
    still_serving(&app).await;
}

async fn nul_bytes_are_the_senders_400_and_fail_no_one_else(app: TestApp) {
    let police = app.token("police");
    let immigration = app.token("immigration");
    let nul_name = json!({ "query": "query Q { viewer { role } }", "operationName": "Q\u{0}" });
    let nul_variable = json!({
        "query": "query($f: PersonFilter) { persons(where: $f) { totalCount } }",
        "variables": { "f": { "fullName": { "eq": "a\u{0}b" } } }
    });
    let post = |token: String, body: Value| {
        let app = &app;
        async move {
            app.post_raw(
                Some(&token),
                "application/json",
                serde_json::to_vec(&body).expect("json"),
            )
            .await
        }
    };
    // One caller sends NUL bytes while another agency works: the other agency loses nothing.
    let hostile = (0..30).map(|i| {
        post(
            police.clone(),
            if i % 2 == 0 {
                nul_name.clone()
            } else {
                nul_variable.clone()
            },
        )
    });
    let honest =
        (0..30).map(|_| post(immigration.clone(), json!({"query": "{ viewer { role } }"})));
    let (hostile, honest) = futures::join!(join_all(hostile), join_all(honest));
    for reply in &hostile {
        assert_refused(reply, 400, "BAD_USER_INPUT");
    }
    for reply in &honest {
        assert_eq!(reply.data()["viewer"]["role"], "immigration");
    }
    // The refusal is audited, its operation name stored escaped.
    let event = app.audit_event(&hostile[0].request_id).await;
    assert_eq!(event.operation_name.as_deref(), Some("Q\\u0000"));
    // A NUL written inline in the document (an escape in a string) is the same 400-class error.
    let inline = app
        .query(
            &immigration,
            r#"{ persons(where: {nationality: {eq: "AF\u0000"}}) { totalCount } }"#,
        )
        .await;
    assert_eq!(inline.code(), Some("BAD_USER_INPUT"), "{}", inline.body);
    assert!(matches!(
        gateway::audit::verify(&app.db).await.expect("verify"),
        gateway::audit::Verification::Intact { .. }
    ));
}

/// Makes every audit insert of `subject` fail in the database itself.
async fn poison_audit_of(app: &TestApp, subject: &str) {
    let statements: Vec<String> = match app.db.get_database_backend() {
        DbBackend::Postgres => vec![
            format!(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.subject = '{subject}' THEN RAISE EXCEPTION 'poisoned'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER poison BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION poison()".into(),
        ],
        _ => vec![format!(
            "CREATE TRIGGER poison BEFORE INSERT ON audit_events WHEN NEW.subject = '{subject}' \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        )],
    };
    for sql in statements {
        app.db
            .execute_raw(Statement::from_string(app.db.get_database_backend(), sql))
            .await
            .expect("install trigger");
    }
}

async fn an_event_that_cannot_be_stored_fails_only_its_own_request(app: TestApp) {
    poison_audit_of(&app, "test-police").await;
    let police = app.token("police");
    let immigration = app.token("immigration");
    let query = "{ viewer { role } }";
    // Interleaved and concurrent, so the writer groups both callers' events together.
    let replies = join_all((0..60).map(|i| {
        let token = if i % 2 == 0 { &police } else { &immigration };
        app.query(token, query)
    }))
    .await;
    for (i, reply) in replies.iter().enumerate() {
        if i % 2 == 0 {
            assert_refused(reply, 503, "AUDIT_UNAVAILABLE");
        } else {
            assert_eq!(reply.data()["viewer"]["role"], "immigration");
            assert_eq!(app.audit_event(&reply.request_id).await.outcome, "ok");
        }
    }
    assert!(matches!(
        gateway::audit::verify(&app.db).await.expect("verify"),
        gateway::audit::Verification::Intact { .. }
    ));
}

fn cost_of(reply: &Reply) -> Option<u64> {
    reply.body["errors"][0]["extensions"]["cost"].as_u64()
}

async fn cost_is_known_before_any_sql_runs(app: TestApp) {
    let token = app.token("immigration");
    // The oracle: every object costs 1 per instance; a page multiplies its rows' cost.
    let query = "{ persons(first: 500) { nodes { placements(first: 100) { shelter { name } } } } }";
    let reply = app.query(&token, query).await;
    assert_refused(&reply, 400, "COST_ESTIMATED_TOO_EXPENSIVE");
    assert_eq!(cost_of(&reply), Some(1 + 500 * (1 + 100 * (1 + 1))));
    assert_eq!(reply.body["errors"][0]["extensions"]["limit"], 50_000);
    // No statement ran for it: the refusal comes with no SQL count of an execution.
    assert_eq!(reply.sql_statements, None);
    // The same list, asking less, runs; its cost is reported.
    let cheaper = app
        .query(
            &token,
            "{ persons(first: 50) { nodes { placements(first: 5) { shelter { name } } } } }",
        )
        .await;
    assert!(cheaper.data()["persons"]["nodes"].is_array());

    // `_entities`: each representation is a row, each alias another list.
    let representations: Vec<Value> = (0..1000)
        .map(|i| json!({"__typename": "Person", "id": format!("p{i}")}))
        .collect();
    let aliases: String = (0..2)
        .map(|i| {
            format!("e{i}: _entities(representations: $r) {{ ... on Person {{ case {{ members {{ id }} }} }} }} ")
        })
        .collect();
    let reply = app
        .query_vars(
            &token,
            &format!("query($r: [_Any!]!) {{ {aliases} }}"),
            json!({ "r": representations }),
        )
        .await;
    assert_refused(&reply, 400, "COST_ESTIMATED_TOO_EXPENSIVE");
    // Per representation: the person, its case, the case's members (50 without `first`).
    assert_eq!(cost_of(&reply), Some(2 * 1000 * (1 + (1 + 50))));

    // Root fields and aliases are bounded too: 900 counts in one request are not run.
    let counts: String = (0..900)
        .map(|i| format!("c{i}: incidents {{ totalCount }} "))
        .collect();
    let reply = app.query(&token, &format!("{{ {counts} }}")).await;
    assert_refused(&reply, 400, "MAX_ROOT_FIELDS_LIMIT");
    assert_eq!(reply.body["errors"][0]["extensions"]["rootFields"], 900);
    assert_eq!(reply.body["errors"][0]["extensions"]["limit"], 100);
    let many: String = (0..101).map(|i| format!("a{i}: role ")).collect();
    let reply = app
        .query(&token, &format!("{{ viewer {{ {many} }} }}"))
        .await;
    assert_refused(&reply, 400, "MAX_ALIASES_LIMIT");
    assert_eq!(reply.body["errors"][0]["extensions"]["aliases"], 101);
    still_serving(&app).await;
}

async fn nested_lists_are_pages(app: TestApp) {
    let token = app.token("immigration");
    let all = app
        .query(
            &token,
            "{ shelters(first: 50) { nodes { id placements(first: 500) { id } } } }",
        )
        .await;
    let two = app
        .query(
            &token,
            "{ shelters(first: 50) { nodes { id placements(first: 2) { id } } } }",
        )
        .await;
    let (all, two) = (
        all.data()["shelters"]["nodes"]
            .as_array()
            .expect("nodes")
            .clone(),
        two.data()["shelters"]["nodes"]
            .as_array()
            .expect("nodes")
            .clone(),
    );
    assert_eq!(all.len(), two.len());
    let mut truncated = 0;
    for (a, t) in all.iter().zip(&two) {
        let mut ids: Vec<&str> = a["placements"]
            .as_array()
            .expect("list")
            .iter()
            .map(|p| p["id"].as_str().expect("id"))
            .collect();
        ids.sort_unstable();
        if ids.len() > 2 {
            truncated += 1;
        }
        ids.truncate(2);
        let got: Vec<&str> = t["placements"]
            .as_array()
            .expect("list")
            .iter()
            .map(|p| p["id"].as_str().expect("id"))
            .collect();
        assert_eq!(got, ids, "the first two in id order");
    }
    assert!(truncated > 0, "some shelter has more than two placements");
    let too_many = app
        .query(
            &token,
            "{ shelters { nodes { placements(first: 501) { id } } } }",
        )
        .await;
    assert_eq!(too_many.code(), Some("BAD_USER_INPUT"), "{}", too_many.body);
}

/// graphql-js' `getIntrospectionQuery()` with every option on (what GraphiQL, codegen and
/// `gql` send), with nine levels of `ofType`.
const INTROSPECTION: &str = r#"query IntrospectionQuery {
  __schema {
    description
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) {
    name description args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  } } } } } } } } }
}"#;

async fn the_documented_queries_pass_the_default_limits(app: TestApp) {
    for role in [
        "immigration",
        "unhcr",
        "kesbangpol",
        "police",
        "municipality",
        "iom",
        "admin",
    ] {
        let reply = app.query(&app.token(role), INTROSPECTION).await;
        assert!(
            reply.data()["__schema"]["types"]
                .as_array()
                .is_some_and(|t| !t.is_empty()),
            "{role}"
        );
    }
    // The README's example.
    let reply = app
        .query(
            &app.token("police"),
            "{ incidents(first: 3) { totalCount nodes { kind region involvedPersons { initials fullName } } } }",
        )
        .await;
    assert!(reply.data()["incidents"]["nodes"].is_array());
    // A front end's page of persons with their placements, as the docs show it.
    let reply = app
        .query(
            &app.token("immigration"),
            "{ persons(first: 100) { totalCount nodes { id fullName placements { kind shelter { name } } } pageInfo { hasNextPage endCursor } } }",
        )
        .await;
    assert!(reply.data()["persons"]["nodes"].is_array());
}

fn one_heavy_at_a_time(c: &mut Config) {
    config(c);
    c.heavy_cost = 100;
    c.max_heavy_in_flight = 1;
    c.db_statement_timeout = 1.0;
    c.fault_injection.hold_in_execution_for_subject = Some("test-unhcr".into());
}

async fn cheap_requests_never_queue_behind_heavy_ones(app: TestApp) {
    let heavy = "{ persons(first: 200) { nodes { id } } }";
    let release = app_release(&app);
    // A heavy request held in flight (its first statement waits for the test).
    let unhcr = app.token("unhcr");
    let held = tokio::spawn({
        let (client, base) = (app.client.clone(), app.base.clone());
        async move {
            client
                .post(format!("{base}/graphql"))
                .bearer_auth(unhcr)
                .json(&json!({ "query": heavy }))
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    });
    for _ in 0..100 {
        if app.metric("pora_heavy_in_flight").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.metric("pora_heavy_in_flight").await, 1);
    // Another heavy request waits for the permit, then is told to come back.
    let other = app.query(&app.token("immigration"), heavy).await;
    assert_refused(&other, 503, "SERVICE_UNAVAILABLE");
    // A cheap one is answered at once.
    still_serving(&app).await;
    release.notify_one();
    assert_eq!(held.await.expect("held request"), 200);
    assert_eq!(app.metric("pora_heavy_in_flight").await, 0);
}

/// The notifier that lets a held request go on (the same one the gateway's config holds).
fn app_release(app: &TestApp) -> std::sync::Arc<tokio::sync::Notify> {
    app.fault_release.clone()
}

fn police_cost_limit(c: &mut Config) {
    config(c);
    c.max_cost_by_role.insert("police".into(), 10);
}

async fn a_role_can_have_its_own_cost_limit(app: TestApp) {
    let reply = app
        .query(
            &app.token("police"),
            "{ incidents(first: 20) { nodes { id } } }",
        )
        .await;
    assert_refused(&reply, 400, "COST_ESTIMATED_TOO_EXPENSIVE");
    assert_eq!(reply.body["errors"][0]["extensions"]["limit"], 10);
    assert_eq!(cost_of(&reply), Some(1 + 20));
    // Other roles keep the default.
    let other = app
        .query(
            &app.token("immigration"),
            "{ incidents(first: 20) { nodes { id } } }",
        )
        .await;
    assert!(other.data()["incidents"]["nodes"].is_array());
}

fn small_responses(c: &mut Config) {
    config(c);
    c.max_response_bytes = 2_000;
}

async fn an_answer_over_the_size_limit_is_withheld(app: TestApp) {
    let token = app.token("immigration");
    let reply = app
        .query(&token, "{ persons(first: 100) { nodes { id fullName } } }")
        .await;
    assert_refused(&reply, 400, "RESPONSE_TOO_LARGE");
    assert_eq!(reply.body["errors"][0]["extensions"]["limit"], 2_000);
    let event = app.audit_event(&reply.request_id).await;
    assert_eq!(
        (event.outcome.as_str(), event.person_ids.as_str()),
        ("error", "[]")
    );
    still_serving(&app).await;
}

/// The aggregated refusal events of `reason`, once they stand for at least `count` requests.
async fn refusal_events(
    app: &TestApp,
    reason: &str,
    count: i64,
) -> Vec<entities::audit_event::Model> {
    use entities::audit_event;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    for _ in 0..100 {
        let found = audit_event::Entity::find()
            .filter(audit_event::Column::Reason.eq(reason))
            .all(&app.db)
            .await
            .expect("events");
        if found.iter().filter_map(|e| e.refusals).sum::<i64>() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no aggregated events for {count} refusals of {reason}");
}

fn chained_events(v: gateway::audit::Verification) -> u64 {
    match v {
        gateway::audit::Verification::Intact { events } => events,
        broken => panic!("the chain is broken: {broken:?}"),
    }
}

async fn bad_tokens_cost_one_event_per_interval_not_one_each(app: TestApp) {
    let before = chained_events(gateway::audit::verify(&app.db).await.expect("verify"));
    let replies = join_all((0..40).map(|_| {
        app.post_raw(
            Some("garbage"),
            "application/json",
            br#"{"query":"{ viewer { role } }"}"#.to_vec(),
        )
    }))
    .await;
    for reply in &replies {
        assert_refused(reply, 401, "TOKEN_INVALID");
    }
    let events = refusal_events(&app, "TOKEN_INVALID", 40).await;
    assert_eq!(events.iter().filter_map(|e| e.refusals).sum::<i64>(), 40);
    assert!(events.len() <= 5, "{} events for 40 refusals", events.len());
    for event in &events {
        assert_eq!(event.outcome, "denied");
        assert_eq!(event.address.as_deref(), Some("127.0.0.1"));
        assert_eq!(event.subject, None);
    }
    let after = chained_events(gateway::audit::verify(&app.db).await.expect("verify"));
    assert_eq!(
        after - before,
        events.len() as u64,
        "one chained event per interval"
    );
    assert_eq!(
        app.metric("pora_refused_requests_total{code=\"TOKEN_INVALID\"}")
            .await,
        40
    );
}

fn tight_limits(c: &mut Config) {
    config(c);
    c.rate_limits.requests_per_minute = 5;
    c.rate_limits.cost_per_minute = 600;
    c.rate_limits.refusals_per_minute = 10;
    c.rate_limits.roles.insert(
        "police".into(),
        gateway::config::RoleRateLimits {
            requests_per_minute: Some(2),
            cost_per_minute: None,
        },
    );
}

async fn callers_are_rate_limited_alone(app: TestApp) {
    let token = app.token("immigration");
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&token)
            .json(&json!({"query": "{ viewer { role } }"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200);
        remaining.push(
            response.headers()["ratelimit-remaining"]
                .to_str()
                .expect("header")
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&token)
        .json(&json!({"query": "{ viewer { role } }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(response.headers()["ratelimit-limit"], "5");
    assert_eq!(response.headers()["ratelimit-remaining"], "0");
    // A fresh token of the same caller buys no fresh allowance.
    let fresh = app.token("immigration");
    assert_refused(
        &app.query(&fresh, "{ viewer { role } }").await,
        429,
        "RATE_LIMITED",
    );
    // Other callers are untouched; police have their own, smaller limit.
    let police = app.token("police");
    for _ in 0..2 {
        assert_eq!(app.query(&police, "{ viewer { role } }").await.status, 200);
    }
    assert_refused(
        &app.query(&police, "{ viewer { role } }").await,
        429,
        "RATE_LIMITED",
    );
    let unhcr = app.token("unhcr");
    // The cost budget: 600 a minute (one unit back every 100 ms), a page of 500 costs 501.
    let page = "{ persons(first: 500) { nodes { id } } }";
    assert_eq!(app.query(&unhcr, page).await.status, 200);
    let over = app.query(&unhcr, page).await;
    assert_refused(&over, 429, "RATE_LIMITED");
    assert!(over.message().contains("cost"), "{}", over.body);
    // Rate-limited requests are counted into one event per caller.
    let events = refusal_events(&app, "RATE_LIMITED", 4).await;
    assert!(events.iter().all(|e| e.subject.is_some()));
}

async fn an_address_sending_bad_tokens_is_slowed_not_its_colleagues(app: TestApp) {
    for _ in 0..10 {
        let reply = app
            .post_raw(
                Some("garbage"),
                "application/json",
                br#"{"query":"{ viewer { role } }"}"#.to_vec(),
            )
            .await;
        assert_refused(&reply, 401, "TOKEN_INVALID");
    }
    let reply = app
        .post_raw(
            Some("garbage"),
            "application/json",
            br#"{"query":"{ viewer { role } }"}"#.to_vec(),
        )
        .await;
    assert_refused(&reply, 429, "RATE_LIMITED");
    // A valid token from the same address is served.
    still_serving(&app).await;
    // The count lives in the database: a second gateway on it refuses the address as well.
    let second = pora_tests::spawn_with(app.backend, |c| {
        tight_limits(c);
        c.database_url = Some(app.database_url.clone());
        c.data_dir = app.data_dir.clone();
    })
    .await;
    let reply = second
        .post_raw(
            Some("garbage"),
            "application/json",
            br#"{"query":"{ viewer { role } }"}"#.to_vec(),
        )
        .await;
    assert_refused(&reply, 429, "RATE_LIMITED");
}

async fn a_panic_is_its_own_requests_500(app: TestApp) {
    let police = app.token("police");
    let immigration = app.token("immigration");
    let replies = join_all((0..20).map(|i| {
        let token = if i % 2 == 0 { &police } else { &immigration };
        app.query(token, "{ incidents(first: 1) { totalCount } }")
    }))
    .await;
    for (i, reply) in replies.iter().enumerate() {
        if i % 2 == 0 {
            assert_refused(reply, 500, "INTERNAL_ERROR");
            assert_eq!(reply.message(), "internal error");
            assert_eq!(app.audit_event(&reply.request_id).await.outcome, "error");
        } else {
            assert!(reply.data()["incidents"]["totalCount"].is_number());
        }
    }
    still_serving(&app).await;
}

async fn protocol_hygiene(app: TestApp) {
    let token = app.token("immigration");
    let body = br#"{"query":"{ viewer { role } }"}"#.to_vec();
    for wrong in ["application/jsonx", "application/json-seq", "text/plain"] {
        let reply = app.post_raw(Some(&token), wrong, body.clone()).await;
        assert_eq!(reply.status, 415, "{wrong}");
    }
    let reply = app
        .post_raw(Some(&token), "Application/JSON; charset=utf-8", body)
        .await;
    assert_eq!(reply.data()["viewer"]["role"], "immigration");

    // A filter of the wrong shape is refused, never ignored.
    let wrapped = app
        .query(
            &token,
            r#"{ persons(where: [{nationality: {eq: "AF"}}]) { totalCount } }"#,
        )
        .await;
    assert!(
        wrapped.body["data"]["persons"].is_null(),
        "{}",
        wrapped.body
    );
    assert!(
        matches!(
            wrapped.code(),
            Some("BAD_USER_INPUT" | "GRAPHQL_VALIDATION_FAILED")
        ),
        "{}",
        wrapped.body
    );
    // A forged cursor, past every offset arithmetic.
    use base64::Engine as _;
    let encode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for forged in [
        "offset:18446744073709551615",
        "offset:-1",
        "offset:99999999999",
    ] {
        let reply = app
            .query(
                &token,
                &format!(
                    r#"{{ persons(after: "{}") {{ totalCount }} }}"#,
                    encode(forged)
                ),
            )
            .await;
        assert_eq!(
            reply.code(),
            Some("BAD_USER_INPUT"),
            "{forged}: {}",
            reply.body
        );
    }
    // An `in` list larger than a statement can bind.
    let values: Vec<String> = (0..40_000).map(|i| format!("x{i}")).collect();
    let reply = app
        .query_vars(
            &token,
            "query($v: [String!]) { persons(where: {nationality: {in: $v}}) { totalCount } }",
            json!({ "v": values }),
        )
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
    // Operation selection errors carry their code.
    let two = "query A { viewer { role } } query B { viewer { agency } }";
    assert_refused(
        &app.query(&token, two).await,
        400,
        "OPERATION_RESOLUTION_FAILURE",
    );
    let named = json!({"query": two, "operationName": "C"});
    let reply = app
        .post_raw(
            Some(&token),
            "application/json",
            serde_json::to_vec(&named).expect("json"),
        )
        .await;
    assert_refused(&reply, 400, "OPERATION_RESOLUTION_FAILURE");
    // Every error carries a code and the request id, validation errors included.
    let reply = app
        .query(&token, "{ persons { nodes { religion } } }")
        .await;
    for error in reply.body["errors"].as_array().expect("errors") {
        assert!(error["extensions"]["code"].is_string(), "{error}");
        assert_eq!(error["extensions"]["requestId"], reply.request_id.as_str());
    }
}

on_both_databases!(
    config = config;
    nesting_of_any_depth_is_refused_and_the_process_lives,
    nul_bytes_are_the_senders_400_and_fail_no_one_else,
    an_event_that_cannot_be_stored_fails_only_its_own_request,
    cost_is_known_before_any_sql_runs,
    nested_lists_are_pages,
    bad_tokens_cost_one_event_per_interval_not_one_each,
    protocol_hygiene,
    the_documented_queries_pass_the_default_limits,
);

mod panics {
    use super::*;
    on_both_databases!(config = panicky; a_panic_is_its_own_requests_500);
}

mod heavy {
    use super::*;
    on_both_databases!(config = one_heavy_at_a_time; cheap_requests_never_queue_behind_heavy_ones);
}

mod per_role {
    use super::*;
    on_both_databases!(config = police_cost_limit; a_role_can_have_its_own_cost_limit);
}

mod small {
    use super::*;
    on_both_databases!(config = small_responses; an_answer_over_the_size_limit_is_withheld);
}

mod tight {
    use super::*;
    on_both_databases!(
        config = tight_limits;
        callers_are_rate_limited_alone,
        an_address_sending_bad_tokens_is_slowed_not_its_colleagues,
    );
}
