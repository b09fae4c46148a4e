//! Row rules against the seeded data: for every role that has persons, exactly the persons
//! the domain's row filter names are visible (through lookups, lists and nested relations), and
//! for every type a role can look up, exactly the rows its rule names; all computed
//! independently from the raw tables; statistics never show a group under 5.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use entities::{
    agency, incident, incident_person, person, placement, referral, shelter, unhcr_registration,
};
use pora_tests::{TestApp, on_both_databases, within};
use sea_orm::EntityTrait;
use serde_json::Value;

/// The raw tables a row-filter oracle needs.
struct Raw {
    persons: Vec<person::Model>,
    agencies: HashMap<String, agency::Model>,
    shelters: HashMap<String, shelter::Model>,
    placements: Vec<placement::Model>,
    incidents: HashMap<String, incident::Model>,
    involved: Vec<incident_person::Model>,
    referrals: Vec<referral::Model>,
    registered: BTreeSet<String>,
}

async fn raw(app: &TestApp) -> Raw {
    let db = &app.db;
    Raw {
        persons: person::Entity::find().all(db).await.expect("persons"),
        agencies: agency::Entity::find()
            .all(db)
            .await
            .expect("agencies")
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect(),
        shelters: shelter::Entity::find()
            .all(db)
            .await
            .expect("shelters")
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect(),
        placements: placement::Entity::find().all(db).await.expect("placements"),
        incidents: incident::Entity::find()
            .all(db)
            .await
            .expect("incidents")
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect(),
        involved: incident_person::Entity::find()
            .all(db)
            .await
            .expect("incident persons"),
        referrals: referral::Entity::find().all(db).await.expect("referrals"),
        registered: unhcr_registration::Entity::find()
            .all(db)
            .await
            .expect("registrations")
            .into_iter()
            .map(|r| r.person_id)
            .collect(),
    }
}

impl Raw {
    fn referred_to(&self, agency_code: &str) -> BTreeSet<String> {
        let now = Utc::now();
        self.referrals
            .iter()
            .filter(|r| r.status == "ACCEPTED" && r.expires_at.is_none_or(|e| e > now))
            .filter(|r| {
                self.agencies
                    .get(&r.to_agency_id)
                    .is_some_and(|a| a.code == agency_code)
            })
            .map(|r| r.person_id.clone())
            .collect()
    }

    fn open_placement_shelters(&self, person: &str) -> Vec<&shelter::Model> {
        self.placements
            .iter()
            .filter(|p| p.person_id == person && p.end_date.is_none())
            .filter_map(|p| p.shelter_id.as_ref().and_then(|s| self.shelters.get(s)))
            .collect()
    }

    /// The persons `role` at `agency` with `jurisdiction` may see, per domain.md's row filters.
    fn visible(&self, role: &str, agency: &str, jurisdiction: &str) -> BTreeSet<String> {
        let referred = self.referred_to(agency);
        let involved: BTreeSet<String> = self
            .involved
            .iter()
            .filter(|ip| {
                self.incidents
                    .get(&ip.incident_id)
                    .is_some_and(|i| within(&i.region, jurisdiction))
            })
            .map(|ip| ip.person_id.clone())
            .collect();
        self.persons
            .iter()
            .filter(|p| match role {
                "immigration" => {
                    within(&p.residence_region, jurisdiction)
                        || self
                            .open_placement_shelters(&p.id)
                            .iter()
                            .any(|s| within(&s.region, jurisdiction))
                }
                "unhcr" => self.registered.contains(&p.id),
                "police" => involved.contains(&p.id) || referred.contains(&p.id),
                "municipality" => referred.contains(&p.id),
                // tests/policies/dinsos.toml: persons only through referrals.
                "dinsos" => referred.contains(&p.id),
                "iom" => {
                    referred.contains(&p.id)
                        || self
                            .open_placement_shelters(&p.id)
                            .iter()
                            .any(|s| s.kind == "IOM_COMMUNITY_HOUSE")
                }
                other => panic!("no oracle for the role {other}: write one from its agreement"),
            })
            .map(|p| p.id.clone())
            .collect()
    }
}

