//! Token scopes narrow a role: for every role and every type, operation and statistics field
//! it has, a token scoped to just that sees a schema with just that; a scope outside the role
//! is refused; one schema is built per distinct scope set.

use std::collections::{BTreeMap, BTreeSet};

use pora_tests::{TestApp, on_both_databases};
use schema::catalogue::{CATALOGUE, FieldKind};
use schema::policy::{Policy, RoleView};
use serde_json::{Value, json};

const INTROSPECTION: &str = "{ __schema { queryType { fields { name } } mutationType { fields { name } } types { name kind fields { name } } } }";

/// What a token's schema holds: root fields, and the fields of each catalogue type present.
struct Seen {
    query: BTreeSet<String>,
    mutation: BTreeSet<String>,
    types: BTreeMap<String, BTreeSet<String>>,
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["name"].as_str().map(str::to_owned))
                .filter(|n| !n.starts_with('_'))
                .collect()
        })
        .unwrap_or_default()
}

async fn seen(app: &TestApp, token: &str) -> Seen {
    let reply = app.query(token, INTROSPECTION).await;
    let schema = &reply.data()["__schema"];
    let catalogue: BTreeSet<&str> = CATALOGUE.types.iter().map(|t| t.name).collect();
    Seen {
        query: names(&schema["queryType"]["fields"]),
        mutation: names(&schema["mutationType"]["fields"]),
        types: schema["types"]
            .as_array()
            .expect("types")
            .iter()
            .filter(|t| catalogue.contains(t["name"].as_str().unwrap_or("")))
            .map(|t| {
                (
                    t["name"].as_str().expect("name").to_owned(),
                    names(&t["fields"]),
                )
            })
            .collect(),
    }
}

/// What `role` narrowed to the single type `type_name` must show.
fn expected_for_type(role: &RoleView, type_name: &str, read_only: bool) -> Seen {
    let view = &role.types[type_name];
    let fields = view
        .fields
        .iter()
        .filter(|f| match f.def.kind {
            FieldKind::Relation { target, .. } => target == type_name,
            _ => true,
        })
        .map(|f| f.def.name.to_owned())
        .collect();
    let mut query = BTreeSet::from(["viewer".to_owned()]);
    if view.list {
        query.insert(view.def.list_field.to_owned());
    }
    if view.get {
        query.insert(view.def.get_field.to_owned());
    }
    let mut mutation = BTreeSet::new();
    if !read_only && view.create {
        mutation.insert(format!("create{type_name}"));
    }
    if !read_only && view.update {
        mutation.insert(format!("update{type_name}"));
    }
    Seen {
        query,
        mutation,
        types: BTreeMap::from([(type_name.to_owned(), fields)]),
    }
}

fn assert_same(role: &str, scope: &str, seen: &Seen, expected: &Seen) {
    assert_eq!(
        seen.types, expected.types,
        "{role} scoped to {scope}: types and fields"
    );
    assert_eq!(
        seen.query, expected.query,
        "{role} scoped to {scope}: query fields"
    );
    assert_eq!(
        seen.mutation, expected.mutation,
        "{role} scoped to {scope}: mutation fields"
    );
}

