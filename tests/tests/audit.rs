//! The read audit: every answer has its committed event, with exactly what was returned (no
//! values), events form one verifiable hash chain (also when two gateways share a database),
//! tampering is found, and when the log cannot be written nothing is answered.

use std::collections::BTreeSet;

use entities::audit_event;
use gateway::audit::{Verification, event_hash, verify};
use pora_tests::{TestApp, on_both_databases, spawn_with};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder,
};
use serde_json::Value;

async fn event_of(app: &TestApp, request_id: &str) -> audit_event::Model {
    audit_event::Entity::find()
        .filter(audit_event::Column::RequestId.eq(request_id))
        .one(&app.db)
        .await
        .expect("query")
        .unwrap_or_else(|| panic!("no audit event for request {request_id}"))
}

fn list(json: &str) -> BTreeSet<String> {
    serde_json::from_str::<Vec<String>>(json)
        .expect("json list")
        .into_iter()
        .collect()
}

async fn every_answer_has_an_event_with_what_it_returned(app: TestApp) {
    let reply = app
        .query(&app.token("police"), "{ incidents(first: 50) { nodes { id kind involvedPersons { id initials fullName } } } }")
        .await;
    let data = reply.data();
    let event = event_of(&app, &reply.request_id).await;
    assert_eq!(event.outcome, "ok");
    assert_eq!(event.role.as_deref(), Some("police"));
    assert_eq!(event.agency.as_deref(), Some("POLRES-JKP"));
    assert!(event.subject.is_some() && event.token_id.is_some());

    // The coordinates that came back with a value, and the persons whose data came back.
    let mut expected_fields: BTreeSet<String> = [
        "Query.incidents",
        "IncidentConnection.nodes",
        "Incident.id",
        "Incident.kind",
        "Incident.involvedPersons",
    ]
    .map(String::from)
    .into();
    let mut persons = BTreeSet::new();
    let mut rows = BTreeSet::new();
    for incident in data["incidents"]["nodes"].as_array().expect("nodes") {
        rows.insert(incident["id"].as_str().expect("id").to_owned());
        for p in incident["involvedPersons"].as_array().expect("persons") {
            persons.insert(p["id"].as_str().expect("id").to_owned());
            rows.insert(p["id"].as_str().expect("id").to_owned());
            expected_fields.extend(["Person.id".to_owned(), "Person.initials".to_owned()]);
            if !p["fullName"].is_null() {
                expected_fields.insert("Person.fullName".to_owned());
            }
        }
    }
    assert!(!persons.is_empty(), "the demo incidents involve persons");
    assert_eq!(list(&event.fields_read), expected_fields);
    assert_eq!(list(&event.person_ids), persons);
    assert_eq!(event.row_count as usize, rows.len());
    // No value of the answer is in the event: only coordinates, ids and counts.
    let stored = serde_json::to_string(&serde_json::json!([event.fields_read, event.person_ids]))
        .expect("json");
    for p in data["incidents"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .flat_map(|i| i["involvedPersons"].as_array().expect("persons").clone())
    {
        for key in ["initials", "fullName"] {
            if let Value::String(v) = &p[key] {
                assert!(!stored.contains(v.as_str()), "the event holds a value: {v}");
            }
        }
    }
}

async fn each_outcome_is_recorded(app: TestApp) {
    let denied = app
        .post_raw(
            Some("garbage"),
            "application/json",
            br#"{"query":"{ viewer { role } }"}"#.to_vec(),
        )
        .await;
    // A refusal before execution is counted into an aggregated event, found by the first
    // refused request's id.
    let event = app.refusal_event(&denied.request_id).await;
    assert_eq!(
        (
            event.outcome.as_str(),
            event.subject.as_deref(),
            event.reason.as_deref()
        ),
        ("denied", None, Some("TOKEN_INVALID"))
    );
    assert!(event.refusals.is_some_and(|n| n >= 1));

    let token = app.token("immigration");
    let invalid = app
        .query(&token, "{ persons { nodes { religion } } }")
        .await;
    let event = event_of(&app, &invalid.request_id).await;
    assert_eq!(event.outcome, "error");
    assert_eq!(event.subject.as_deref(), Some("test-immigration"));
    assert_eq!(list(&event.fields_read), BTreeSet::new());

    let partial = app
        .query(
            &token,
            "{ viewer { role } persons(first: 100000) { totalCount } }",
        )
        .await;
    assert_eq!(partial.status, 200);
    let event = event_of(&app, &partial.request_id).await;
    assert_eq!(event.outcome, "partial");
    assert_eq!(
        list(&event.fields_read),
        ["Query.viewer", "Viewer.role"].map(String::from).into()
    );
    assert_eq!(event.operation_name, None);
    assert_eq!(event.query_hash.as_deref().map(str::len), Some(64));
}

async fn tampering_is_found(app: TestApp) {
    let token = app.token("unhcr");
    for i in 0..6 {
        app.query(
            &token,
            &format!("{{ persons(first: {}) {{ nodes {{ id }} }} }}", i + 1),
        )
        .await;
    }
    let events = audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Seq)
        .all(&app.db)
        .await
        .expect("events");
    let n = events.len() as u64;
    assert_eq!(
        verify(&app.db).await.expect("verify"),
        Verification::Intact { events: n }
    );

    // An altered event.
    let victim = events[2].clone();
    let mut altered = victim.clone().into_active_model();
    altered.outcome = ActiveValue::Set("denied".into());
    altered.update(&app.db).await.expect("alter");
    assert!(
        matches!(verify(&app.db).await.expect("verify"), Verification::Broken { seq, .. } if seq == victim.seq)
    );
    victim
        .clone()
        .into_active_model()
        .reset_all()
        .update(&app.db)
        .await
        .expect("restore");
    assert_eq!(
        verify(&app.db).await.expect("verify"),
        Verification::Intact { events: n }
    );

    // A deleted event: the one after it no longer links.
    audit_event::Entity::delete_by_id(events[3].seq)
        .exec(&app.db)
        .await
        .expect("delete");
    assert!(
        matches!(verify(&app.db).await.expect("verify"), Verification::Broken { seq, .. } if seq == events[4].seq)
    );

    // A forged event put in its place, with a correctly computed hash of its own: the chain
    // still breaks at the next event, which links to the original.
    let mut forged = events[3].clone();
    forged.outcome = "ok".into();
    forged.person_ids = "[]".into();
    forged.hash = event_hash(&forged);
    let mut insert = forged.into_active_model();
    insert.seq = ActiveValue::Set(events[3].seq);
    audit_event::Entity::insert(insert)
        .exec_without_returning(&app.db)
        .await
        .expect("insert");
    assert!(
        matches!(verify(&app.db).await.expect("verify"), Verification::Broken { seq, .. } if seq == events[4].seq)
    );
}