/// Looks every person up by id (in batches of aliased lookups); returns the visible ones with
/// the value of `field` (null when the field is referral-only and there is no referral).
async fn lookup_all(
    app: &TestApp,
    token: &str,
    ids: &[String],
    field: &str,
) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    for chunk in ids.chunks(100) {
        let selections: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| format!("p{i}: person(id: \"{id}\") {{ id {field} }}"))
            .collect();
        let reply = app
            .query(token, &format!("{{ {} }}", selections.join(" ")))
            .await;
        let data = reply.data();
        for i in 0..chunk.len() {
            let p = &data[format!("p{i}")];
            if !p.is_null() {
                seen.insert(p["id"].as_str().expect("id").to_owned(), p[field].clone());
            }
        }
    }
    seen
}

async fn list_ids(app: &TestApp, token: &str, list: &str) -> Vec<String> {
    let reply = app
        .query(
            token,
            &format!("{{ {list}(first: 500) {{ totalCount nodes {{ id }} }} }}"),
        )
        .await;
    let data = &reply.data()[list];
    let ids: Vec<String> = data["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        data["totalCount"].as_u64(),
        Some(ids.len() as u64),
        "{list}: totalCount agrees with the rows"
    );
    ids
}

async fn every_role_sees_exactly_the_persons_its_row_filter_names(app: TestApp) {
    let raw = raw(&app).await;
    let all_ids: Vec<String> = raw.persons.iter().map(|p| p.id.clone()).collect();
    let roles = app.roles_with("Person");
    assert!(roles.len() >= 5, "{roles:?}");
    for role in roles.iter().map(String::as_str) {
        let (agency, jurisdiction) = app.agency_of(role);
        let token = app.token(role);
        let expected = raw.visible(role, agency, jurisdiction);
        assert!(
            !expected.is_empty(),
            "{role}: the demo data must give this role someone to see"
        );
        // Immigration's demo jurisdiction (31.71) holds every demo person; narrower ones are
        // tested below. UNHCR sees every registered person, wherever they live.
        if role != "immigration" {
            assert!(
                expected.len() < all_ids.len(),
                "{role}: the demo data must hide someone"
            );
        }
        let seen = lookup_all(&app, &token, &all_ids, "id").await;
        let seen_ids: BTreeSet<String> = seen.keys().cloned().collect();
        assert_eq!(seen_ids, expected, "{role}: persons visible by lookup");
        if app.policy.role(role).expect("role").types["Person"].list {
            let listed: BTreeSet<String> = list_ids(&app, &token, "persons")
                .await
                .into_iter()
                .collect();
            assert_eq!(listed, expected, "{role}: persons listed");
        }
    }
}

async fn immigration_in_one_district_never_receives_a_person_from_another(app: TestApp) {
    let raw = raw(&app).await;
    for jurisdiction in ["31.71.01", "31.71.03", "31.71.07.1001", "31.72"] {
        let token = app.token_for("immigration", "KANIM-JKP", jurisdiction);
        let expected = raw.visible("immigration", "KANIM-JKP", jurisdiction);
        let listed: BTreeSet<String> = list_ids(&app, &token, "persons")
            .await
            .into_iter()
            .collect();
        assert_eq!(listed, expected, "{jurisdiction}");
        // Nested relations carry the filter too: household members, incident participants,
        // and the persons behind records.
        let reply = app
            .query(
                &token,
                "{ cases(first: 500) { nodes { members { id } focalPerson { id } } }
                   incidents(first: 500) { nodes { region involvedPersons { id } } }
                   violations(first: 500) { nodes { person { id } } }
                   monthlyReports(first: 500) { nodes { person { id } } } }",
            )
            .await;
        let data = reply.data();
        let mut nested = BTreeSet::new();
        for case in data["cases"]["nodes"].as_array().expect("cases") {
            for m in case["members"].as_array().expect("members") {
                nested.insert(m["id"].as_str().expect("id").to_owned());
            }
            assert!(
                !case["members"].as_array().expect("members").is_empty(),
                "{jurisdiction}: a visible case has a visible member: {case}"
            );
        }
        for incident in data["incidents"]["nodes"].as_array().expect("incidents") {
            assert!(within(
                incident["region"].as_str().expect("region"),
                jurisdiction
            ));
            for p in incident["involvedPersons"].as_array().expect("persons") {
                nested.insert(p["id"].as_str().expect("id").to_owned());
            }
        }
        for list in ["violations", "monthlyReports"] {
            for r in data[list]["nodes"].as_array().expect(list) {
                let person = r["person"]["id"]
                    .as_str()
                    .expect("a record's person is visible");
                nested.insert(person.to_owned());
            }
        }
        assert!(
            nested.is_subset(&expected),
            "{jurisdiction}: nested persons outside the filter"
        );
    }
}

