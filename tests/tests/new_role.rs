//! A role added by a policy change only (`tests/policies/dinsos.toml`: the city's social
//! service): its schema is what its agreement says, transcribed here; it sees the shelters and
//! incidents of its jurisdiction and a person only through an accepted referral (oracles from
//! the raw tables); tokens for it name an agency of its kind; and no other role's schema
//! changes. `schema_matches_policy.rs` and `row_filters.rs` run their suites over it too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use entities::{incident, shelter};
use pora_tests::new_role::{DINSOS_AGENCY, DINSOS_JURISDICTION, policy_text};
use pora_tests::{TestApp, on_both_databases, within};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

const REFERRAL_ONLY: &str = "Only for persons with an accepted, unexpired referral";

/// What the agreement grants on one type: root fields, fields read in full, fields by
/// referral only.
type Grant = (
    &'static [&'static str],
    Vec<&'static str>,
    Vec<&'static str>,
);

/// The agreement, by type.
fn agreement() -> BTreeMap<&'static str, Grant> {
    BTreeMap::from([
        (
            "Person",
            (
                &["person"][..],
                vec![
                    "id",
                    "sex",
                    "initials",
                    "ageBand",
                    "isChild",
                    "residenceRegion",
                    "referrals",
                ],
                vec!["fullName", "phone", "specificNeeds"],
            ),
        ),
        (
            "Shelter",
            (
                &["shelters", "shelter"][..],
                vec![
                    "id",
                    "name",
                    "kind",
                    "region",
                    "address",
                    "capacity",
                    "occupancy",
                ],
                vec![],
            ),
        ),
        (
            "Incident",
            (
                &["incidents", "incident"][..],
                vec![
                    "id",
                    "kind",
                    "occurredAt",
                    "region",
                    "headcount",
                    "involvedPersonCount",
                ],
                vec![],
            ),
        ),
        (
            "Referral",
            (
                &["referrals", "referral"][..],
                vec![
                    "id",
                    "person",
                    "fromAgency",
                    "toAgency",
                    "purpose",
                    "consentGiven",
                    "status",
                    "expiresAt",
                ],
                vec![],
            ),
        ),
        (
            "Agency",
            (
                &["agencies", "agency"][..],
                vec!["id", "code", "kind", "name", "jurisdiction"],
                vec![],
            ),
        ),
    ])
}

async fn the_new_roles_schema_is_its_agreement(app: TestApp) {
    let token = app.token("dinsos");
    let reply = app
        .query(
            &token,
            "{ __schema { queryType { fields { name } } mutationType { fields { name } }
                 types { name kind fields { name description } } } }",
        )
        .await;
    let schema = &reply.data()["__schema"];
    let objects: BTreeMap<String, &Value> = schema["types"]
        .as_array()
        .expect("types")
        .iter()
        .filter(|t| t["kind"] == "OBJECT" && !t["name"].as_str().unwrap_or("_").starts_with("__"))
        .map(|t| (t["name"].as_str().expect("name").to_owned(), t))
        .collect();
    let agreement = agreement();
    for (type_name, (_, full, referred)) in &agreement {
        let fields = objects
            .get(*type_name)
            .unwrap_or_else(|| panic!("dinsos has type {type_name}"))["fields"]
            .as_array()
            .expect("fields");
        let (mut got_full, mut got_referred) = (BTreeSet::new(), BTreeSet::new());
        for f in fields {
            let name = f["name"].as_str().expect("name");
            if f["description"]
                .as_str()
                .is_some_and(|d| d.starts_with(REFERRAL_ONLY))
            {
                got_referred.insert(name);
            } else {
                got_full.insert(name);
            }
        }
        assert_eq!(
            got_full,
            full.iter().copied().collect(),
            "{type_name}: in full"
        );
        assert_eq!(
            got_referred,
            referred.iter().copied().collect(),
            "{type_name}: by referral"
        );
    }
    // No other case-data type: no registration, immigration record, placement, case, meeting.
    for hidden in [
        "UnhcrRegistration",
        "ImmigrationRecord",
        "Placement",
        "Case",
        "Meeting",
        "Violation",
        "MonthlyReport",
        "AuditEvent",
        "AccessToken",
    ] {
        assert!(
            !objects.contains_key(hidden),
            "dinsos must not have {hidden}"
        );
    }
    let roots: BTreeSet<&str> = schema["queryType"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    for (fields, _, _) in agreement.values() {
        for f in *fields {
            assert!(roots.contains(f), "root field {f}");
        }
    }
    assert!(!roots.contains("persons"), "no browsing of persons");
    assert!(!roots.contains("personStatistics"), "no statistics");
    let mutations: BTreeSet<&str> = schema["mutationType"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        mutations,
        BTreeSet::from(["acceptReferral", "declineReferral", "closeReferral"])
    );
}