async fn two_gateways_on_one_database_keep_one_chain(app: TestApp) {
    let url = app.database_url.clone();
    let dir = app.data_dir.clone();
    let second = spawn_with(app.backend, |c| {
        c.database_url = Some(url);
        c.data_dir = dir;
        c.demo_data = Some(false);
    })
    .await;
    let token = app.token("iom");
    let mut requests = Vec::new();
    for i in 0..40 {
        let target = if i % 2 == 0 { &app } else { &second };
        requests.push(target.query(&token, "{ persons(first: 3) { nodes { id } } }"));
    }
    let replies = futures::future::join_all(requests).await;
    for r in &replies {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let count = audit_event::Entity::find()
        .all(&app.db)
        .await
        .expect("events")
        .len() as u64;
    assert!(count >= 40);
    assert_eq!(
        verify(&app.db).await.expect("verify"),
        Verification::Intact { events: count }
    );
    for r in &replies {
        event_of(&app, &r.request_id).await;
    }
}

async fn no_answer_without_its_record(app: TestApp) {
    let token = app.token("immigration");
    app.db
        .execute_unprepared("ALTER TABLE audit_events RENAME TO audit_events_away")
        .await
        .expect("rename");
    let reply = app
        .query(&token, "{ persons(first: 2) { nodes { fullName } } }")
        .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.code(), Some("AUDIT_UNAVAILABLE"));
    assert!(
        reply.body.get("data").is_none(),
        "no data leaves without its audit record"
    );
    app.db
        .execute_unprepared("ALTER TABLE audit_events_away RENAME TO audit_events")
        .await
        .expect("rename back");
    let reply = app
        .query(&token, "{ persons(first: 2) { nodes { fullName } } }")
        .await;
    assert_eq!(reply.status, 200, "recovers by itself: {}", reply.body);
    event_of(&app, &reply.request_id).await;
}

