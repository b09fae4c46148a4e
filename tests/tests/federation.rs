//! Apollo Federation v2: `_entities` keeps every role's fields and rows, the SDLs say exactly
//! what each role's schema has, routers are who the configuration says, and Apollo's own
//! composition and gateway work over the gateway's SDL.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use pora_tests::{Reply, TestApp, on_both_databases};
use schema::catalogue::{CATALOGUE, FieldKind, TypeDef};
use schema::policy::{Policy, TypeView};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

const ROUTER: &str = "test-router";
const MISSING_ID: &str = "00000000-0000-0000-0000-000000000000";

fn with_router(config: &mut gateway::config::Config) {
    config.federation.routers = vec![ROUTER.to_owned()];
}

fn router_token(app: &TestApp) -> String {
    app.token_for("router", "PORA-ADMIN", "31")
}

/// Ids of (at most 200 of) the rows of `def`'s table, in id order.
async fn ids_of(app: &TestApp, def: &TypeDef) -> Vec<String> {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT id FROM {} ORDER BY id LIMIT 200", def.table),
        ))
        .await
        .expect("ids");
    rows.iter()
        .map(|r| r.try_get_by::<String, _>("id").expect("id"))
        .collect()
}

/// Everything the role may select on a type: its values, and `__typename` of its relations.
fn selection(view: &TypeView) -> String {
    let mut out = vec!["__typename".to_owned()];
    for f in &view.fields {
        match f.def.kind {
            FieldKind::Relation { .. } => out.push(format!("{} {{ __typename }}", f.def.name)),
            _ => out.push(f.def.name.to_owned()),
        }
    }
    out.join(" ")
}

fn representations(type_name: &str, ids: &[String]) -> String {
    let items: Vec<String> = ids
        .iter()
        .map(|id| format!("{{__typename: \"{type_name}\", id: \"{id}\"}}"))
        .collect();
    format!("[{}]", items.join(", "))
}

/// The rows of `view` the role reaches through its own root fields, by id, with `selection`.
async fn through_root_fields(
    app: &TestApp,
    token: &str,
    view: &TypeView,
    ids: &[String],
    selection: &str,
) -> Option<BTreeMap<String, Value>> {
    let mut found = BTreeMap::new();
    if view.list {
        let mut after = Value::Null;
        loop {
            let reply = app
                .query_vars(
                    token,
                    &format!(
                        "query($after: String) {{ {}(first: 500, after: $after) {{ nodes {{ {selection} }} pageInfo {{ hasNextPage endCursor }} }} }}",
                        view.def.list_field
                    ),
                    json!({ "after": after }),
                )
                .await;
            let page = &reply.data()[view.def.list_field];
            for node in page["nodes"].as_array().expect("nodes") {
                found.insert(node["id"].as_str().expect("id").to_owned(), node.clone());
            }
            if page["pageInfo"]["hasNextPage"] != json!(true) {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        Some(found)
    } else if view.get {
        // A few lookups per request, within the complexity limit.
        for chunk in ids.chunks(10) {
            let lookups: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    format!(
                        "r{i}: {}(id: \"{id}\") {{ {selection} }}",
                        view.def.get_field
                    )
                })
                .collect();
            let reply = app
                .query(token, &format!("{{ {} }}", lookups.join(" ")))
                .await;
            for (i, id) in chunk.iter().enumerate() {
                let node = &reply.data()[format!("r{i}")];
                if !node.is_null() {
                    found.insert(id.clone(), node.clone());
                }
            }
        }
        Some(found)
    } else {
        None
    }
}

/// A validation error's message with the names that differ put back to one placeholder.
fn shape(reply: &Reply, names: &[&str]) -> (u16, String) {
    let mut message = reply.message().to_owned();
    for name in names {
        message = message.replace(&format!("\"{name}\""), "\"<name>\"");
    }
    (reply.status, message)
}