async fn the_new_role_sees_its_jurisdictions_shelters_and_incidents(app: TestApp) {
    let shelters: BTreeSet<String> = shelter::Entity::find()
        .all(&app.db)
        .await
        .expect("shelters")
        .into_iter()
        .filter(|s| within(&s.region, DINSOS_JURISDICTION))
        .map(|s| s.id)
        .collect();
    let incidents: BTreeSet<String> = incident::Entity::find()
        .all(&app.db)
        .await
        .expect("incidents")
        .into_iter()
        .filter(|i| within(&i.region, DINSOS_JURISDICTION))
        .map(|i| i.id)
        .collect();
    assert!(
        !shelters.is_empty() && !incidents.is_empty(),
        "the demo data has some"
    );
    for (jurisdiction, list, expected) in [
        (DINSOS_JURISDICTION, "shelters", &shelters),
        (DINSOS_JURISDICTION, "incidents", &incidents),
    ] {
        let reply = app
            .query(
                &app.token_for("dinsos", DINSOS_AGENCY, jurisdiction),
                &format!("{{ {list}(first: 500) {{ totalCount nodes {{ id region }} }} }}"),
            )
            .await;
        let got: BTreeSet<String> = reply.data()[list]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(&got, expected, "{list}");
        assert_eq!(reply.data()[list]["totalCount"], expected.len());
    }
    // A district officer of the same agency: only that district's.
    let district = "31.71.01";
    let reply = app
        .query(
            &app.token_for("dinsos", DINSOS_AGENCY, district),
            "{ shelters(first: 500) { nodes { region } } incidents(first: 500) { nodes { region } } }",
        )
        .await;
    for list in ["shelters", "incidents"] {
        for n in reply.data()[list]["nodes"].as_array().expect("nodes") {
            assert!(
                within(n["region"].as_str().expect("region"), district),
                "{list}: {n}"
            );
        }
    }
}

