//! The referral workflow as agencies use it: UNHCR refers a person to the municipality; the
//! person stays hidden until the municipality accepts, is visible from the next request (on two
//! gateway processes sharing the database), and hidden again after close or expiry (the test
//! moves the expiry into the past: no sleep). Every refusal is typed and tells nothing about
//! persons the caller cannot see; every transition is audited without its reason's text; a
//! referral opens that one person and nothing else.

use pora_tests::{Config, TestApp, on_both_databases, spawn_with};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: NewReferralInput!) { createReferral(input: $input) { id status purpose expiresAt } }";

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

fn referral(person: &str, to: &str, purpose: &str, days: i64) -> Value {
    json!({ "input": {
        "personId": person, "toAgency": to, "purpose": purpose,
        "consentGiven": true, "consentDate": "2026-11-01", "expiresAt": in_days(days),
        "note": "family of five, no shelter"
    }})
}

async fn raw_ids(app: &TestApp, sql: &str) -> Vec<String> {
    app.db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect("raw")
        .iter()
        .map(|r| r.try_get_by::<String, _>("id").expect("id"))
        .collect()
}

/// Registered persons (UNHCR sees them) with no referral to the municipality yet.
async fn unreferred_registered(app: &TestApp) -> Vec<String> {
    raw_ids(
        app,
        "SELECT p.id FROM persons p WHERE EXISTS (SELECT 1 FROM unhcr_registrations r WHERE r.person_id = p.id) \
         AND NOT EXISTS (SELECT 1 FROM referrals f JOIN agencies a ON a.id = f.to_agency_id WHERE f.person_id = p.id AND a.code = 'PEMKOT-JKP') \
         ORDER BY p.id",
    )
    .await
}

/// The persons among `ids` that `token` may read, asked in batches of aliased lookups.
async fn visible(app: &TestApp, token: &str, ids: &[String]) -> Vec<String> {
    let mut seen = Vec::new();
    for chunk in ids.chunks(80) {
        let query = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| format!("p{i}: person(id: \"{id}\") {{ id }}"))
            .collect::<Vec<_>>()
            .join(" ");
        let reply = app.query(token, &format!("{{ {query} }}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        for (i, id) in chunk.iter().enumerate() {
            if reply.data()[format!("p{i}")]["id"] == id.as_str() {
                seen.push(id.clone());
            }
        }
    }
    seen
}

async fn full_name(app: &TestApp, token: &str, person: &str) -> Value {
    let reply = app
        .query(
            token,
            &format!(r#"{{ person(id: "{person}") {{ id fullName }} }}"#),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.data()["person"]["fullName"].clone()
}

/// Moves a referral's expiry into the past: the test's clock.
async fn expire(app: &TestApp, id: &str) {
    let backend = app.db.get_database_backend();
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "UPDATE referrals SET expires_at = $1 WHERE id = $2",
        _ => "UPDATE referrals SET expires_at = ? WHERE id = ?",
    };
    app.db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [past.into(), id.to_owned().into()],
        ))
        .await
        .expect("expire");
}

async fn transition(app: &TestApp, token: &str, mutation: &str) -> pora_tests::Reply {
    app.query(
        token,
        &format!("mutation {{ {mutation} {{ id status expiresAt }} }}"),
    )
    .await
}

