//! For every role and every type and field of the whole catalogue: the role's schema has it if
//! and only if the compiled policy grants it; selecting a field it lacks fails exactly like a
//! field that never existed; filters, sort orders and statistics offer only what is allowed.
//! Run over the built-in policy and over one that adds a role (`tests/policies/dinsos.toml`).

use std::collections::{BTreeMap, BTreeSet};

use pora_tests::{TestApp, on_both_databases};
use schema::catalogue::{CATALOGUE, FieldKind};
use schema::filter::screaming;
use schema::policy::RoleView;
use serde_json::Value;

const INTROSPECTION: &str =
    "{ __schema { types { name kind fields { name } inputFields { name } enumValues { name } } } }";

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn introspect(app: &TestApp, role: &str) -> BTreeMap<String, Value> {
    let reply = app.query(&app.token(role), INTROSPECTION).await;
    reply.data()["__schema"]["types"]
        .as_array()
        .expect("types")
        .iter()
        .map(|t| (t["name"].as_str().expect("name").to_owned(), t.clone()))
        .collect()
}

/// A selection path from `Query` to an object of `target` in the role's schema, such as
/// `person(id: "x") { registration { … } }`, found breadth-first over root fields and relations.
fn path_to(role: &RoleView, target: &str) -> Option<Vec<String>> {
    let mut queue: Vec<(String, Vec<String>)> = Vec::new();
    for view in role.types.values() {
        if view.get {
            queue.push((
                view.def.name.to_owned(),
                vec![format!(
                    "{}(id: \"00000000-0000-0000-0000-000000000000\")",
                    view.def.get_field
                )],
            ));
        }
        if view.list {
            queue.push((
                view.def.name.to_owned(),
                vec![
                    format!("{}(first: 1)", view.def.list_field),
                    "nodes".to_owned(),
                ],
            ));
        }
    }
    let mut seen = BTreeSet::new();
    let mut i = 0;
    while i < queue.len() {
        let (ty, path) = queue[i].clone();
        i += 1;
        if ty == target {
            return Some(path);
        }
        if !seen.insert(ty.clone()) {
            continue;
        }
        for f in &role.types[ty.as_str()].fields {
            if let FieldKind::Relation { target: next, .. } = f.def.kind {
                let mut p = path.clone();
                p.push(f.def.name.to_owned());
                queue.push((next.to_owned(), p));
            }
        }
    }
    None
}

fn wrap(path: &[String], leaf: &str) -> String {
    let mut q = leaf.to_owned();
    for step in path.iter().rev() {
        q = format!("{step} {{ {q} }}");
    }
    format!("{{ {q} }}")
}

async fn introspection_lists_exactly_the_granted_types_and_fields(app: TestApp) {
    for role_name in app.policy.roles.keys() {
        let role = app.policy.role(role_name).expect("role");
        let types = introspect(&app, role_name).await;
        for def in &CATALOGUE.types {
            match role.types.get(def.name) {
                None => assert!(
                    !types.contains_key(def.name),
                    "{role_name} must not see type {}",
                    def.name
                ),
                Some(view) => {
                    let listed = names(&types[def.name]["fields"]);
                    for field in &def.fields {
                        let granted = view.field(field.name).is_some();
                        assert_eq!(
                            listed.contains(field.name),
                            granted,
                            "{role_name}: {}.{} granted={granted}",
                            def.name,
                            field.name
                        );
                    }
                    assert_eq!(
                        listed.len(),
                        view.fields.len(),
                        "{role_name}: {} has extra fields",
                        def.name
                    );
                }
            }
        }
    }
}

async fn a_hidden_field_fails_exactly_like_a_missing_one(app: TestApp) {
    for role_name in app.policy.roles.keys() {
        let role = app.policy.role(role_name).expect("role");
        let token = app.token(role_name);
        for def in &CATALOGUE.types {
            let hidden: Vec<&str> = def
                .fields
                .iter()
                .filter(|f| {
                    role.types
                        .get(def.name)
                        .is_none_or(|v| v.field(f.name).is_none())
                })
                .map(|f| f.name)
                .collect();
            if hidden.is_empty() {
                continue;
            }
            let Some(path) = path_to(role, def.name) else {
                // The type is unreachable: its root fields must be as unknown as any other name.
                for root in [def.list_field, def.get_field] {
                    let hidden_reply = app.query(&token, &format!("{{ {root} {{ id }} }}")).await;
                    let missing_reply = app.query(&token, "{ zzzNoSuchField { id } }").await;
                    assert_eq!(hidden_reply.status, 400);
                    assert_eq!(
                        hidden_reply.message().replace(root, "zzzNoSuchField"),
                        missing_reply.message(),
                        "{role_name}: {root}"
                    );
                }
                continue;
            };
            let missing = app.query(&token, &wrap(&path, "zzzNoSuchField")).await;
            assert_eq!(missing.status, 400, "{role_name}: {}", missing.body);
            for field in hidden {
                let reply = app.query(&token, &wrap(&path, field)).await;
                assert_eq!(reply.status, 400, "{role_name}: {}.{field}", def.name);
                assert_eq!(reply.code(), Some("GRAPHQL_VALIDATION_FAILED"));
                assert_eq!(
                    reply
                        .message()
                        .replace(&format!("\"{field}\""), "\"zzzNoSuchField\""),
                    missing.message(),
                    "{role_name}: {}.{field}",
                    def.name
                );
                assert!(
                    !reply.message().contains("Did you mean"),
                    "{}",
                    reply.message()
                );
            }
        }
    }
}