async fn entities_resolve_under_each_roles_fields_and_rows(app: TestApp) {
    let policy = Policy::builtin().expect("policy");
    let mut compared = 0;
    for (role_name, role) in &policy.roles {
        let token = app.token(role_name);
        for def in &CATALOGUE.types {
            let mut ids = ids_of(&app, def).await;
            if ids.is_empty() {
                ids.push(MISSING_ID.replace('0', "1"));
            }
            let entity = role
                .types
                .get(def.name)
                .filter(|v| !schema::federation::entity_keys(v).is_empty());
            let Some(view) = entity else {
                // Not this role's type: every way of naming it fails like a type that never was.
                for (query, fake) in [
                    (
                        format!(
                            "{{ _entities(representations: {}) {{ ... on {} {{ id }} }} }}",
                            representations(def.name, &ids[..1]),
                            def.name
                        ),
                        "{ _entities(representations: [{__typename: \"NoSuchType\", id: \"x\"}]) { ... on NoSuchType { id } } }".to_owned(),
                    ),
                    (
                        format!(
                            "{{ _entities(representations: {}) {{ __typename }} }}",
                            representations(def.name, &ids[..1])
                        ),
                        "{ _entities(representations: [{__typename: \"NoSuchType\", id: \"x\"}]) { __typename } }".to_owned(),
                    ),
                ] {
                    let real = app.query(&token, &query).await;
                    let never = app.query(&token, &fake).await;
                    assert!(real.code().is_some(), "{role_name}: {query} answered {}", real.body);
                    assert_eq!(
                        shape(&real, &[def.name]),
                        shape(&never, &["NoSuchType"]),
                        "{role_name}: type {} is told apart from a type that does not exist",
                        def.name
                    );
                    assert!(real.body["data"]["_entities"].as_array().is_none_or(|a| a.iter().all(Value::is_null)));
                }
                continue;
            };

            // Every field the role has, for every row, against what its root fields return.
            let sel = selection(view);
            let mut asked = ids.clone();
            asked.push(MISSING_ID.to_owned());
            let reply = app
                .query(
                    &token,
                    &format!(
                        "{{ _entities(representations: {}) {{ ... on {} {{ {sel} }} }} }}",
                        representations(def.name, &asked),
                        def.name
                    ),
                )
                .await;
            let entities = reply.data()["_entities"].as_array().expect("list").clone();
            assert_eq!(entities.len(), asked.len(), "{role_name}: {}", def.name);
            assert!(
                entities.last().expect("one").is_null(),
                "a missing row is null"
            );
            match through_root_fields(&app, &token, view, &ids, &sel).await {
                Some(expected) => {
                    for (id, entity) in asked.iter().zip(&entities) {
                        match expected.get(id) {
                            Some(row) => assert_eq!(entity, row, "{role_name}: {} {id}", def.name),
                            None => assert!(
                                entity.is_null(),
                                "{role_name}: {} {id} lies outside the row filter but resolved: {entity}",
                                def.name
                            ),
                        }
                        compared += 1;
                    }
                }
                None => {
                    for (id, entity) in asked.iter().zip(&entities) {
                        assert!(entity.is_null() || entity["id"] == json!(id));
                    }
                }
            }

            // Every field it lacks fails like a field that never existed.
            for field in &def.fields {
                if view.field(field.name).is_some() {
                    continue;
                }
                let on = |name: &str| {
                    format!(
                        "{{ _entities(representations: {}) {{ ... on {} {{ {name} }} }} }}",
                        representations(def.name, &ids[..1]),
                        def.name
                    )
                };
                let hidden = app.query(&token, &on(field.name)).await;
                let never = app.query(&token, &on("noSuchField")).await;
                assert_eq!(
                    hidden.status, 400,
                    "{role_name}: {}.{}",
                    def.name, field.name
                );
                assert_eq!(
                    shape(&hidden, &[field.name]),
                    shape(&never, &["noSuchField"]),
                    "{role_name}: {}.{}",
                    def.name,
                    field.name
                );
            }
        }
    }
    assert!(compared > 1_000, "only {compared} entities compared");
}