async fn access_follows_the_referral(app: TestApp) {
    let unhcr = app.token("unhcr");
    let municipality = app.token("municipality");
    // A second gateway process on the same database and signing key.
    let (url, dir) = (app.database_url.clone(), app.data_dir.clone());
    let other = spawn_with(app.backend, move |c: &mut Config| {
        c.database_url = Some(url);
        c.data_dir = dir;
        c.demo_data = Some(false);
    })
    .await;
    let all = raw_ids(&app, "SELECT id FROM persons ORDER BY id").await;
    let before = visible(&app, &municipality, &all).await;
    let person = unreferred_registered(&app).await[0].clone();
    assert!(!before.contains(&person));

    let created = app
        .query_vars(
            &unhcr,
            CREATE,
            referral(&person, "PEMKOT-JKP", "SHELTER", 30),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.data()["createReferral"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created.data()["createReferral"]["status"], "OPEN");
    assert_eq!(
        full_name(&app, &municipality, &person).await,
        Value::Null,
        "hidden while OPEN"
    );

    let accepted = transition(
        &app,
        &municipality,
        &format!(r#"acceptReferral(id: "{id}")"#),
    )
    .await;
    assert_eq!(
        accepted.data()["acceptReferral"]["status"],
        "ACCEPTED",
        "{}",
        accepted.body
    );
    for gateway in [&app, &other] {
        assert!(
            full_name(gateway, &municipality, &person).await.is_string(),
            "visible from the next request, on every process"
        );
    }
    // Exactly that one person more, nothing else.
    let after = visible(&app, &municipality, &all).await;
    let mut expected = before.clone();
    expected.push(person.clone());
    expected.sort();
    let mut after_sorted = after.clone();
    after_sorted.sort();
    assert_eq!(after_sorted, expected);
    // The parties list it; another agency sees nothing of it.
    let listed = |token: &str, direction: &str| {
        let query = format!(
            "{{ referrals(first: 500, where: {{ direction: {direction}, status: {{ eq: ACCEPTED }} }}) {{ nodes {{ id }} }} }}"
        );
        let token = token.to_owned();
        let app = &app;
        async move {
            let reply = app.query(&token, &query).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.data()["referrals"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    for (token, direction, opposite) in [
        (&unhcr, "OUTGOING", "INCOMING"),
        (&municipality, "INCOMING", "OUTGOING"),
    ] {
        assert!(listed(token, direction).await.contains(&id), "{direction}");
        assert!(!listed(token, opposite).await.contains(&id), "{opposite}");
        let reply = app
            .query(
                token,
                &format!(r#"{{ referral(id: "{id}") {{ id status }} }}"#),
            )
            .await;
        assert_eq!(reply.data()["referral"]["id"], id.as_str(), "{direction}");
    }
    let police = app.token("police");
    let reply = app
        .query(&police, &format!(r#"{{ referral(id: "{id}") {{ id }} }}"#))
        .await;
    assert_eq!(reply.data()["referral"], Value::Null);

    let closed = transition(
        &app,
        &unhcr,
        &format!(r#"closeReferral(id: "{id}", reason: "moved to Bogor")"#),
    )
    .await;
    assert_eq!(
        closed.data()["closeReferral"]["status"],
        "CLOSED",
        "{}",
        closed.body
    );
    for gateway in [&app, &other] {
        assert_eq!(
            full_name(gateway, &municipality, &person).await,
            Value::Null,
            "hidden again from the next request, on every process"
        );
    }
    assert_eq!(visible(&app, &municipality, &all).await.len(), before.len());

    // Expiry: accepted, then its expiry moved into the past.
    let created = app
        .query_vars(
            &unhcr,
            CREATE,
            referral(&person, "PEMKOT-JKP", "HEALTH", 30),
        )
        .await;
    let second = created.data()["createReferral"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let accepted = transition(
        &app,
        &municipality,
        &format!(r#"acceptReferral(id: "{second}")"#),
    )
    .await;
    assert_eq!(accepted.data()["acceptReferral"]["status"], "ACCEPTED");
    assert!(full_name(&other, &municipality, &person).await.is_string());
    expire(&app, &second).await;
    for gateway in [&app, &other] {
        assert_eq!(
            full_name(gateway, &municipality, &person).await,
            Value::Null,
            "expired"
        );
    }
    // UNHCR's accountability report shows the referrals that opened the person to the
    // municipality, next to the municipality's reads.
    let report = app
        .query(
            &unhcr,
            &format!(r#"{{ personAccessReport(personId: "{person}") {{ agency reads referrals {{ id purpose status reads }} }} }}"#),
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    let entry = report.data()["personAccessReport"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency"] == "PEMKOT-JKP")
        .expect("the municipality's reads are reported")
        .clone();
    assert!(entry["reads"].as_i64().unwrap() >= 2, "{entry}");
    let referrals = entry["referrals"].as_array().unwrap();
    let first = referrals
        .iter()
        .find(|r| r["id"] == id.as_str())
        .expect("the referral that opened the person");
    assert_eq!(first["purpose"], "SHELTER");
    assert_eq!(first["status"], "CLOSED");
    // Read on both processes (and in the enumeration) between acceptance and close.
    assert!(first["reads"].as_i64().unwrap() >= 2, "{entry}");
    assert!(
        first["reads"].as_i64().unwrap() <= entry["reads"].as_i64().unwrap(),
        "{entry}"
    );
    assert!(
        referrals.iter().any(|r| r["id"] == second.as_str()),
        "{entry}"
    );
    // An expired referral cannot be extended back to life by the receiver, nor accepted again.
    let again = transition(
        &app,
        &municipality,
        &format!(r#"acceptReferral(id: "{second}")"#),
    )
    .await;
    assert_eq!(again.code(), Some("CONFLICT"), "{}", again.body);
}

async fn every_transition_is_audited_without_its_reason(app: TestApp) {
    let unhcr = app.token("unhcr");
    let municipality = app.token("municipality");
    let person = unreferred_registered(&app).await[1].clone();
    let created = app
        .query_vars(
            &unhcr,
            CREATE,
            referral(&person, "PEMKOT-JKP", "SHELTER", 30),
        )
        .await;
    let id = created.data()["createReferral"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let events = app.write_events(&created.request_id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].agency.as_deref(), Some("UNHCR-JKT"));
    assert_eq!(events[0].person_ids, json!([person]).to_string());
    assert!(
        events[0]
            .fields_written
            .as_deref()
            .unwrap()
            .contains("Referral.status")
    );
    let declined = transition(
        &app,
        &municipality,
        &format!(r#"declineReferral(id: "{id}", reason: "REASON-TEXT-XYZ no capacity")"#),
    )
    .await;
    assert_eq!(
        declined.data()["declineReferral"]["status"],
        "DECLINED",
        "{}",
        declined.body
    );
    let events = app.write_events(&declined.request_id).await;
    assert_eq!(events.len(), 1, "the decline has its event");
    assert_eq!(events[0].agency.as_deref(), Some("PEMKOT-JKP"));
    // The reason is stored with the referral, never in the audit chain.
    let stored = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT reason FROM referrals WHERE id = '{id}'"),
        ))
        .await
        .expect("row")
        .expect("referral");
    assert!(
        stored
            .try_get_by::<String, _>("reason")
            .unwrap()
            .contains("REASON-TEXT-XYZ")
    );
    let leaked = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT seq FROM audit_events WHERE fields_read LIKE '%REASON-TEXT%' OR fields_written LIKE '%REASON-TEXT%' OR operation_name LIKE '%REASON-TEXT%'".to_owned(),
        ))
        .await
        .expect("audit");
    assert!(leaked.is_empty(), "a reason's text reached the audit log");
    assert!(matches!(
        gateway::audit::verify(&app.db).await.expect("verify"),
        gateway::audit::Verification::Intact { .. }
    ));
}

async fn bad_referrals_are_refused_and_tell_nothing(app: TestApp) {
    let unhcr = app.token("unhcr");
    let municipality = app.token("municipality");
    let police = app.token("police");
    let person = unreferred_registered(&app).await[2].clone();
    let code_and_message =
        |reply: &pora_tests::Reply| (reply.code().map(str::to_owned), reply.message().to_owned());
    // A person the sender cannot see answers exactly like one that does not exist.
    let hidden_from_police = raw_ids(
        &app,
        "SELECT p.id FROM persons p WHERE NOT EXISTS (SELECT 1 FROM incident_persons i WHERE i.person_id = p.id) \
         AND NOT EXISTS (SELECT 1 FROM referrals f JOIN agencies a ON a.id = f.to_agency_id WHERE f.person_id = p.id AND a.code = 'POLRES-JKP') ORDER BY p.id",
    )
    .await[0]
        .clone();
    let hidden = app
        .query_vars(
            &police,
            CREATE,
            referral(&hidden_from_police, "IOM-JKT", "HEALTH", 10),
        )
        .await;
    let missing = app
        .query_vars(
            &police,
            CREATE,
            referral(
                "00000000-0000-0000-0000-000000000000",
                "IOM-JKT",
                "HEALTH",
                10,
            ),
        )
        .await;
    assert_eq!(hidden.code(), Some("FORBIDDEN"), "{}", hidden.body);
    let (code, message) = code_and_message(&hidden);
    let (code2, message2) = code_and_message(&missing);
    assert_eq!(code, code2);
    assert_eq!(
        message.replace(&hidden_from_police, "X"),
        message2.replace("00000000-0000-0000-0000-000000000000", "X"),
        "the same answer for hidden and unknown"
    );
    for (variables, why) in [
        (
            referral(&person, "NOPE-XX", "SHELTER", 10),
            "an unknown agency",
        ),
        (
            referral(&person, "UNHCR-JKT", "CHILD_PROTECTION", 10),
            "itself",
        ),
        (
            referral(&person, "POLRES-JKP", "SHELTER", 10),
            "a kind that may not receive the purpose",
        ),
        (
            referral(&person, "PEMKOT-JKP", "SHELTER", -1),
            "an expiry in the past",
        ),
        (
            referral(&person, "PEMKOT-JKP", "SHELTER", 400),
            "an expiry past the cap",
        ),
    ] {
        let reply = app.query_vars(&unhcr, CREATE, variables).await;
        assert_eq!(
            reply.code(),
            Some("BAD_USER_INPUT"),
            "{why}: {}",
            reply.body
        );
    }
    let mut no_consent = referral(&person, "PEMKOT-JKP", "SHELTER", 10);
    no_consent["input"]["consentGiven"] = json!(false);
    let reply = app.query_vars(&unhcr, CREATE, no_consent).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
    let mut no_date = referral(&person, "PEMKOT-JKP", "CHILD_PROTECTION", 10);
    no_date["input"]["consentDate"] = Value::Null;
    let reply = app.query_vars(&unhcr, CREATE, no_date).await;
    assert_eq!(
        reply.code(),
        Some("BAD_USER_INPUT"),
        "caregiver consent date: {}",
        reply.body
    );

    let created = app
        .query_vars(
            &unhcr,
            CREATE,
            referral(&person, "PEMKOT-JKP", "SHELTER", 10),
        )
        .await;
    let id = created.data()["createReferral"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A third agency: as if it did not exist.
    let third = transition(&app, &police, &format!(r#"acceptReferral(id: "{id}")"#)).await;
    let unknown = transition(
        &app,
        &police,
        r#"acceptReferral(id: "00000000-0000-0000-0000-000000000000")"#,
    )
    .await;
    assert_eq!(third.code(), Some("FORBIDDEN"));
    assert_eq!(
        third.message().replace(&id, "X"),
        unknown
            .message()
            .replace("00000000-0000-0000-0000-000000000000", "X")
    );
    // The wrong party, and transitions out of order.
    let by_sender = transition(&app, &unhcr, &format!(r#"acceptReferral(id: "{id}")"#)).await;
    assert_eq!(by_sender.code(), Some("FORBIDDEN"), "{}", by_sender.body);
    let extend_by_receiver = transition(
        &app,
        &municipality,
        &format!(
            r#"extendReferral(id: "{id}", expiresAt: "{}")"#,
            in_days(20)
        ),
    )
    .await;
    assert_eq!(extend_by_receiver.code(), Some("FORBIDDEN"));
    let too_long = transition(
        &app,
        &unhcr,
        &format!(
            r#"extendReferral(id: "{id}", expiresAt: "{}")"#,
            in_days(200)
        ),
    )
    .await;
    assert_eq!(too_long.code(), Some("BAD_USER_INPUT"), "{}", too_long.body);
    let extended = transition(
        &app,
        &unhcr,
        &format!(
            r#"extendReferral(id: "{id}", expiresAt: "{}")"#,
            in_days(60)
        ),
    )
    .await;
    assert_eq!(
        extended.data()["extendReferral"]["status"],
        "OPEN",
        "{}",
        extended.body
    );
    let accepted = transition(
        &app,
        &municipality,
        &format!(r#"acceptReferral(id: "{id}")"#),
    )
    .await;
    assert_eq!(accepted.data()["acceptReferral"]["status"], "ACCEPTED");
    let twice = transition(
        &app,
        &municipality,
        &format!(r#"acceptReferral(id: "{id}")"#),
    )
    .await;
    assert_eq!(twice.code(), Some("CONFLICT"), "{}", twice.body);
    let decline_late = transition(
        &app,
        &municipality,
        &format!(r#"declineReferral(id: "{id}", reason: "x")"#),
    )
    .await;
    assert_eq!(decline_late.code(), Some("CONFLICT"));
    let closed = transition(
        &app,
        &municipality,
        &format!(r#"closeReferral(id: "{id}", reason: "done")"#),
    )
    .await;
    assert_eq!(closed.data()["closeReferral"]["status"], "CLOSED");
    let reopen = transition(
        &app,
        &municipality,
        &format!(r#"acceptReferral(id: "{id}")"#),
    )
    .await;
    assert_eq!(reopen.code(), Some("CONFLICT"));
    // Kesbangpol and admin cannot refer at all: the operation is not in their schemas.
    for role in ["kesbangpol", "admin"] {
        let reply = app
            .query_vars(
                &app.token(role),
                CREATE,
                referral(&person, "PEMKOT-JKP", "SHELTER", 10),
            )
            .await;
        assert_eq!(reply.status, 400, "{role}: {}", reply.body);
    }
}

/// For every receiving role: an accepted referral opens exactly its one person, closing it
/// closes exactly that, and the parties read the note and the reason.
async fn a_referral_opens_one_person_for_every_receiver(app: TestApp) {
    let unhcr = app.token("unhcr");
    let all = raw_ids(&app, "SELECT id FROM persons ORDER BY id").await;
    let registered = raw_ids(
        &app,
        "SELECT p.id FROM persons p WHERE EXISTS (SELECT 1 FROM unhcr_registrations r WHERE r.person_id = p.id) ORDER BY p.id",
    )
    .await;
    // A second gateway process on the same database and signing key.
    let (url, dir) = (app.database_url.clone(), app.data_dir.clone());
    let other = spawn_with(app.backend, move |c: &mut Config| {
        c.database_url = Some(url);
        c.data_dir = dir;
        c.demo_data = Some(false);
    })
    .await;
    let one = |person: &str| vec![person.to_owned()];
    // Every purpose, to a receiver it allows (policy.toml).
    for (role, agency, purpose) in [
        ("municipality", "PEMKOT-JKP", "CIVIL_REGISTRATION"),
        ("municipality", "PEMKOT-JKP", "SHELTER"),
        ("iom", "IOM-JKT", "HEALTH"),
        ("iom", "IOM-JKT", "CHILD_PROTECTION"),
        ("police", "POLRES-JKP", "DOCUMENT_VERIFICATION"),
        ("police", "POLRES-JKP", "LOSS_REPORT"),
        ("police", "POLRES-JKP", "PUBLIC_ORDER"),
    ] {
        let receiver = app.token(role);
        let before = visible(&app, &receiver, &all).await;
        let person = registered
            .iter()
            .rev()
            .find(|p| !before.contains(p))
            .unwrap_or_else(|| panic!("{role}: a registered person it cannot see"))
            .clone();
        let created = app
            .query_vars(&unhcr, CREATE, referral(&person, agency, purpose, 20))
            .await;
        assert_eq!(created.status, 200, "{role}: {}", created.body);
        let id = created.data()["createReferral"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let note = app
            .query(
                &receiver,
                &format!(r#"{{ referral(id: "{id}") {{ note }} }}"#),
            )
            .await;
        assert_eq!(
            note.data()["referral"]["note"],
            "family of five, no shelter",
            "{role}"
        );
        for gateway in [&app, &other] {
            assert!(
                visible(gateway, &receiver, &one(&person)).await.is_empty(),
                "{purpose}: hidden while OPEN"
            );
        }
        let accepted = transition(&app, &receiver, &format!(r#"acceptReferral(id: "{id}")"#)).await;
        assert_eq!(
            accepted.data()["acceptReferral"]["status"],
            "ACCEPTED",
            "{role}: {}",
            accepted.body
        );
        let mut after = visible(&app, &receiver, &all).await;
        after.sort();
        let mut expected = before.clone();
        expected.push(person.clone());
        expected.sort();
        assert_eq!(
            after, expected,
            "{role}: the referral opens exactly its person"
        );
        assert_eq!(
            visible(&other, &receiver, &one(&person)).await,
            one(&person),
            "{purpose}: on the other process too"
        );
        let closed = transition(
            &app,
            &receiver,
            &format!(r#"closeReferral(id: "{id}", reason: "done here")"#),
        )
        .await;
        assert_eq!(closed.data()["closeReferral"]["status"], "CLOSED", "{role}");
        let mut again = visible(&app, &receiver, &all).await;
        again.sort();
        let mut before_sorted = before.clone();
        before_sorted.sort();
        assert_eq!(again, before_sorted, "{role}: closing closes exactly that");
        assert!(
            visible(&other, &receiver, &one(&person)).await.is_empty(),
            "{purpose}: closed on the other process too"
        );
        // Expiry: accepted again, then its expiry moved into the past by the test (no sleep).
        let renewed = app
            .query_vars(&unhcr, CREATE, referral(&person, agency, purpose, 20))
            .await;
        let renewed = renewed.data()["createReferral"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let accepted = transition(
            &app,
            &receiver,
            &format!(r#"acceptReferral(id: "{renewed}")"#),
        )
        .await;
        assert_eq!(
            accepted.data()["acceptReferral"]["status"],
            "ACCEPTED",
            "{purpose}"
        );
        assert_eq!(
            visible(&other, &receiver, &one(&person)).await,
            one(&person)
        );
        expire(&app, &renewed).await;
        for gateway in [&app, &other] {
            assert!(
                visible(gateway, &receiver, &one(&person)).await.is_empty(),
                "{purpose}: expired"
            );
        }
        let reason = app
            .query(
                &unhcr,
                &format!(r#"{{ referral(id: "{id}") {{ reason }} }}"#),
            )
            .await;
        assert_eq!(
            reason.data()["referral"]["reason"],
            "done here",
            "the sender reads why"
        );
        // A third agency sees nothing of it.
        let third = app
            .query(
                &app.token("immigration"),
                &format!(r#"{{ referral(id: "{id}") {{ id note }} }}"#),
            )
            .await;
        assert_eq!(third.data()["referral"], Value::Null, "{role}");
    }
}

/// Nested paths follow the referral too: an incident's `involvedPersons`, as IOM reads them,
/// carry a referred person only while the referral is accepted.
async fn nested_paths_follow_the_referral(app: TestApp) {
    let unhcr = app.token("unhcr");
    let iom = app.token("iom");
    // A registered person involved in an incident of Jakarta (IOM's jurisdiction).
    let pairs = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT i.incident_id AS incident, i.person_id AS person FROM incident_persons i \
             JOIN incidents n ON n.id = i.incident_id \
             WHERE n.region LIKE '31%' AND EXISTS (SELECT 1 FROM unhcr_registrations r WHERE r.person_id = i.person_id) \
             ORDER BY i.person_id"
                .to_owned(),
        ))
        .await
        .expect("pairs");
    let involved = |incident: String| {
        let query = format!(r#"{{ incident(id: "{incident}") {{ involvedPersons {{ id }} }} }}"#);
        let (app, iom) = (&app, iom.clone());
        async move {
            let reply = app.query(&iom, &query).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.data()["incident"]["involvedPersons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let mut chosen = None;
    for row in &pairs {
        let incident: String = row.try_get_by("incident").unwrap();
        let person: String = row.try_get_by("person").unwrap();
        if !involved(incident.clone()).await.contains(&person) {
            chosen = Some((incident, person));
            break;
        }
    }
    let (incident, person) = chosen.expect("an involved person IOM cannot see yet");
    let created = app
        .query_vars(&unhcr, CREATE, referral(&person, "IOM-JKT", "HEALTH", 10))
        .await;
    let id = created.data()["createReferral"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !involved(incident.clone()).await.contains(&person),
        "hidden while OPEN"
    );
    transition(&app, &iom, &format!(r#"acceptReferral(id: "{id}")"#)).await;
    assert!(
        involved(incident.clone()).await.contains(&person),
        "visible once accepted"
    );
    transition(
        &app,
        &unhcr,
        &format!(r#"closeReferral(id: "{id}", reason: "treated")"#),
    )
    .await;
    assert!(
        !involved(incident).await.contains(&person),
        "hidden once closed"
    );
}

on_both_databases!(
    nested_paths_follow_the_referral,
    a_referral_opens_one_person_for_every_receiver,
    access_follows_the_referral,
    every_transition_is_audited_without_its_reason,
    bad_referrals_are_refused_and_tell_nothing,
);