async fn audit_events_name_only_persons_the_reader_may_see(app: TestApp) {
    let raw = raw(&app).await;
    // A city-wide colleague reads every person of the city.
    let wide = app.token_for("immigration", "KANIM-JKP", "31.71");
    let read = app
        .query(&wide, "{ persons(first: 500) { nodes { id } } }")
        .await;
    let everyone: BTreeSet<String> = read.data()["persons"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect();
    // The same agency's district officer reads the event: only its own district's persons.
    let narrow = app.token_for("immigration", "KANIM-JKP", "31.71.01");
    let own = raw.visible("immigration", "KANIM-JKP", "31.71.01");
    let expected: BTreeSet<String> = everyone.intersection(&own).cloned().collect();
    assert!(
        !expected.is_empty() && expected.len() < everyone.len(),
        "a fair comparison"
    );
    let event = app
        .query(
            &narrow,
            &format!(
                r#"{{ auditEvents(where: {{requestId: {{eq: "{}"}}}}) {{ nodes {{ personIds hiddenPersonCount }} }} }}"#,
                read.request_id
            ),
        )
        .await;
    let node = &event.data()["auditEvents"]["nodes"][0];
    let listed: BTreeSet<String> = node["personIds"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|p| p.as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed, expected, "only persons the reader may see");
    assert_eq!(
        node["hiddenPersonCount"].as_u64(),
        Some((everyone.len() - expected.len()) as u64),
        "the others as a count"
    );
    // "Did my agency read person X" is answered only for an X the reader may see.
    let outsider = everyone
        .difference(&own)
        .next()
        .expect("someone outside the district");
    let insider = expected.iter().next().expect("someone inside");
    for (person, found) in [(outsider, 0), (insider, 1)] {
        let reply = app
            .query(
                &narrow,
                &format!(
                    r#"{{ auditEvents(where: {{requestId: {{eq: "{}"}}, personIds: {{contains: "{person}"}}}}) {{ totalCount }} }}"#,
                    read.request_id
                ),
            )
            .await;
        assert_eq!(reply.data()["auditEvents"]["totalCount"], found, "{person}");
    }
}

async fn referral_only_fields_need_an_accepted_unexpired_referral(app: TestApp) {
    let raw = raw(&app).await;
    let all_ids: Vec<String> = raw.persons.iter().map(|p| p.id.clone()).collect();
    let cases = [
        ("police", "fullName"),
        ("police", "phone"),
        ("municipality", "fullName"),
        ("iom", "specificNeeds"),
        ("dinsos", "fullName"),
        ("dinsos", "specificNeeds"),
    ];
    // The new role's cases run with its policy (the module below).
    for (role, field) in cases
        .into_iter()
        .filter(|(role, _)| app.policy.role(role).is_some())
    {
        let (agency, _) = app.agency_of(role);
        let referred = raw.referred_to(agency);
        let seen = lookup_all(&app, &app.token(role), &all_ids, field).await;
        for (id, value) in &seen {
            let has_value = !value.is_null();
            let can_have = referred.contains(id);
            assert!(
                !has_value || can_have,
                "{role}: {field} of {id} without a referral"
            );
            if can_have && field == "fullName" {
                assert!(has_value, "{role}: {field} of referred {id}");
            }
        }
        assert!(
            referred.iter().any(|id| seen.contains_key(id)),
            "{role}: the demo data must have referred persons"
        );
    }
}

async fn statistics_count_the_persons_of_the_jurisdiction(app: TestApp) {
    let raw = raw(&app).await;
    let token = app.token("kesbangpol");
    let (_, jurisdiction) = app.agency_of("kesbangpol");
    let in_scope: Vec<&person::Model> = raw
        .persons
        .iter()
        .filter(|p| within(&p.residence_region, jurisdiction))
        .collect();
    let dims = [
        "NATIONALITY",
        "SEX",
        "AGE_BAND",
        "IS_CHILD",
        "UNACCOMPANIED_CHILD",
        "DISTRICT",
        "RESIDENCE_REGION",
        "LEGAL_STATUS",
        "PLACEMENT_KIND",
    ];
    let mut groupings: Vec<Vec<&str>> = vec![vec![]];
    groupings.extend(dims.iter().map(|d| vec![*d]));
    for (i, a) in dims.iter().enumerate() {
        for b in &dims[i + 1..] {
            groupings.push(vec![*a, *b]);
        }
    }
    // The population is the persons living in the jurisdiction: every answer's total is theirs,
    // perturbed by at most max_noise (2, docs/statistics.md); tests/statistics.rs attacks the
    // protection itself.
    for grouping in groupings {
        let q = format!(
            "{{ personStatistics(groupBy: [{}]) {{ totalCount totalSuppressed groups {{ count suppressed }} }} }}",
            grouping.join(", ")
        );
        let reply = app.query(&token, &q).await;
        let stats = &reply.data()["personStatistics"];
        let total = stats["totalCount"].as_i64().expect("a total");
        assert!(
            (total - in_scope.len() as i64).abs() <= 2,
            "{grouping:?}: total {total} for {} persons",
            in_scope.len()
        );
        for g in stats["groups"].as_array().expect("groups") {
            let n = g["count"].as_i64().expect("a listed group has its count");
            assert!(n >= 5, "{grouping:?}: a group of {n} is shown");
        }
    }
    // The nationality counts that are shown are the raw counts, within the perturbation.
    let reply = app
        .query(
            &token,
            "{ personStatistics(groupBy: [NATIONALITY]) { groups { nationality count } } }",
        )
        .await;
    for g in reply.data()["personStatistics"]["groups"]
        .as_array()
        .expect("groups")
    {
        let n = g["count"].as_i64().expect("count");
        let nat = g["nationality"].as_str().expect("nationality");
        let truth = in_scope.iter().filter(|p| p.nationality == nat).count() as i64;
        assert!((n - truth).abs() <= 2, "{nat}: {n} shown for {truth}");
    }
}

/// A raw row: its text columns by name.
type RawRow = HashMap<String, Option<String>>;

/// Rows of a table as text columns (ids, foreign keys, regions, codes), read raw.
async fn table(app: &TestApp, sql: &str) -> Vec<RawRow> {
    use sea_orm::{ConnectionTrait, Statement};
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect("raw rows");
    let columns: Vec<String> = sql
        .split(" FROM ")
        .next()
        .expect("select list")
        .trim_start_matches("SELECT ")
        .split(", ")
        .map(str::to_owned)
        .collect();
    rows.iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| {
                    (
                        c.clone(),
                        r.try_get::<Option<String>>("", c).expect("text column"),
                    )
                })
                .collect()
        })
        .collect()
}