async fn cases_resolve_by_unhcr_case_number_where_the_role_reads_it(app: TestApp) {
    let policy = Policy::builtin().expect("policy");
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id, unhcr_case_number FROM cases WHERE unhcr_case_number IS NOT NULL ORDER BY id LIMIT 50".to_owned(),
        ))
        .await
        .expect("cases");
    assert!(!rows.is_empty(), "the demo data has UNHCR case numbers");
    for (role_name, role) in &policy.roles {
        let has_key = role.types.get("Case").is_some_and(|v| {
            schema::federation::entity_keys(v)
                .iter()
                .any(|k| k.field == "unhcrCaseNumber")
        });
        let token = app.token(role_name);
        let mut reps = Vec::new();
        let mut by_id = Vec::new();
        for row in &rows {
            let id: String = row.try_get_by("id").expect("id");
            let number: String = row.try_get_by("unhcr_case_number").expect("number");
            reps.push(format!(
                "{{__typename: \"Case\", unhcrCaseNumber: \"{number}\"}}"
            ));
            by_id.push(format!("{{__typename: \"Case\", id: \"{id}\"}}"));
        }
        let query = |reps: &[String]| {
            format!(
                "{{ _entities(representations: [{}]) {{ ... on Case {{ id }} }} }}",
                reps.join(", ")
            )
        };
        let by_number = app.query(&token, &query(&reps)).await;
        if has_key {
            let by_id = app.query(&token, &query(&by_id)).await;
            assert_eq!(by_number.data(), by_id.data(), "{role_name}");
        } else {
            assert!(by_number.code().is_some(), "{role_name} has no such key");
        }
    }
    // The number is not unique in the data: a number two cases share names neither.
    let first: String = rows[0].try_get_by("unhcr_case_number").expect("number");
    let second: String = rows[1].try_get_by("id").expect("id");
    app.db
        .execute_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("UPDATE cases SET unhcr_case_number = '{first}' WHERE id = '{second}'"),
        ))
        .await
        .expect("update");
    let reply = app
        .query(
            &app.token("unhcr"),
            &format!("{{ _entities(representations: [{{__typename: \"Case\", unhcrCaseNumber: \"{first}\"}}]) {{ ... on Case {{ id }} }} }}"),
        )
        .await;
    assert_eq!(reply.data()["_entities"], json!([null]));
}

