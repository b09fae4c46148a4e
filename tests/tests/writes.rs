//! Writes (the W cells): the mutation inputs of every role are exactly its policy's writable
//! fields, and every write stays inside the writer's row filter.

use std::collections::BTreeSet;

use entities::{person, shelter};
use pora_tests::DOMAIN_ROLES as ROLES;
use pora_tests::{TestApp, on_both_databases};
use schema::catalogue::{CATALOGUE, FieldKind};
use schema::policy::Policy;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Statement};
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
            // Links the role writes: added and removed by their own mutations.
            for link in view.map(|v| v.links.clone()).unwrap_or_default() {
                let mut chars = link.name.chars();
                let field = chars.next().unwrap().to_ascii_uppercase().to_string() + chars.as_str();
                expected_mutations.insert(format!("add{}{field}", def.name));
                expected_mutations.insert(format!("remove{}{field}", def.name));
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
            "completeActionItem",
            "registerPerson",
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

async fn links_are_written_between_rows_the_writer_may_see(app: TestApp) {
    let police = app.token("police");
    let create = "mutation($input: IncidentCreateInput!) { createIncident(input: $input) { id } }";
    let created = app
        .query_vars(&police, create, json!({ "input": { "kind": "GATHERING", "occurredAt": "2026-11-20T08:00:00Z", "region": "31.71.04.1001", "headcount": 3 } }))
        .await;
    let incident = created.data()["createIncident"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A person police may see (involved in an incident of its jurisdiction).
    let seen = app
        .query(
            &police,
            "{ incidents(first: 50) { nodes { involvedPersons { id } } } }",
        )
        .await;
    let person = seen.data()["incidents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["involvedPersons"].as_array().unwrap().clone())
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .next()
        .expect("a person police sees");
    let add = |ids: Value| {
        format!(
            "mutation {{ addIncidentInvolvedPersons(id: \"{incident}\", personIds: {ids}) {{ id involvedPersons {{ id }} }} }}"
        )
    };
    let reply = app.query(&police, &add(json!([person, person]))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let involved = &reply.data()["addIncidentInvolvedPersons"]["involvedPersons"];
    assert_eq!(involved, &json!([{ "id": person }]), "added once");
    let events = app.write_events(&reply.request_id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].fields_written.as_deref(),
        Some("[\"Incident.involvedPersons\"]")
    );
    assert_eq!(events[0].person_ids, json!([person]).to_string());
    // A person police may not see answers like one that does not exist.
    let hidden: String = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT p.id FROM persons p WHERE NOT EXISTS (SELECT 1 FROM incident_persons i WHERE i.person_id = p.id) \
             AND NOT EXISTS (SELECT 1 FROM referrals f WHERE f.person_id = p.id) ORDER BY p.id LIMIT 1"
                .to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by("id")
        .unwrap();
    let refused = app.query(&police, &add(json!([hidden]))).await;
    let unknown = app
        .query(
            &police,
            &add(json!(["00000000-0000-0000-0000-000000000000"])),
        )
        .await;
    assert_eq!(refused.code(), Some("BAD_USER_INPUT"), "{}", refused.body);
    assert_eq!(
        refused.message().replace(&hidden, "X"),
        unknown
            .message()
            .replace("00000000-0000-0000-0000-000000000000", "X")
    );
    // An incident outside police's jurisdiction answers like one that does not exist.
    let outside: String = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id FROM incidents WHERE region NOT LIKE '31.71%' ORDER BY id LIMIT 1"
                .to_owned(),
        ))
        .await
        .unwrap()
        .map(|r| r.try_get_by("id").unwrap())
        .unwrap_or_else(|| "11111111-1111-1111-1111-111111111111".to_owned());
    let reply = app
        .query(&police, &format!("mutation {{ addIncidentInvolvedPersons(id: \"{outside}\", personIds: [\"{person}\"]) {{ id }} }}"))
        .await;
    assert_eq!(reply.code(), Some("NOT_FOUND"), "{}", reply.body);
    let too_many: Vec<String> = (0..101).map(|i| format!("id-{i}")).collect();
    let reply = app.query(&police, &add(json!(too_many))).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    // Removed again; a role without the W cell has no such mutation.
    let reply = app
        .query(&police, &format!("mutation {{ removeIncidentInvolvedPersons(id: \"{incident}\", personIds: [\"{person}\"]) {{ involvedPersons {{ id }} }} }}"))
        .await;
    assert_eq!(
        reply.data()["removeIncidentInvolvedPersons"]["involvedPersons"],
        json!([])
    );
    let reply = app
        .query(&app.token("unhcr"), &format!("mutation {{ addIncidentInvolvedPersons(id: \"{incident}\", personIds: [\"{person}\"]) {{ id }} }}"))
        .await;
    assert_eq!(
        reply.status, 400,
        "unhcr reads involvedPersons, but may not write them"
    );
    // Meeting participants, by the municipality.
    let municipality = app.token("municipality");
    let meeting = app
        .query(
            &municipality,
            "{ meetings(first: 1) { nodes { id participants { id } } } }",
        )
        .await;
    let node = &meeting.data()["meetings"]["nodes"][0];
    let meeting_id = node["id"].as_str().unwrap().to_owned();
    let agencies = app
        .query(&municipality, "{ agencies(first: 50) { nodes { id } } }")
        .await;
    let current: Vec<Value> = node["participants"].as_array().unwrap().clone();
    let newcomer = agencies.data()["agencies"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| !current.contains(a))
        .expect("an agency not yet taking part")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = app
        .query(&municipality, &format!("mutation {{ addMeetingParticipants(id: \"{meeting_id}\", agencyIds: [\"{newcomer}\"]) {{ participants {{ id }} }} }}"))
        .await;
    assert!(
        reply.data()["addMeetingParticipants"]["participants"]
            .as_array()
            .unwrap()
            .contains(&json!({ "id": newcomer })),
        "{}",
        reply.body
    );
}

async fn action_items_are_completed_by_the_agency_assigned(app: TestApp) {
    let municipality = app.token("municipality");
    let iom = app.token("iom");
    let meetings = app
        .query(&municipality, "{ meetings(first: 1) { nodes { id } } }")
        .await;
    let meeting = meetings.data()["meetings"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let agencies = app
        .query(
            &municipality,
            "{ agencies(first: 50) { nodes { id code } } }",
        )
        .await;
    let iom_id = agencies.data()["agencies"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "IOM-JKT")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // IOM sees a meeting's items when it takes part.
    let added = app
        .query(&municipality, &format!("mutation {{ addMeetingParticipants(id: \"{meeting}\", agencyIds: [\"{iom_id}\"]) {{ id }} }}"))
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let created = app
        .query_vars(
            &municipality,
            "mutation($input: ActionItemCreateInput!) { createActionItem(input: $input) { id status } }",
            json!({ "input": { "meetingId": meeting, "agencyId": iom_id, "description": "health screening", "dueOn": "2026-12-15", "status": "OPEN" } }),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let item = created.data()["createActionItem"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let complete = |token: &str, id: &str| {
        let query = format!("mutation {{ completeActionItem(id: \"{id}\") {{ id status }} }}");
        let token = token.to_owned();
        let app = &app;
        async move { app.query(&token, &query).await }
    };
    // Not the assignee: the same answer as an unknown item.
    let by_other = complete(&municipality, &item).await;
    let unknown = complete(&municipality, "00000000-0000-0000-0000-000000000000").await;
    assert_eq!(by_other.code(), Some("FORBIDDEN"), "{}", by_other.body);
    assert_eq!(
        by_other.message().replace(&item, "X"),
        unknown
            .message()
            .replace("00000000-0000-0000-0000-000000000000", "X")
    );
    let done = complete(&iom, &item).await;
    assert_eq!(
        done.data()["completeActionItem"]["status"],
        "DONE",
        "{}",
        done.body
    );
    let events = app.write_events(&done.request_id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].agency.as_deref(), Some("IOM-JKT"));
    let again = complete(&iom, &item).await;
    assert_eq!(again.code(), Some("CONFLICT"), "{}", again.body);
}

async fn unhcr_registers_a_person_in_one_step(app: TestApp) {
    let unhcr = app.token("unhcr");
    let register = "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { id fullName case { id unhcrCaseNumber focalPerson { id } } registration { individualNumber legalStatus } } }";
    let person = json!({ "fullName": "Amina Yusuf", "sex": "FEMALE", "dateOfBirth": "1990-04-02",
        "nationality": "SOM", "residenceRegion": "31.71.03.1001" });
    let registration = json!({ "individualNumber": "JKT-26-900001", "legalStatus": "ASYLUM_SEEKER",
        "fileStatus": "ACTIVE", "solution": "NONE", "documentType": "ASYLUM_SEEKER_CERTIFICATE",
        "documentNumber": "ASC-26-900001", "documentExpiry": "2027-06-30" });
    let reply = app
        .query_vars(
            &unhcr,
            register,
            json!({ "input": { "person": person, "registration": registration,
            "case": { "unhcrCaseNumber": "JKT-26-C90001", "registrationDate": "2026-11-30" } } }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let created = &reply.data()["registerPerson"];
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["fullName"], "Amina Yusuf");
    assert_eq!(created["registration"]["individualNumber"], "JKT-26-900001");
    assert_eq!(created["case"]["unhcrCaseNumber"], "JKT-26-C90001");
    assert_eq!(
        created["case"]["focalPerson"]["id"],
        id.as_str(),
        "the new case's focal person"
    );
    let case_id = created["case"]["id"].as_str().unwrap().to_owned();
    // Person, registration and case: each audited, naming the person.
    let events = app.write_events(&reply.request_id).await;
    assert_eq!(events.len(), 3, "{events:?}");
    for event in &events {
        assert_eq!(event.person_ids, json!([id]).to_string());
    }
    // A second member joins the existing case.
    let mut second = registration.clone();
    second["individualNumber"] = json!("JKT-26-900002");
    let reply = app
        .query_vars(
            &unhcr,
            register,
            json!({ "input": { "person": { "fullName": "Yusuf Ali", "sex": "MALE",
            "dateOfBirth": "2015-01-09", "nationality": "SOM", "residenceRegion": "31.71.03.1001" },
            "registration": second, "caseId": case_id } }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.data()["registerPerson"]["case"]["id"],
        case_id.as_str()
    );
    assert_eq!(
        reply.data()["registerPerson"]["case"]["focalPerson"]["id"],
        id.as_str()
    );
    // Both or neither, an unknown case, a missing required field: refused, nothing written.
    let persons_before = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id FROM persons".to_owned(),
        ))
        .await
        .unwrap()
        .len();
    for (input, code) in [
        (
            json!({ "person": person, "registration": registration, "caseId": case_id,
            "case": { "unhcrCaseNumber": "X", "registrationDate": "2026-11-30" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "person": person, "registration": registration, "caseId": "00000000-0000-0000-0000-000000000000" }),
            "BAD_USER_INPUT",
        ),
    ] {
        let reply = app
            .query_vars(&unhcr, register, json!({ "input": input }))
            .await;
        assert_eq!(reply.code(), Some(code), "{}", reply.body);
    }
    let mut incomplete = registration.clone();
    incomplete
        .as_object_mut()
        .unwrap()
        .remove("individualNumber");
    let reply = app
        .query_vars(
            &unhcr,
            register,
            json!({ "input": { "person": person, "registration": incomplete } }),
        )
        .await;
    assert_eq!(
        reply.status, 400,
        "a required field is missing: {}",
        reply.body
    );
    let persons_after = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id FROM persons".to_owned(),
        ))
        .await
        .unwrap()
        .len();
    assert_eq!(
        persons_before, persons_after,
        "a refused registration writes nothing"
    );
    // No other role may register persons.
    for role in [
        "immigration",
        "iom",
        "police",
        "municipality",
        "kesbangpol",
        "admin",
    ] {
        let reply = app
            .query_vars(
                &app.token(role),
                register,
                json!({ "input": { "person": person, "registration": registration } }),
            )
            .await;
        assert_eq!(reply.status, 400, "{role}: {}", reply.body);
    }
}

on_both_databases!(
    unhcr_registers_a_person_in_one_step,
    action_items_are_completed_by_the_agency_assigned,
    links_are_written_between_rows_the_writer_may_see,
    a_write_and_its_audit_event_commit_together,
    mutation_inputs_are_exactly_the_writable_fields,
    a_field_that_is_not_writable_is_refused_like_an_unknown_one,
    writes_stay_inside_the_writers_rows,
    incidents_and_shelters_are_written_within_jurisdiction_and_ownership,
);