/// The ids of `get_field` lookups among `ids` that `token` gets back.
async fn visible_by_lookup(
    app: &TestApp,
    token: &str,
    get_field: &str,
    ids: &[String],
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for chunk in ids.chunks(100) {
        let selections: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| format!("r{i}: {get_field}(id: \"{id}\") {{ id }}"))
            .collect();
        let reply = app
            .query(token, &format!("{{ {} }}", selections.join(" ")))
            .await;
        for i in 0..chunk.len() {
            if let Some(id) = reply.data()[format!("r{i}")]["id"].as_str() {
                seen.insert(id.to_owned());
            }
        }
    }
    seen
}

/// Every type of every role with a lookup: exactly the rows domain.md's row filters (and the
/// readings policy.toml states in its comments) name, computed here from the raw tables.
async fn every_type_shows_exactly_the_rows_its_rule_names(app: TestApp) {
    let raw = raw(&app).await;
    let col = |row: &RawRow, c: &str| row[c].clone().unwrap_or_default();
    let shelters = table(&app, "SELECT id, region, operator_id FROM shelters").await;
    let incidents = table(&app, "SELECT id, region FROM incidents").await;
    let meetings = table(&app, "SELECT id, region FROM meetings").await;
    let participants = table(
        &app,
        "SELECT meeting_id, agency_id FROM meeting_participants",
    )
    .await;
    let action_items = table(&app, "SELECT id, meeting_id FROM action_items").await;
    let referrals = table(
        &app,
        "SELECT id, from_agency_id, to_agency_id FROM referrals",
    )
    .await;
    let cases = table(&app, "SELECT id FROM cases").await;
    let members = table(&app, "SELECT id, case_id FROM persons").await;
    let agencies = table(&app, "SELECT id, code FROM agencies").await;
    let tokens = table(&app, "SELECT id, agency FROM access_tokens").await;
    let events = table(&app, "SELECT id, agency FROM audit_events").await;
    let placements = table(&app, "SELECT id, person_id, shelter_id FROM placements").await;
    let per_person: Vec<(&str, Vec<RawRow>)> = vec![
        (
            "UnhcrRegistration",
            table(&app, "SELECT id, person_id FROM unhcr_registrations").await,
        ),
        (
            "ImmigrationRecord",
            table(&app, "SELECT id, person_id FROM immigration_records").await,
        ),
        (
            "Violation",
            table(&app, "SELECT id, person_id FROM violations").await,
        ),
        (
            "MonthlyReport",
            table(&app, "SELECT id, person_id FROM monthly_reports").await,
        ),
    ];
    let iom_houses: BTreeSet<String> = raw
        .shelters
        .values()
        .filter(|s| s.kind == "IOM_COMMUNITY_HOUSE")
        .map(|s| s.id.clone())
        .collect();
    let mut checked = 0;
    for role in app.policy.roles.keys() {
        let (agency, jurisdiction) = app.agency_of(role);
        let agency_id = agencies
            .iter()
            .find(|a| col(a, "code") == agency)
            .map(|a| col(a, "id"))
            .unwrap_or_default();
        let persons = if app
            .policy
            .role(role)
            .expect("role")
            .types
            .contains_key("Person")
        {
            raw.visible(role, agency, jurisdiction)
        } else {
            BTreeSet::new()
        };
        let in_jurisdiction = |rows: &[RawRow]| -> BTreeSet<String> {
            rows.iter()
                .filter(|r| within(&col(r, "region"), jurisdiction))
                .map(|r| col(r, "id"))
                .collect()
        };
        // unhcr and iom see the meetings they take part in; the others those of their
        // jurisdiction.
        let visible_meetings: BTreeSet<String> = if ["unhcr", "iom"].contains(&role.as_str()) {
            participants
                .iter()
                .filter(|p| col(p, "agency_id") == agency_id)
                .map(|p| col(p, "meeting_id"))
                .collect()
        } else {
            in_jurisdiction(&meetings)
        };
        let mut expected: Vec<(&str, BTreeSet<String>, Vec<String>)> = vec![
            (
                "Shelter",
                if role == "iom" {
                    // policy.toml: "RW (own)" read as the shelters IOM operates.
                    shelters
                        .iter()
                        .filter(|s| col(s, "operator_id") == agency_id)
                        .map(|s| col(s, "id"))
                        .collect()
                } else {
                    in_jurisdiction(&shelters)
                },
                shelters.iter().map(|s| col(s, "id")).collect(),
            ),
            (
                "Incident",
                in_jurisdiction(&incidents),
                incidents.iter().map(|r| col(r, "id")).collect(),
            ),
            (
                "Meeting",
                visible_meetings.clone(),
                meetings.iter().map(|r| col(r, "id")).collect(),
            ),
            (
                "ActionItem",
                action_items
                    .iter()
                    .filter(|a| visible_meetings.contains(&col(a, "meeting_id")))
                    .map(|a| col(a, "id"))
                    .collect(),
                action_items.iter().map(|r| col(r, "id")).collect(),
            ),
            (
                "Referral",
                referrals
                    .iter()
                    .filter(|r| {
                        col(r, "from_agency_id") == agency_id || col(r, "to_agency_id") == agency_id
                    })
                    .map(|r| col(r, "id"))
                    .collect(),
                referrals.iter().map(|r| col(r, "id")).collect(),
            ),
            (
                "Agency",
                agencies.iter().map(|r| col(r, "id")).collect(),
                agencies.iter().map(|r| col(r, "id")).collect(),
            ),
            (
                "Case",
                members
                    .iter()
                    .filter(|m| persons.contains(&col(m, "id")))
                    .map(|m| col(m, "case_id"))
                    .filter(|c| !c.is_empty())
                    .collect(),
                cases.iter().map(|r| col(r, "id")).collect(),
            ),
            (
                "Placement",
                placements
                    .iter()
                    .filter(|p| persons.contains(&col(p, "person_id")))
                    .filter(|p| role != "iom" || iom_houses.contains(&col(p, "shelter_id")))
                    .map(|p| col(p, "id"))
                    .collect(),
                placements.iter().map(|r| col(r, "id")).collect(),
            ),
        ];
        for (records, rows) in [("AccessToken", &tokens), ("AuditEvent", &events)] {
            expected.push((
                records,
                rows.iter()
                    .filter(|r| role == "admin" || col(r, "agency") == agency)
                    .map(|r| col(r, "id"))
                    .collect(),
                rows.iter().map(|r| col(r, "id")).collect(),
            ));
        }
        for (type_name, rows) in &per_person {
            expected.push((
                type_name,
                rows.iter()
                    .filter(|r| persons.contains(&col(r, "person_id")))
                    .map(|r| col(r, "id"))
                    .collect(),
                rows.iter().map(|r| col(r, "id")).collect(),
            ));
        }
        let token = app.token(role);
        for (type_name, want, all) in expected {
            let Some(view) = app.policy.role(role).expect("role").types.get(type_name) else {
                continue;
            };
            // Types reached only through relations are checked through them elsewhere.
            if !view.get {
                continue;
            }
            let got = visible_by_lookup(&app, &token, view.def.get_field, &all).await;
            assert_eq!(got, want, "{role}: {type_name} rows by lookup");
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked} (role, type) pairs checked");
}

on_both_databases!(
    every_type_shows_exactly_the_rows_its_rule_names,
    every_role_sees_exactly_the_persons_its_row_filter_names,
    immigration_in_one_district_never_receives_a_person_from_another,
    audit_events_name_only_persons_the_reader_may_see,
    referral_only_fields_need_an_accepted_unexpired_referral,
    statistics_count_the_persons_of_the_jurisdiction,
);

/// The persons' row rules and referral-only fields over a policy that adds the social
/// service's role (`tests/policies/dinsos.toml`), with referrals to it in every state.
mod with_a_new_role {
    pub(super) use super::{
        every_role_sees_exactly_the_persons_its_row_filter_names,
        every_type_shows_exactly_the_rows_its_rule_names,
        referral_only_fields_need_an_accepted_unexpired_referral,
    };
    pora_tests::on_both_databases!(
        spawn = pora_tests::new_role::spawn;
        every_type_shows_exactly_the_rows_its_rule_names,
        every_role_sees_exactly_the_persons_its_row_filter_names,
        referral_only_fields_need_an_accepted_unexpired_referral,
    );
}