async fn entities_are_audited_and_answered_once_per_response_key(app: TestApp) {
    let token = app.token("unhcr");
    let ids = ids_of(&app, CATALOGUE.get("Person").expect("Person")).await;
    let visible = app
        .query(&token, "{ persons(first: 500) { nodes { id } } }")
        .await;
    let visible: BTreeSet<String> = visible.data()["persons"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    // Only `__typename`: the answer still tells which persons exist for the role, so the
    // audit names them.
    let reply = app
        .query(
            &token,
            &format!(
                "{{ _entities(representations: {}) {{ __typename }} }}",
                representations("Person", &ids[..30])
            ),
        )
        .await;
    let answered: BTreeSet<String> = ids[..30]
        .iter()
        .zip(reply.data()["_entities"].as_array().expect("list"))
        .filter(|(_, e)| !e.is_null())
        .map(|(id, _)| id.clone())
        .collect();
    let expected: BTreeSet<String> = ids[..30]
        .iter()
        .filter(|id| visible.contains(*id))
        .cloned()
        .collect();
    assert_eq!(answered, expected);
    let event = app.audit_event(&reply.request_id).await;
    let persons: BTreeSet<String> = serde_json::from_str(&event.person_ids).expect("json");
    assert_eq!(persons, expected);

    // Two `_entities` under one response key would have their answers merged: refused.
    let twice = app
        .query(
            &token,
            &format!(
                "{{ _entities(representations: {}) {{ __typename }} ... on Query {{ _entities(representations: {}) {{ __typename }} }} }}",
                representations("Person", &ids[..2]),
                representations("Person", &ids[2..4])
            ),
        )
        .await;
    assert!(
        twice.body["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "{}",
        twice.body
    );
    let aliased = app
        .query(
            &token,
            &format!(
                "{{ a: _entities(representations: {}) {{ __typename }} b: _entities(representations: {}) {{ __typename }} }}",
                representations("Person", &ids[..2]),
                representations("Person", &ids[2..4])
            ),
        )
        .await;
    assert_eq!(aliased.data()["a"].as_array().map(Vec::len), Some(2));
}

async fn a_batch_of_representations_costs_one_statement_per_type(app: TestApp) {
    let token = app.token("unhcr");
    let ids = ids_of(&app, CATALOGUE.get("Person").expect("Person")).await;
    let mut costs = Vec::new();
    for n in [5, 100] {
        let reply = app
            .query(
                &token,
                &format!(
                    "{{ _entities(representations: {}) {{ ... on Person {{ id fullName case {{ id }} }} }} }}",
                    representations("Person", &ids[..n])
                ),
            )
            .await;
        assert_eq!(reply.data()["_entities"].as_array().map(Vec::len), Some(n));
        costs.push(reply.sql_statements.expect("x-sql-statements"));
    }
    assert_eq!(
        costs[0], costs[1],
        "statements for 5 and for 100 representations"
    );
}

/// Object coordinates (`Type.field`) of a role's own schema, by introspection.
async fn coordinates(app: &TestApp, token: &str) -> BTreeSet<String> {
    let reply = app
        .query(
            token,
            "{ __schema { types { name kind fields { name } } } }",
        )
        .await;
    let mut out = BTreeSet::new();
    for ty in reply.data()["__schema"]["types"].as_array().expect("types") {
        let name = ty["name"].as_str().expect("name");
        if ty["kind"] != json!("OBJECT") || name.starts_with('_') {
            continue;
        }
        for field in ty["fields"].as_array().expect("fields") {
            let field = field["name"].as_str().expect("name");
            if !matches!(field, "_service" | "_entities") {
                out.insert(format!("{name}.{field}"));
            }
        }
    }
    out
}

/// Every type the role's `_service` SDL declares (inputs, enums, scalars included) is one its
/// introspection shows, and the other way round: the SDL a router or codegen reads holds no
/// name the role's schema does not have.
async fn the_sdl_declares_exactly_the_types_of_introspection(app: TestApp) {
    let policy = Policy::builtin().expect("policy");
    let builtin = |name: &str| {
        name.starts_with("__")
            || name.starts_with('_')
            || name.starts_with("link__")
            || name.starts_with("federation__")
            || matches!(
                name,
                "String" | "Int" | "Float" | "Boolean" | "ID" | "FieldSet"
            )
    };
    for role in policy.roles.keys() {
        let token = app.token(role);
        let reply = app.query(&token, "{ __schema { types { name } } }").await;
        let introspected: BTreeSet<String> = reply.data()["__schema"]["types"]
            .as_array()
            .expect("types")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .filter(|n| !builtin(n))
            .map(str::to_owned)
            .collect();
        let reply = app.query(&token, "{ _service { sdl } }").await;
        let sdl = reply.data()["_service"]["sdl"].as_str().expect("sdl");
        let document = async_graphql::parser::parse_schema(sdl).expect("role SDL parses");
        let declared: BTreeSet<String> = document
            .definitions
            .iter()
            .filter_map(|d| match d {
                TypeSystemDefinition::Type(ty) => Some(ty.node.name.node.to_string()),
                _ => None,
            })
            .filter(|n| !builtin(n))
            .collect();
        assert_eq!(
            declared, introspected,
            "{role}: SDL types against introspection"
        );
    }
}

/// Who may read each object coordinate of a composed SDL, from its directives: a field's own
/// `@requiresScopes`, else its type's; `@authenticated` means every role.
fn readers(sdl: &str, all_roles: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let document = async_graphql::parser::parse_schema(sdl).expect("the SDL parses");
    let who = |directives: &[async_graphql::Positioned<
        async_graphql::parser::types::ConstDirective,
    >]| {
        directives
            .iter()
            .find_map(|d| match d.node.name.node.as_str() {
                "authenticated" => Some(all_roles.clone()),
                "requiresScopes" => {
                    let scopes = d.node.get_argument("scopes").expect("scopes");
                    let text = scopes.node.to_string();
                    Some(
                        text.split('"')
                            .filter_map(|s| s.strip_prefix("role:"))
                            .map(str::to_owned)
                            .collect(),
                    )
                }
                _ => None,
            })
    };
    let mut out = BTreeMap::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let TypeKind::Object(object) = &ty.node.kind else {
            continue;
        };
        let name = ty.node.name.node.to_string();
        let type_readers = who(&ty.node.directives);
        for field in &object.fields {
            let readers = who(&field.node.directives)
                .or_else(|| type_readers.clone())
                .unwrap_or_else(|| {
                    panic!(
                        "{name}.{} says nothing of who reads it",
                        field.node.name.node
                    )
                });
            out.insert(format!("{name}.{}", field.node.name.node), readers);
        }
    }
    out
}

async fn the_composed_sdl_names_exactly_the_roles_of_every_coordinate(app: TestApp) {
    let policy = Policy::builtin().expect("policy");
    let all_roles: BTreeSet<String> = policy.roles.keys().cloned().collect();
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for role in &all_roles {
        let token = app.token(role);
        let own = coordinates(&app, &token).await;
        for coordinate in &own {
            expected
                .entry(coordinate.clone())
                .or_default()
                .insert(role.clone());
        }
        // The role's own `_service` SDL: its own schema, keyed, and nothing more.
        let reply = app.query(&token, "{ _service { sdl } }").await;
        let sdl = reply.data()["_service"]["sdl"].as_str().expect("sdl");
        assert!(
            sdl.contains("https://specs.apollo.dev/federation/v2"),
            "{role}"
        );
        let document = async_graphql::parser::parse_schema(sdl).expect("role SDL parses");
        let mut in_sdl = BTreeSet::new();
        for definition in document.definitions {
            if let TypeSystemDefinition::Type(ty) = definition
                && let TypeKind::Object(object) = &ty.node.kind
            {
                let name = ty.node.name.node.to_string();
                if let Some(view) = policy.role(role).and_then(|r| r.types.get(name.as_str())) {
                    let keys: Vec<String> = ty
                        .node
                        .directives
                        .iter()
                        .filter(|d| d.node.name.node == "key")
                        .map(|d| {
                            d.node
                                .get_argument("fields")
                                .expect("fields")
                                .node
                                .to_string()
                        })
                        .collect();
                    let wanted: Vec<String> = schema::federation::entity_keys(view)
                        .iter()
                        .map(|k| format!("\"{}\"", k.field))
                        .collect();
                    assert_eq!(keys, wanted, "{role}: keys of {name}");
                }
                for field in &object.fields {
                    in_sdl.insert(format!("{name}.{}", field.node.name.node));
                }
            }
        }
        assert_eq!(in_sdl, own, "{role}: its _service SDL is its schema");
    }
    let reply = app.query(&router_token(&app), "{ _service { sdl } }").await;
    let sdl = reply.data()["_service"]["sdl"].as_str().expect("sdl");
    let composed = readers(sdl, &all_roles);
    assert_eq!(
        composed.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the composed SDL holds exactly the coordinates some role has"
    );
    for (coordinate, roles) in &expected {
        // Root fields name their readers; on other types the readers of a field must be
        // among those of its type, and are stated where they differ.
        assert_eq!(&composed[coordinate], roles, "{coordinate}");
    }
    assert!(sdl.contains("@key(fields: \"unhcrCaseNumber\")"));
}

async fn routers_read_the_sdl_and_are_named_in_the_audit(app: TestApp) {
    let router = router_token(&app);
    // A router's own token reads the SDL and no case data.
    let data = app
        .query(&router, "{ persons(first: 1) { nodes { id } } }")
        .await;
    assert_eq!(data.status, 400, "{}", data.body);
    assert!(data.body.get("data").is_none_or(Value::is_null));
    let entities = app
        .query(&router, &format!("{{ _entities(representations: [{{__typename: \"Person\", id: \"{MISSING_ID}\"}}]) {{ __typename }} }}"))
        .await;
    assert_eq!(entities.status, 400, "{}", entities.body);
    // Only listed subjects are routers.
    let stranger = app
        .auth
        .issue(
            "router",
            "PORA-ADMIN",
            "31",
            "someone-else",
            chrono::Duration::hours(1),
        )
        .expect("sign");
    let refused = app.query(&stranger, "{ _service { sdl } }").await;
    assert_eq!(
        (refused.status, refused.code()),
        (401, Some("TOKEN_ROLE_UNKNOWN"))
    );

    // A forwarded request names its router in the audit event; a bad router token refuses it.
    let agency = app.token("unhcr");
    let query = "{ persons(first: 2) { nodes { id } } }";
    let forwarded = app
        .query_with_headers(&agency, query, &[("x-pora-router-token", &router)])
        .await;
    forwarded.data();
    let direct = app.query(&agency, query).await;
    assert_eq!(forwarded.data(), direct.data());
    for (header, expected) in [
        (agency.as_str(), "an agency token is no router token"),
        (stranger.as_str(), "an unlisted subject"),
        ("garbage", "not a token"),
    ] {
        let reply = app
            .query_with_headers(&agency, query, &[("x-pora-router-token", header)])
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (401, Some("ROUTER_TOKEN_INVALID")),
            "{expected}"
        );
    }
    assert_eq!(
        app.audit_event(&forwarded.request_id).await.via.as_deref(),
        Some(ROUTER)
    );
    assert_eq!(app.audit_event(&direct.request_id).await.via, None);
    // The chain stays intact with the new column.
    let verification = gateway::audit::verify(&app.db).await.expect("verify");
    assert!(
        matches!(verification, gateway::audit::Verification::Intact { .. }),
        "{verification:?}"
    );
}

