//! Writes (the W cells): the mutation inputs of every role are exactly its policy's writable
//! fields, and every write stays inside the writer's row filter.

use std::collections::BTreeSet;

use entities::{person, shelter};
use pora_tests::{TestApp, on_both_databases};
use schema::catalogue::{CATALOGUE, FieldKind};
use schema::policy::{Policy, ROLES};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn mutation_inputs_are_exactly_the_writable_fields(app: TestApp) {
    let policy = Policy::builtin().expect("policy");
    for role_name in ROLES {
        let role = policy.role(role_name).expect("role");
        let reply = app
            .query(&app.token(role_name), "{ __schema { mutationType { fields { name } } types { name inputFields { name } } } }")
            .await;
        let schema = &reply.data()["__schema"];
        let types: Vec<&Value> = schema["types"].as_array().expect("types").iter().collect();
        let input_fields = |name: &str| {
            types
                .iter()
                .find(|t| t["name"] == name)
                .map(|t| names(&t["inputFields"]))
        };
        let mut expected_mutations = BTreeSet::new();
        for def in &CATALOGUE.types {
            let view = role.types.get(def.name);
            let writable: BTreeSet<String> = view
                .map(|v| {
                    v.writable
                        .iter()
                        .map(|f| match f.kind {
                            FieldKind::Relation { .. } => format!("{}Id", f.name),
                            _ => f.name.to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let create = view.is_some_and(|v| v.create);
            let update = view.is_some_and(|v| v.update);
            let create_input = input_fields(&format!("{}CreateInput", def.name));
            let update_input = input_fields(&format!("{}UpdateInput", def.name));
            assert_eq!(
                create_input.is_some(),
                create,
                "{role_name}: {}CreateInput",
                def.name
            );
            assert_eq!(
                update_input.is_some(),
                update,
                "{role_name}: {}UpdateInput",
                def.name
            );
            if let Some(fields) = create_input {
                assert_eq!(fields, writable, "{role_name}: {}CreateInput", def.name);
                expected_mutations.insert(format!("create{}", def.name));
            }
            if let Some(fields) = update_input {
                assert_eq!(fields, writable, "{role_name}: {}UpdateInput", def.name);
                expected_mutations.insert(format!("update{}", def.name));
            }
        }
        for op in [
            "revokeToken",
            "revokeTokensOfAgency",
            "issueToken",
            "createReferral",
            "acceptReferral",
            "declineReferral",
            "closeReferral",
            "extendReferral",
        ] {
            if role.operations.contains(op) {
                expected_mutations.insert(op.to_owned());
            }
        }
        if expected_mutations.is_empty() {
            assert!(
                schema["mutationType"].is_null(),
                "{role_name} has no writes"
            );
        } else {
            assert_eq!(
                names(&schema["mutationType"]["fields"]),
                expected_mutations,
                "{role_name}"
            );
        }
    }
}

async fn a_field_that_is_not_writable_is_refused_like_an_unknown_one(app: TestApp) {
    let policy = Policy::builtin().expect("policy");
    for role_name in ROLES {
        let role = policy.role(role_name).expect("role");
        for view in role.types.values().filter(|v| v.update) {
            for f in &view.def.fields {
                if view.writable.iter().any(|w| w.name == f.name) {
                    continue;
                }
                let q = format!(
                    "mutation {{ update{}(id: \"x\", input: {{ {}: null }}) {{ id }} }}",
                    view.def.name, f.name
                );
                let reply = app.query(&app.token(role_name), &q).await;
                assert_eq!(
                    reply.status, 400,
                    "{role_name}: {}.{} must not be writable",
                    view.def.name, f.name
                );
                assert_eq!(reply.code(), Some("GRAPHQL_VALIDATION_FAILED"));
            }
        }
    }
}

const CREATE_PERSON: &str = "mutation($input: PersonCreateInput!) { createPerson(input: $input) { id fullName residenceRegion aliases } }";

fn new_person(region: &str) -> Value {
    json!({ "input": { "fullName": "Test Person", "sex": "FEMALE", "dateOfBirth": "1990-04-01",
                       "nationality": "AFG", "residenceRegion": region } })
}

async fn writes_stay_inside_the_writers_rows(app: TestApp) {
    let token = app.token_for("immigration", "KANIM-JKP", "31.71.01");
    let before = person::Entity::find().count(&app.db).await.expect("count");

    // A new person outside the writer's jurisdiction is refused, and nothing is written.
    let reply = app
        .query_vars(&token, CREATE_PERSON, new_person("31.71.02.1001"))
        .await;
    assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
    assert_eq!(
        person::Entity::find().count(&app.db).await.expect("count"),
        before
    );

    // Inside it, the person is created and readable as written; lists default to empty.
    let reply = app
        .query_vars(&token, CREATE_PERSON, new_person("31.71.01.1001"))
        .await;
    let created = reply.data()["createPerson"].clone();
    assert_eq!(created["fullName"], "Test Person");
    assert_eq!(created["aliases"], json!([]));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(
        person::Entity::find().count(&app.db).await.expect("count"),
        before + 1
    );
    let read = app
        .query(
            &token,
            &format!("{{ person(id: \"{id}\") {{ fullName }} }}"),
        )
        .await;
    assert_eq!(read.data()["person"]["fullName"], "Test Person");

    // An update that would move the person out of reach is rolled back.
    let update = "mutation($id: ID!, $input: PersonUpdateInput!) { updatePerson(id: $id, input: $input) { fullName residenceRegion } }";
    let reply = app.query_vars(&token, update, json!({ "id": id, "input": { "residenceRegion": "31.71.05.1001", "fullName": "Moved" } })).await;
    assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
    let stored = person::Entity::find_by_id(id.clone())
        .one(&app.db)
        .await
        .expect("find")
        .expect("row");
    assert_eq!(
        (stored.full_name.as_str(), stored.residence_region.as_str()),
        ("Test Person", "31.71.01.1001")
    );

    // A person outside the jurisdiction cannot be updated: not found, like a missing id.
    let outsider = person::Entity::find()
        .all(&app.db)
        .await
        .expect("persons")
        .into_iter()
        .find(|p| p.residence_region.starts_with("31.71.08"))
        .expect("someone in Johar Baru");
    let hidden = app
        .query_vars(
            &token,
            update,
            json!({ "id": outsider.id, "input": { "fullName": "X" } }),
        )
        .await;
    let missing = app
        .query_vars(
            &token,
            update,
            json!({ "id": "no-such-id", "input": { "fullName": "X" } }),
        )
        .await;
    assert_eq!(hidden.code(), Some("NOT_FOUND"));
    assert_eq!(missing.code(), Some("NOT_FOUND"));
    assert_eq!(
        hidden.message().replace(&outsider.id, "ID"),
        missing.message().replace("no-such-id", "ID")
    );
    let unchanged = person::Entity::find_by_id(outsider.id.clone())
        .one(&app.db)
        .await
        .expect("find")
        .expect("row");
    assert_eq!(unchanged.full_name, outsider.full_name);

    // A required field cannot be cleared.
    let reply = app
        .query_vars(
            &token,
            update,
            json!({ "id": id, "input": { "fullName": null } }),
        )
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
}

async fn incidents_and_shelters_are_written_within_jurisdiction_and_ownership(app: TestApp) {
    let police = app.token("police");
    let create = "mutation($input: IncidentCreateInput!) { createIncident(input: $input) { id region kind } }";
    let incident = |region: &str| json!({ "input": { "kind": "GATHERING", "occurredAt": "2026-11-20T08:00:00Z", "region": region, "headcount": 30 } });
    let inside = app
        .query_vars(&police, create, incident("31.71.04.1001"))
        .await;
    assert_eq!(inside.data()["createIncident"]["region"], "31.71.04.1001");
    let outside = app
        .query_vars(&police, create, incident("31.72.01.1001"))
        .await;
    assert_eq!(outside.code(), Some("FORBIDDEN"), "{}", outside.body);
    let bad_region = app.query_vars(&police, create, incident("31.71.%")).await;
    assert_eq!(
        bad_region.status, 400,
        "a malformed region code is refused by validation"
    );

    // Kesbangpol writes incident core fields but not the narrative.
    let reply = app
        .query(&app.token("kesbangpol"), "mutation { createIncident(input: { kind: PROTEST, occurredAt: \"2026-11-20T08:00:00Z\", region: \"31.71\", narrative: \"x\" }) { id } }")
        .await;
    assert_eq!(reply.code(), Some("GRAPHQL_VALIDATION_FAILED"));

    // IOM writes only the shelters it operates, and places people only in them.
    let shelters = shelter::Entity::find()
        .all(&app.db)
        .await
        .expect("shelters");
    let detention = shelters
        .iter()
        .find(|s| s.kind == "DETENTION_CENTRE")
        .expect("detention centre");
    let iom = app.token("iom");
    let update =
        "mutation($id: ID!) { updateShelter(id: $id, input: { capacity: 1 }) { capacity } }";
    let reply = app
        .query_vars(&iom, update, json!({ "id": detention.id }))
        .await;
    assert_eq!(reply.code(), Some("NOT_FOUND"), "{}", reply.body);
    let persons = app
        .query(&iom, "{ persons(first: 1) { nodes { id } } }")
        .await;
    let person_id = persons.data()["persons"]["nodes"][0]["id"]
        .as_str()
        .expect("a person in IOM's caseload")
        .to_owned();
    let place = "mutation($input: PlacementCreateInput!) { createPlacement(input: $input) { kind shelter { name } } }";
    let reply = app
        .query_vars(&iom, place, json!({ "input": { "personId": person_id, "shelterId": detention.id, "kind": "DETENTION", "startDate": "2026-11-01" } }))
        .await;
    assert_eq!(
        reply.code(),
        Some("BAD_USER_INPUT"),
        "a shelter IOM cannot see is no shelter: {}",
        reply.body
    );
    let house = app
        .query(&iom, "{ shelters(first: 1) { nodes { id } } }")
        .await;
    let house_id = house.data()["shelters"]["nodes"][0]["id"]
        .as_str()
        .expect("an IOM house")
        .to_owned();
    let reply = app
        .query_vars(&iom, place, json!({ "input": { "personId": person_id, "shelterId": house_id, "kind": "COMMUNITY_HOUSE", "startDate": "2026-11-01" } }))
        .await;
    assert_eq!(reply.data()["createPlacement"]["kind"], "COMMUNITY_HOUSE");
}

/// Makes every insert of a write's audit event fail in the database itself.
async fn poison_write_events(app: &TestApp) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let backend = app.db.get_database_backend();
    let statements: Vec<&str> = match backend {
        DbBackend::Postgres => vec![
            "CREATE FUNCTION poison_writes() RETURNS trigger AS $$ BEGIN \
             IF NEW.fields_written IS NOT NULL THEN RAISE EXCEPTION 'poisoned'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER poison_writes BEFORE INSERT ON audit_events FOR EACH ROW \
             EXECUTE FUNCTION poison_writes()",
        ],
        _ => vec![
            "CREATE TRIGGER poison_writes BEFORE INSERT ON audit_events \
             WHEN NEW.fields_written IS NOT NULL BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        ],
    };
    for sql in statements {
        app.db
            .execute_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .expect("install trigger");
    }
}

async fn a_write_and_its_audit_event_commit_together(app: TestApp) {
    let token = app.token_for("immigration", "KANIM-JKP", "31.71.01");
    let reply = app
        .query_vars(&token, CREATE_PERSON, new_person("31.71.01.1001"))
        .await;
    let id = reply.data()["createPerson"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let events = app.write_events(&reply.request_id).await;
    assert_eq!(events.len(), 1, "one event for the one write");
    let written: BTreeSet<String> =
        serde_json::from_str(events[0].fields_written.as_deref().expect("fields")).expect("json");
    let expected: BTreeSet<String> = [
        "fullName",
        "sex",
        "dateOfBirth",
        "nationality",
        "residenceRegion",
    ]
    .iter()
    .map(|f| format!("Person.{f}"))
    .collect();
    assert_eq!(written, expected);
    assert_eq!(events[0].person_ids, json!([id]).to_string());
    assert_eq!(events[0].subject.as_deref(), Some("test-immigration"));
    // The answer has its own event besides.
    assert_eq!(app.audit_event(&reply.request_id).await.outcome, "ok");

    // When the write's event cannot be stored, the write is rolled back: 503, nothing written.
    poison_write_events(&app).await;
    let before = person::Entity::find().count(&app.db).await.expect("count");
    let refused = app
        .query_vars(&token, CREATE_PERSON, new_person("31.71.01.1001"))
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (503, Some("AUDIT_UNAVAILABLE")),
        "{}",
        refused.body
    );
    assert_eq!(
        person::Entity::find().count(&app.db).await.expect("count"),
        before,
        "the write without its event was rolled back"
    );
    assert!(matches!(
        gateway::audit::verify(&app.db).await.expect("verify"),
        gateway::audit::Verification::Intact { .. }
    ));
}

on_both_databases!(
    a_write_and_its_audit_event_commit_together,
    mutation_inputs_are_exactly_the_writable_fields,
    a_field_that_is_not_writable_is_refused_like_an_unknown_one,
    writes_stay_inside_the_writers_rows,
    incidents_and_shelters_are_written_within_jurisdiction_and_ownership,
);