async fn the_data_subject_report_lists_who_read_what(app: TestApp) {
    // Police read the persons involved in incidents; immigration reads one of them by id.
    let police = app
        .query(
            &app.token("police"),
            "{ incidents(first: 50) { nodes { involvedPersons { id initials } } } }",
        )
        .await;
    let person = police.data()["incidents"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .flat_map(|i| i["involvedPersons"].as_array().expect("persons").clone())
        .next()
        .expect("an involved person")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.query(
        &app.token("immigration"),
        &format!("{{ person(id: \"{person}\") {{ fullName registration {{ legalStatus }} }} }}"),
    )
    .await
    .data();

    let query = format!(
        "{{ personAccessReport(personId: \"{person}\") {{ agency role fields reads firstAt lastAt }} }}"
    );
    for reader in ["unhcr", "admin"] {
        let reply = app.query(&app.token(reader), &query).await;
        let report = reply.data()["personAccessReport"]
            .as_array()
            .expect("report")
            .clone();
        let of = |agency: &str| {
            report
                .iter()
                .find(|a| a["agency"] == agency)
                .cloned()
                .unwrap_or_else(|| panic!("{reader}: no entry for {agency}: {report:?}"))
        };
        let police = of("POLRES-JKP");
        assert_eq!(police["role"], "police");
        let fields: BTreeSet<String> = police["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f.as_str().expect("field").to_owned())
            .collect();
        assert_eq!(
            fields,
            ["Person.id", "Person.initials"].map(String::from).into(),
            "{reader}"
        );
        let immigration = of("KANIM-JKP");
        let fields: BTreeSet<String> = immigration["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f.as_str().expect("field").to_owned())
            .collect();
        assert!(
            fields.contains("Person.fullName") && fields.contains("UnhcrRegistration.legalStatus"),
            "{fields:?}"
        );
        assert!(immigration["reads"].as_i64().expect("reads") >= 1);
    }
    // UNHCR reports only on persons it may see.
    let missing = app
        .query(
            &app.token("unhcr"),
            "{ personAccessReport(personId: \"nobody\") { agency } }",
        )
        .await;
    assert_eq!(missing.code(), Some("NOT_FOUND"));
}

async fn each_agency_reads_only_its_own_events(app: TestApp) {
    for role in ["immigration", "police", "iom", "kesbangpol"] {
        app.query(&app.token(role), "{ viewer { role } }")
            .await
            .data();
    }
    let all = "{ auditEvents(first: 500, orderBy: [{ field: SEQ, direction: DESC }]) { totalCount nodes { seq agency role outcome fieldsRead } } }";
    let admin = app.query(&app.token("admin"), all).await;
    let agencies: BTreeSet<String> = admin.data()["auditEvents"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|e| e["agency"].as_str().map(str::to_owned))
        .collect();
    for agency in ["KANIM-JKP", "POLRES-JKP", "IOM-JKT", "KESBANGPOL-JKP"] {
        assert!(
            agencies.contains(agency),
            "admin sees {agency}'s events: {agencies:?}"
        );
    }
    for role in ["immigration", "police", "iom", "kesbangpol"] {
        let (agency, _) = pora_tests::demo_agency(role);
        let reply = app.query(&app.token(role), all).await;
        let events = reply.data()["auditEvents"]["nodes"]
            .as_array()
            .expect("nodes")
            .clone();
        assert!(!events.is_empty(), "{role} sees its own events");
        for e in &events {
            assert_eq!(
                e["agency"], agency,
                "{role} must see only {agency}'s events"
            );
        }
        // Filters on the log work like on any other list.
        let q = format!(
            "{{ auditEvents(where: {{ outcome: {{ eq: \"ok\" }}, role: {{ eq: \"{role}\" }} }}) {{ totalCount }} }}"
        );
        let filtered = app.query(&app.token(role), &q).await;
        assert!(
            filtered.data()["auditEvents"]["totalCount"]
                .as_u64()
                .expect("count")
                >= 1
        );
    }
}

on_both_databases!(
    each_agency_reads_only_its_own_events,
    the_data_subject_report_lists_who_read_what,
    every_answer_has_an_event_with_what_it_returned,
    each_outcome_is_recorded,
    tampering_is_found,
    two_gateways_on_one_database_keep_one_chain,
    no_answer_without_its_record,
);