async fn each_scope_narrows_every_role_to_exactly_what_it_names(app: TestApp) {
    let policy = Policy::builtin().expect("policy");
    let mut checked = 0;
    for (role_name, role) in &policy.roles {
        for type_name in role.types.keys() {
            for read_only in [false, true] {
                let scope = if read_only {
                    format!("{type_name}:read")
                } else {
                    (*type_name).to_owned()
                };
                let token = app.token_with_scope(role_name, &format!("role:{role_name} {scope}"));
                let seen = seen(&app, &token).await;
                assert_same(
                    role_name,
                    &scope,
                    &seen,
                    &expected_for_type(role, type_name, read_only),
                );
                checked += 1;
            }
        }
        for statistics in &role.statistics {
            let field = statistics.def.field;
            let token = app.token_with_scope(role_name, field);
            let seen = seen(&app, &token).await;
            assert!(
                seen.types.is_empty(),
                "{role_name}/{field}: {:?}",
                seen.types
            );
            assert_eq!(
                seen.query,
                BTreeSet::from(["viewer".to_owned(), field.to_owned()]),
                "{role_name}/{field}"
            );
            checked += 1;
        }
        for operation in &role.operations {
            if *operation == "issueToken" {
                // A narrowed token would mint tokens wider than itself.
                let token = app.token_with_scope(role_name, "issueToken AccessToken");
                let reply = app.query(&token, "{ viewer { role } }").await;
                assert_eq!(reply.code(), Some("TOKEN_SCOPE_NOT_IN_ROLE"));
                continue;
            }
            // Operations answering with tokens need the token type named with them.
            let scope = if *operation == "revokeToken" {
                format!("{operation} AccessToken:read")
            } else if operation.ends_with("Referral") {
                format!("{operation} Referral:read")
            } else if *operation == "completeActionItem" {
                format!("{operation} ActionItem:read")
            } else if *operation == "registerPerson" {
                format!("{operation} Person:read UnhcrRegistration:read Case:read")
            } else {
                operation.to_string()
            };
            let token = app.token_with_scope(role_name, &scope);
            let seen = seen(&app, &token).await;
            let roots: BTreeSet<&String> = seen.query.union(&seen.mutation).collect();
            assert!(
                roots.contains(&operation.to_string()),
                "{role_name} scoped to {operation} lacks it"
            );
            let allowed: BTreeSet<String> = [
                "viewer",
                operation,
                "accessTokens",
                "accessToken",
                "referrals",
                "referral",
                "actionItems",
                "actionItem",
                "persons",
                "person",
                "unhcrRegistrations",
                "unhcrRegistration",
                "cases",
                "case",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            for root in roots {
                assert!(
                    allowed.contains(root),
                    "{role_name} scoped to {operation} also has {root}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} scopes checked");
}

/// Scopes narrow the schema, never the rows: for every role and every type it can list, the
/// rows a token scoped to that type sees are the rows of the whole role (row filters that
/// depend on other types included).
async fn scopes_leave_the_rows_of_the_role_unchanged(app: TestApp) {
    let policy = Policy::builtin().expect("policy");
    let mut compared = 0;
    for (role_name, role) in &policy.roles {
        let whole = app.token(role_name);
        // The audit log grows with every query, these included; its filter (`own_agency`)
        // depends on no other type.
        for view in role
            .types
            .values()
            .filter(|v| v.list && v.def.name != "AuditEvent")
        {
            let query = format!(
                "{{ {}(first: 500) {{ totalCount nodes {{ id }} }} }}",
                view.def.list_field
            );
            let scoped = app.token_with_scope(role_name, &format!("{}:read", view.def.name));
            let expected = app.query(&whole, &query).await;
            let got = app.query(&scoped, &query).await;
            assert_eq!(
                got.data(),
                expected.data(),
                "{role_name} scoped to {}",
                view.def.name
            );
            compared += 1;
        }
    }
    assert!(compared > 30, "only {compared} lists compared");
}

/// Operations keep their checks under narrowing: a report on a person the role cannot see is
/// refused alike, and an agency's tokens are revoked alike.
async fn operations_keep_the_roles_checks_when_narrowed(app: TestApp) {
    use sea_orm::ConnectionTrait;
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT p.id FROM persons p WHERE NOT EXISTS (SELECT 1 FROM unhcr_registrations r WHERE r.person_id = p.id) ORDER BY p.id LIMIT 1".to_owned(),
        ))
        .await
        .expect("unregistered person");
    let hidden: String = rows[0].try_get_by("id").expect("id");
    let report = format!("{{ personAccessReport(personId: \"{hidden}\") {{ agency }} }}");
    for token in [
        app.token("unhcr"),
        app.token_with_scope("unhcr", "personAccessReport"),
    ] {
        let reply = app.query(&token, &report).await;
        assert_eq!(reply.code(), Some("NOT_FOUND"), "{}", reply.body);
    }

    let admin = app.token("admin");
    let issue = "mutation { issueToken(input: {role: \"iom\", agency: \"IOM-JKT\", jurisdiction: \"31.71\", subject: \"x\", ttl: \"1h\"}) { token } }";
    for _ in 0..2 {
        app.query(&admin, issue).await.data();
    }
    let scoped = app.token_with_scope("admin", "revokeTokensOfAgency");
    let revoked = app
        .query(
            &scoped,
            "mutation { revokeTokensOfAgency(agency: \"IOM-JKT\") }",
        )
        .await;
    assert_eq!(revoked.data()["revokeTokensOfAgency"], json!(2));
}

async fn scoped_tokens_reach_nothing_outside_their_scopes(app: TestApp) {
    // An integration partner of the police: incidents and shelters, no persons.
    let token = app.token_with_scope("police", "role:police Incident Shelter");
    let full = app.token("police");
    let incidents = app
        .query(&token, "{ incidents(first: 3) { nodes { id kind } } }")
        .await;
    let same = app
        .query(&full, "{ incidents(first: 3) { nodes { id kind } } }")
        .await;
    assert_eq!(
        incidents.data(),
        same.data(),
        "a scope keeps the role's rows and fields"
    );
    // The audit says the answer went to a narrowed token, and to which scopes.
    for (reply, expected) in [(&incidents, Some("Incident Shelter")), (&same, None)] {
        let event = app.audit_event(&reply.request_id).await;
        assert_eq!(event.scopes.as_deref(), expected);
    }
    assert!(matches!(
        gateway::audit::verify(&app.db).await.expect("verify"),
        gateway::audit::Verification::Intact { .. }
    ));
    for (hidden, never) in [
        (
            "{ incidents(first: 1) { nodes { involvedPersons { id } } } }",
            "{ incidents(first: 1) { nodes { noSuchField { id } } } }",
        ),
        (
            "{ person(id: \"x\") { id } }",
            "{ noSuchField(id: \"x\") { id } }",
        ),
    ] {
        let a = app.query(&token, hidden).await;
        let b = app.query(&token, never).await;
        assert_eq!(a.status, 400, "{}", a.body);
        let strip = |m: &str| {
            m.replace("\"involvedPersons\"", "\"<f>\"")
                .replace("\"person\"", "\"<f>\"")
                .replace("\"noSuchField\"", "\"<f>\"")
        };
        assert_eq!(strip(a.message()), strip(b.message()));
    }
    let entities = app
        .query(
            &token,
            "{ _entities(representations: [{__typename: \"Person\", id: \"x\"}]) { __typename } }",
        )
        .await;
    assert!(entities.code().is_some(), "{}", entities.body);
}

async fn scopes_outside_the_role_are_refused(app: TestApp) {
    let policy = Policy::builtin().expect("policy");
    for (role_name, role) in &policy.roles {
        let mut outside: Vec<String> = CATALOGUE
            .types
            .iter()
            .filter(|t| !role.types.contains_key(t.name))
            .map(|t| t.name.to_owned())
            .collect();
        outside.extend(
            schema::policy::OPERATIONS
                .iter()
                .filter(|o| !role.operations.contains(*o))
                .map(|o| o.to_string()),
        );
        outside.extend([
            "persons".to_owned(),
            "Nothing".to_owned(),
            "role:admin".to_owned(),
        ]);
        if role_name == "admin" {
            outside.retain(|s| s != "role:admin");
            outside.push("role:police".to_owned());
        }
        for scope in outside {
            let token = app.token_with_scope(role_name, &scope);
            let reply = app.query(&token, "{ viewer { role } }").await;
            assert_eq!(
                (reply.status, reply.code()),
                (403, Some("TOKEN_SCOPE_NOT_IN_ROLE")),
                "{role_name} with scope {scope}: {}",
                reply.body
            );
            assert!(reply.body.get("data").is_none());
            // The refusal is audited with who asked.
            let event = app.audit_event(&reply.request_id).await;
            assert_eq!(
                (event.subject.as_deref(), event.outcome.as_str()),
                (Some(format!("test-{role_name}-scoped").as_str()), "denied"),
                "{role_name} with scope {scope}"
            );
        }
    }
}

async fn metric(app: &TestApp) -> u64 {
    app.metric("pora_scoped_schemas_built_total").await
}

async fn one_schema_is_built_per_distinct_scope_set(app: TestApp) {
    let before = metric(&app).await;
    for scope in [
        "role:police Incident Shelter",
        "Shelter Incident",
        "Incident Shelter Shelter",
    ] {
        let token = app.token_with_scope("police", scope);
        app.query(&token, "{ viewer { role } }").await.data();
    }
    assert_eq!(
        metric(&app).await,
        before + 1,
        "the same set in any order is one schema"
    );
    let other = app.token_with_scope("police", "Incident");
    app.query(&other, "{ viewer { role } }").await.data();
    let unscoped = app.token("police");
    app.query(&unscoped, "{ viewer { role } }").await.data();
    assert_eq!(
        metric(&app).await,
        before + 2,
        "another set is another; no scope is none"
    );
}

async fn administrators_issue_scoped_tokens(app: TestApp) {
    let admin = app.token("admin");
    let issue = |role: &str, scopes: Value| {
        json!({ "input": {
            "role": role, "agency": "POLRES-JKP", "jurisdiction": "31.71",
            "subject": "partner-system", "ttl": "8h", "scopes": scopes
        }})
    };
    let mutation = "mutation($input: IssueTokenInput!) { issueToken(input: $input) { token accessToken { id scopes } } }";
    let reply = app
        .query_vars(
            &admin,
            mutation,
            issue("police", json!(["Shelter", "Incident:read"])),
        )
        .await;
    let issued = &reply.data()["issueToken"];
    assert_eq!(
        issued["accessToken"]["scopes"],
        json!(["Incident:read", "Shelter"])
    );
    let partner = issued["token"].as_str().expect("token");
    let seen = seen(&app, partner).await;
    assert_eq!(
        seen.types.keys().map(String::as_str).collect::<Vec<_>>(),
        ["Incident", "Shelter"]
    );
    assert!(
        seen.mutation.iter().all(|m| !m.ends_with("Incident")),
        "{:?}",
        seen.mutation
    );
    // Refused at issue: a scope the role does not have, or an operation without its type.
    for scopes in [
        json!(["Nothing", "Incident"]),
        json!(["verifyDocument"]),
        json!(["issueToken"]),
    ] {
        let role = if scopes == json!(["issueToken"]) {
            "admin"
        } else {
            "municipality"
        };
        let reply = app
            .query_vars(&admin, mutation, issue(role, scopes.clone()))
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (403, Some("TOKEN_SCOPE_NOT_IN_ROLE")),
            "{role} {scopes}: {}",
            reply.body
        );
    }
}

on_both_databases!(
    each_scope_narrows_every_role_to_exactly_what_it_names,
    scopes_leave_the_rows_of_the_role_unchanged,
    operations_keep_the_roles_checks_when_narrowed,
    scoped_tokens_reach_nothing_outside_their_scopes,
    scopes_outside_the_role_are_refused,
    one_schema_is_built_per_distinct_scope_set,
    administrators_issue_scoped_tokens,
);