/// The npm test tools (`@apollo/composition`, `@apollo/gateway`, …), installed once per run.
fn federation_tools() -> std::path::PathBuf {
    pora_tests::node_tools("federation", "@apollo/gateway")
}

async fn composes_with_apollo_and_runs_through_apollo_gateway(app: TestApp) {
    let dir = federation_tools();
    let agency = app.token("unhcr");
    let persons = app
        .query(&agency, "{ persons(first: 2) { nodes { id fullName } } }")
        .await;
    let nodes = persons.data()["persons"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    let hidden = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT p.id FROM persons p WHERE NOT EXISTS (SELECT 1 FROM unhcr_registrations r WHERE r.person_id = p.id) ORDER BY p.id LIMIT 1".to_owned(),
        ))
        .await
        .expect("unregistered person");
    let hidden: String = hidden[0].try_get_by("id").expect("id");
    let ids = json!([nodes[0]["id"], nodes[1]["id"], hidden]);
    let mut node = std::process::Command::new("node");
    node.arg("federation.mjs")
        .current_dir(&dir)
        .env("PORA_URL", format!("{}/graphql", app.base))
        .env("PORA_ROUTER_TOKEN", router_token(&app))
        .env("PORA_AGENCY_TOKEN", &agency)
        .env("PORA_PERSON_IDS", ids.to_string())
        .env(
            "PORA_QUERY",
            "{ housings { note person { id housingNote fullName } } }",
        );
    let output = tokio::task::spawn_blocking(move || node.output())
        .await
        .expect("join")
        .expect("node must be installed for the federation tests");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(last).unwrap_or_else(|_| {
        panic!(
            "no result from federation.mjs: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(output.status.success(), "{result}");
    assert_eq!(result["stage"], json!("done"), "{result}");
    eprintln!("composition hints: {}", result["hints"]);
    let answer = &result["result"];
    assert!(answer.get("errors").is_none(), "{answer}");
    let housings = answer["data"]["housings"].as_array().expect("housings");
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(housings[i]["person"]["fullName"], node["fullName"]);
        assert_eq!(
            housings[i]["person"]["housingNote"],
            json!(format!("housing of {}", node["id"].as_str().expect("id")))
        );
    }
    // A person outside the role's rows: the gateway resolved it to null.
    assert_eq!(housings[2]["person"]["fullName"], Value::Null);
    // The _entities call came through the router, and says so.
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT person_ids FROM audit_events WHERE via = '{ROUTER}' AND role = 'unhcr'"
            ),
        ))
        .await
        .expect("audit");
    assert_eq!(rows.len(), 1, "one forwarded request");
    let persons: String = rows[0].try_get_by("person_ids").expect("person_ids");
    let persons: BTreeSet<String> = serde_json::from_str(&persons).expect("json");
    let shown: BTreeSet<String> = nodes
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        persons, shown,
        "the audit names the persons returned, not the one withheld"
    );
}

on_both_databases!(
    config = with_router;
    entities_resolve_under_each_roles_fields_and_rows,
    cases_resolve_by_unhcr_case_number_where_the_role_reads_it,
    entities_are_audited_and_answered_once_per_response_key,
    a_batch_of_representations_costs_one_statement_per_type,
    the_composed_sdl_names_exactly_the_roles_of_every_coordinate,
    the_sdl_declares_exactly_the_types_of_introspection,
    routers_read_the_sdl_and_are_named_in_the_audit,
    composes_with_apollo_and_runs_through_apollo_gateway,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_configured_routers_no_token_is_a_router() {
    let app = pora_tests::spawn(pora_tests::Backend::Sqlite).await;
    let reply = app.query(&router_token(&app), "{ _service { sdl } }").await;
    assert_eq!(
        (reply.status, reply.code()),
        (401, Some("TOKEN_ROLE_UNKNOWN"))
    );
}