async fn filters_sorts_and_statistics_offer_only_what_is_read_in_full(app: TestApp) {
    for role_name in app.policy.roles.keys() {
        let role = app.policy.role(role_name).expect("role");
        let types = introspect(&app, role_name).await;
        for view in role.types.values() {
            let full: BTreeSet<String> = view
                .fields
                .iter()
                .filter(|f| f.filterable().is_some())
                .map(|f| f.def.name.to_owned())
                .collect();
            let filter = format!("{}Filter", view.def.name);
            let order = format!("{}OrderField", view.def.name);
            if !view.list {
                assert!(!types.contains_key(&filter), "{role_name}: {filter}");
                continue;
            }
            let mut offered = names(&types[&filter]["inputFields"]);
            for combinator in ["and", "or", "not"] {
                assert!(offered.remove(combinator));
            }
            // Which side of a referral the caller's agency is on: no field, only the party
            // relation the row filter already holds.
            if view.def.name == "Referral" {
                assert!(
                    offered.remove("direction"),
                    "{role_name}: ReferralFilter.direction"
                );
            }
            assert_eq!(offered, full, "{role_name}: {filter}");
            let sortable: BTreeSet<String> = view
                .fields
                .iter()
                .filter(|f| f.filterable().is_some_and(|(_, k)| !k.is_list()))
                .map(|f| screaming(f.def.name))
                .collect();
            assert_eq!(
                names(&types[&order]["enumValues"]),
                sortable,
                "{role_name}: {order}"
            );
            // Every field not read in full is refused as a filter, like an unknown one.
            for def in &view.def.fields {
                if full.contains(def.name) {
                    continue;
                }
                let q = format!(
                    "{{ {}(where: {{ {}: {{ isNull: true }} }}) {{ totalCount }} }}",
                    view.def.list_field, def.name
                );
                let reply = app.query(&app.token(role_name), &q).await;
                assert_eq!(
                    reply.status, 400,
                    "{role_name}: filter on {}.{}",
                    view.def.name, def.name
                );
                assert_eq!(reply.code(), Some("GRAPHQL_VALIDATION_FAILED"));
            }
        }
        // Statistics dimensions: exactly the policy's.
        for stats in schema::statistics::STATISTICS.iter() {
            let enum_name = format!("{}StatisticsDimension", stats.name);
            match role.statistics.iter().find(|s| s.def.name == stats.name) {
                None => assert!(!types.contains_key(&enum_name), "{role_name}: {enum_name}"),
                Some(view) => {
                    let expected: BTreeSet<String> =
                        view.dimensions.iter().map(|d| screaming(d)).collect();
                    assert_eq!(
                        names(&types[&enum_name]["enumValues"]),
                        expected,
                        "{role_name}"
                    );
                }
            }
        }
    }
}

/// The matrix's hardest lines, checked over every role against the schemas themselves.
async fn sensitive_fields_reach_only_the_roles_the_matrix_names(app: TestApp) {
    let only = |field: &str| -> &'static [&'static str] {
        match field {
            "religion" | "ethnicity" | "claimNarrative" => &["unhcr"],
            "medicalNotes" => &["unhcr", "iom"],
            _ => unreachable!(),
        }
    };
    for role_name in app.policy.roles.keys() {
        let role_name = role_name.as_str();
        let types = introspect(&app, role_name).await;
        let person_fields = types
            .get("Person")
            .map(|t| names(&t["fields"]))
            .unwrap_or_default();
        for field in ["religion", "ethnicity", "claimNarrative", "medicalNotes"] {
            assert_eq!(
                person_fields.contains(field),
                only(field).contains(&role_name),
                "{role_name}: Person.{field}"
            );
        }
        if ["kesbangpol", "admin"].contains(&role_name) {
            assert!(
                !types.contains_key("Person"),
                "{role_name} must have no Person type"
            );
            for (name, t) in &types {
                for f in names(&t["fields"]) {
                    assert!(
                        !["fullName", "dateOfBirth", "initials", "involvedPersons"]
                            .contains(&f.as_str()),
                        "{role_name}: {name}.{f}"
                    );
                }
            }
        }
        let query_fields = names(&types["Query"]["fields"]);
        if ["police", "municipality", "kesbangpol", "admin"].contains(&role_name) {
            assert!(
                !query_fields.contains("persons"),
                "{role_name} must not browse persons"
            );
        }
        assert_eq!(
            query_fields.contains("verifyDocument"),
            role_name == "police"
        );
    }
}

on_both_databases!(
    introspection_lists_exactly_the_granted_types_and_fields,
    a_hidden_field_fails_exactly_like_a_missing_one,
    filters_sorts_and_statistics_offer_only_what_is_read_in_full,
    sensitive_fields_reach_only_the_roles_the_matrix_names,
);

/// The same suite over a policy that adds the social service's role.
mod with_a_new_role {
    pub(super) use super::{
        a_hidden_field_fails_exactly_like_a_missing_one,
        filters_sorts_and_statistics_offer_only_what_is_read_in_full,
        introspection_lists_exactly_the_granted_types_and_fields,
        sensitive_fields_reach_only_the_roles_the_matrix_names,
    };
    pora_tests::on_both_databases!(
        spawn = pora_tests::new_role::spawn;
        introspection_lists_exactly_the_granted_types_and_fields,
        a_hidden_field_fails_exactly_like_a_missing_one,
        filters_sorts_and_statistics_offer_only_what_is_read_in_full,
        sensitive_fields_reach_only_the_roles_the_matrix_names,
    );
}