async fn an_accepted_referral_opens_a_person_to_the_new_role(app: TestApp) {
    let dinsos = app.token("dinsos");
    let unhcr = app.token("unhcr");
    // A registered person with no referral to the social service: hidden from it.
    let listed = app
        .query(
            &unhcr,
            "{ persons(first: 500) { nodes { id referrals { toAgency { code } } } } }",
        )
        .await;
    let person = listed.data()["persons"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|p| {
            !p["referrals"]
                .as_array()
                .expect("referrals")
                .iter()
                .any(|r| r["toAgency"]["code"] == DINSOS_AGENCY)
        })
        .and_then(|p| p["id"].as_str())
        .expect("a registered person without a referral to the social service")
        .to_owned();
    let lookup = format!(r#"{{ person(id: "{person}") {{ id fullName specificNeeds }} }}"#);
    let before = app.query(&dinsos, &lookup).await;
    assert!(before.data()["person"].is_null(), "{}", before.body);
    let created = app
        .query_vars(
            &unhcr,
            "mutation($input: NewReferralInput!) { createReferral(input: $input) { id status } }",
            json!({ "input": {
                "personId": person, "toAgency": DINSOS_AGENCY, "purpose": "SHELTER",
                "consentGiven": true, "consentDate": "2026-11-01",
                "expiresAt": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339()
            }}),
        )
        .await;
    let id = created.data()["createReferral"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Open, not yet accepted: still hidden, but the receiver sees the referral itself.
    assert!(app.query(&dinsos, &lookup).await.data()["person"].is_null());
    let incoming = app
        .query(
            &dinsos,
            &format!(r#"{{ referral(id: "{id}") {{ status person {{ id }} }} }}"#),
        )
        .await;
    assert_eq!(incoming.data()["referral"]["status"], "OPEN");
    assert!(
        incoming.data()["referral"]["person"].is_null(),
        "{}",
        incoming.body
    );
    let accepted = app
        .query(
            &dinsos,
            &format!(r#"mutation {{ acceptReferral(id: "{id}") {{ status }} }}"#),
        )
        .await;
    assert_eq!(accepted.data()["acceptReferral"]["status"], "ACCEPTED");
    let seen = app.query(&dinsos, &lookup).await;
    assert_eq!(seen.data()["person"]["id"], person.as_str());
    assert!(
        seen.data()["person"]["fullName"].is_string(),
        "{}",
        seen.body
    );
    assert!(
        seen.data()["person"]["specificNeeds"].is_array(),
        "{}",
        seen.body
    );
}

async fn tokens_for_the_new_role_name_an_agency_of_its_kind(app: TestApp) {
    let admin = app.token("admin");
    let issue = "mutation($input: IssueTokenInput!) { issueToken(input: $input) { token } }";
    let input = |agency: &str| {
        json!({ "input": { "role": "dinsos", "agency": agency, "jurisdiction": DINSOS_JURISDICTION,
                           "subject": "caseworker-1", "ttl": "8h" } })
    };
    let issued = app.query_vars(&admin, issue, input(DINSOS_AGENCY)).await;
    let token = issued.data()["issueToken"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let viewer = app.query(&token, "{ viewer { role agency } }").await;
    assert_eq!(
        viewer.data()["viewer"],
        json!({ "role": "dinsos", "agency": DINSOS_AGENCY })
    );
    let wrong = app.query_vars(&admin, issue, input("KANIM-JKP")).await;
    assert_eq!(wrong.code(), Some("BAD_USER_INPUT"), "{}", wrong.body);
    assert!(wrong.message().contains("MUNICIPALITY"), "{}", wrong.body);
}

on_both_databases!(
    spawn = pora_tests::new_role::spawn;
    the_new_roles_schema_is_its_agreement,
    the_new_role_sees_its_jurisdictions_shelters_and_incidents,
    an_accepted_referral_opens_a_person_to_the_new_role,
    tokens_for_the_new_role_name_an_agency_of_its_kind,
);

/// Adding a role is additive: every other role's schema is the same text as before.
#[test]
fn adding_a_role_changes_no_other_roles_schema() {
    let config = gateway::Config::default();
    let limiter = Arc::new(schema::RateLimiter::new(5));
    let builtin = schema::Policy::builtin().expect("built-in policy");
    let extended = schema::Policy::compile("dinsos.toml", &policy_text()).expect("extended policy");
    let before = gateway::app::build_schemas(&builtin, &config, &limiter).expect("schemas");
    let after = gateway::app::build_schemas(&extended, &config, &limiter).expect("schemas");
    assert_eq!(
        after
            .keys()
            .filter(|k| !before.contains_key(*k))
            .collect::<Vec<_>>(),
        ["dinsos"]
    );
    for (role, schema) in &before {
        assert_eq!(
            gateway::app::role_sdl(schema, false),
            gateway::app::role_sdl(&after[role], false),
            "{role}"
        );
    }
}
