//! To-one relations asked of a page or a lookup are read in the page's own statement (issue
//! 14), not by the loader one statement each. The answer must not change: for every role, every
//! type it may list and every to-one relation of that type in its schema (two levels deep,
//! every leaf field of each), the page's answer is compared with the same rows read through
//! `_entities`, whose relations still go through the loader: a different code path, rows under
//! the same row rules. Found by introspection, so a new relation or role is covered unasked.

use std::collections::BTreeMap;

use pora_tests::{TestApp, on_both_databases};
use serde_json::{Value, json};

/// An object type of a role's schema: its fields, each with its type unwrapped of non-null.
struct ObjectType {
    /// (field, its named type, whether a list, whether it takes arguments).
    fields: Vec<(String, String, bool, bool)>,
}

/// The object types of the schema `token` sees, by name (leaf types are left out).
async fn object_types(app: &TestApp, token: &str) -> BTreeMap<String, ObjectType> {
    let reply = app
        .query(
            token,
            "{ __schema { types { name kind fields { name args { name } \
             type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }",
        )
        .await;
    let schema = &reply.data()["__schema"];
    let mut out = BTreeMap::new();
    for t in schema["types"].as_array().expect("types") {
        if t["kind"] != "OBJECT" {
            continue;
        }
        let mut fields = Vec::new();
        for f in t["fields"].as_array().into_iter().flatten() {
            let mut ty = &f["type"];
            let mut list = false;
            while ty["name"].is_null() {
                list |= ty["kind"] == "LIST";
                ty = &ty["ofType"];
            }
            fields.push((
                f["name"].as_str().expect("field").to_owned(),
                ty["name"].as_str().expect("type name").to_owned(),
                list,
                !f["args"].as_array().expect("args").is_empty(),
            ));
        }
        out.insert(
            t["name"].as_str().expect("name").to_owned(),
            ObjectType { fields },
        );
    }
    out
}

/// The selection of every leaf field of `type_name`, with its to-one relations to rows (types
/// that have a `…Connection`) `depth` levels down, each of them the same way.
fn selection(
    types: &BTreeMap<String, ObjectType>,
    type_name: &str,
    depth: usize,
    relations: &mut usize,
) -> String {
    let ty = &types[type_name];
    let mut parts = Vec::new();
    for (field, target, list, args) in &ty.fields {
        match types.get(target) {
            // A leaf: a scalar or an enum (not an object type).
            None if !args => parts.push(field.clone()),
            Some(_)
                if !list
                    && !args
                    && depth > 0
                    && types.contains_key(&format!("{target}Connection")) =>
            {
                *relations += 1;
                parts.push(format!(
                    "{field} {{ {} }}",
                    selection(types, target, depth - 1, relations)
                ));
            }
            _ => {}
        }
    }
    parts.join(" ")
}

async fn folded_relations_answer_what_the_loader_answers(app: TestApp) {
    let mut compared = 0;
    let mut relations_seen = 0;
    let roles: Vec<String> = app.policy.roles.keys().cloned().collect();
    for role in roles {
        let token = app.token(&role);
        let types = object_types(&app, &token).await;
        let Some(query_type) = types.get("Query") else {
            continue;
        };
        let has_entities = query_type.fields.iter().any(|f| f.0 == "_entities");
        // Every list field of the root: `{list}` returning `{Type}Connection`.
        let lists: Vec<(String, String)> = query_type
            .fields
            .iter()
            .filter_map(|(field, target, _, _)| {
                target
                    .strip_suffix("Connection")
                    .filter(|t| types.contains_key(*t))
                    .map(|t| (field.clone(), t.to_owned()))
            })
            .collect();
        for (list, type_name) in lists {
            let mut relations = 0;
            let fields = selection(&types, &type_name, 2, &mut relations);
            if relations == 0 || !fields.split_whitespace().any(|w| w == "id") {
                continue;
            }
            let page = app
                .query(
                    &token,
                    &format!("{{ {list}(first: 40) {{ nodes {{ {fields} }} }} }}"),
                )
                .await;
            assert!(
                page.body.get("errors").is_none(),
                "{role} {list}: {}",
                page.body
            );
            let nodes = page.data()[&list]["nodes"]
                .as_array()
                .expect("nodes")
                .clone();
            if nodes.is_empty() || !has_entities {
                continue;
            }
            let representations: Vec<Value> = nodes
                .iter()
                .map(|n| json!({ "__typename": type_name, "id": n["id"] }))
                .collect();
            let loaded = app
                .query_vars(
                    &token,
                    &format!(
                        "query($r: [_Any!]!) {{ _entities(representations: $r) {{ ... on {type_name} {{ {fields} }} }} }}"
                    ),
                    json!({ "r": representations }),
                )
                .await;
            assert!(
                loaded.body.get("errors").is_none(),
                "{role} _entities {type_name}: {}",
                loaded.body
            );
            assert_eq!(
                Value::Array(nodes.clone()),
                loaded.data()["_entities"],
                "{role}: {list} with its to-one relations read in one statement must answer \
                 what the loader answers ({fields})"
            );
            compared += nodes.len();
            relations_seen += relations;
        }
    }
    println!(
        "{:?}: {compared} rows compared, {relations_seen} relation selections",
        app.backend
    );
    assert!(compared > 200, "the demo data must give rows to compare");
    assert!(relations_seen > 20, "relations found: {relations_seen}");
}

/// What the change is for: a page of persons with their registration, current placement,
/// its shelter and the shelter's operator is one statement however deep those go; so is a
/// lookup. A to-many relation (`placements`) is still one statement per level.
async fn to_one_relations_add_no_statements(app: TestApp) {
    let token = app.token("immigration");
    let statements = |reply: &pora_tests::Reply| reply.sql_statements.expect("x-sql-statements");
    let flat = app
        .query(&token, "{ persons(first: 20) { nodes { id fullName } } }")
        .await;
    let nested = app
        .query(
            &token,
            "{ persons(first: 20) { nodes { id fullName registration { legalStatus } \
             currentPlacement { kind shelter { name operator { code } } } } } }",
        )
        .await;
    let nodes = nested.data()["persons"]["nodes"].as_array().expect("nodes");
    assert!(
        nodes
            .iter()
            .any(|p| !p["currentPlacement"]["shelter"]["operator"]["code"].is_null()),
        "some person must reach a shelter operator: {}",
        nested.body
    );
    assert_eq!(statements(&flat), 1, "{}", flat.body);
    assert_eq!(
        statements(&nested),
        statements(&flat),
        "to-one relations ride in the page's statement"
    );
    let id = nodes[0]["id"].as_str().expect("id");
    let lookup = app
        .query_vars(
            &token,
            "query($id: ID!) { person(id: $id) { registration { legalStatus } currentPlacement { shelter { name } } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(lookup.body.get("errors").is_none(), "{}", lookup.body);
    assert_eq!(statements(&lookup), 1, "{}", lookup.body);
    let to_many = app
        .query(
            &token,
            "{ persons(first: 20) { nodes { id placements { kind shelter { name } } } } }",
        )
        .await;
    assert_eq!(
        statements(&to_many),
        3,
        "page, placements, their shelters: {}",
        to_many.body
    );
}

on_both_databases!(
    folded_relations_answer_what_the_loader_answers,
    to_one_relations_add_no_statements
);
