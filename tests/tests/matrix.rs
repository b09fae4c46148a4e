//! The permission matrix of `shared/domain.md`, transcribed here by hand (not read from the
//! policy): every field group's cell per role, checked against each role's schema as its
//! introspection shows it (`ImmigrationRecord` in full detail, the rest by field group).
//! `id` and `person` are a record's identity and its link to the person, no content of it.

use std::collections::BTreeSet;

use pora_tests::{TestApp, on_both_databases};

const REFERRAL_ONLY: &str = "Only for persons with an accepted, unexpired referral";

/// Fields read in full, and fields only by referral.
type Fields = (Vec<&'static str>, Vec<&'static str>);

/// (role, its fields); `None`: the type is not there.
fn matrix() -> Vec<(&'static str, Option<Fields>)> {
    let all = vec![
        "id",
        "createdAt",
        "updatedAt",
        "person",
        "passportNumber",
        "passportCountry",
        "entryMode",
        "visaType",
        "visaExpiry",
        "specialIdCardNumber",
        "supervisingOffice",
    ];
    vec![
        // ImmigrationRecord (all): IMM RW, UNHCR R, KSB –, POL P, MUN –, IOM –, ADM –.
        // ImmigrationRecord.specialIdCardNumber: IMM RW, UNHCR R, KSB –, POL R, MUN P, IOM R.
        ("immigration", Some((all.clone(), vec![]))),
        ("unhcr", Some((all, vec![]))),
        ("kesbangpol", None),
        (
            "police",
            Some((
                vec!["id", "person", "specialIdCardNumber"],
                vec![
                    "createdAt",
                    "updatedAt",
                    "passportNumber",
                    "passportCountry",
                    "entryMode",
                    "visaType",
                    "visaExpiry",
                ],
            )),
        ),
        (
            "municipality",
            Some((vec!["id", "person"], vec!["specialIdCardNumber"])),
        ),
        (
            "iom",
            Some((vec!["id", "person", "specialIdCardNumber"], vec![])),
        ),
        ("admin", None),
    ]
}

async fn immigration_records_follow_the_matrix(app: TestApp) {
    for (role, expected) in matrix() {
        let reply = app
            .query(
                &app.token(role),
                r#"{ __type(name: "ImmigrationRecord") { fields { name description } } }"#,
            )
            .await;
        let fields = &reply.data()["__type"]["fields"];
        let Some((full, referred)) = expected else {
            assert!(reply.data()["__type"].is_null(), "{role}: {}", reply.body);
            continue;
        };
        let mut got_full = BTreeSet::new();
        let mut got_referred = BTreeSet::new();
        for f in fields.as_array().expect("fields") {
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
        assert_eq!(got_full, full.into_iter().collect(), "{role}: read in full");
        assert_eq!(
            got_referred,
            referred.into_iter().collect(),
            "{role}: by referral only"
        );
    }
}

/// How a role holds a field, per the matrix's cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    /// R, W, RW: in the schema, in full.
    Full,
    /// P: in the schema, only by referral.
    Referred,
    /// "P, else M": by referral, with the masks beside it.
    ReferredElseMasked,
    /// M: the field is not there, its masks are.
    Masked,
    /// – or A: not in the schema (aggregates come through statistics).
    Absent,
}

const ROLES: [&str; 7] = [
    "immigration",
    "unhcr",
    "kesbangpol",
    "police",
    "municipality",
    "iom",
    "admin",
];

/// The matrix's field groups: (type, fields, masks an M cell shows, cell per role in the order
/// of `ROLES`: IMM, UNHCR, KSB, POL, MUN, IOM, ADM).
/// One field group of the matrix: its type, fields, the masks an M cell shows, the cells.
type FieldGroup = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    [Cell; 7],
);

fn field_groups() -> Vec<FieldGroup> {
    use Cell::{Absent as X, Full as F, Masked as M, Referred as P, ReferredElseMasked as PM};
    vec![
        (
            "Person",
            &["fullName", "aliases"],
            &["initials"],
            [F, F, X, PM, PM, F, X],
        ),
        (
            "Person",
            &["sex", "nationality"],
            &[],
            [F, F, X, F, X, F, X],
        ),
        (
            "Person",
            &["dateOfBirth"],
            &["birthYear", "ageBand", "isChild"],
            [F, F, X, M, M, F, X],
        ),
        ("Person", &["languages"], &[], [F, F, X, F, F, F, X]),
        (
            "Person",
            &["religion", "ethnicity", "claimNarrative"],
            &[],
            [X, F, X, X, X, X, X],
        ),
        (
            "Person",
            &["specificNeeds"],
            &["hasSpecificNeeds"],
            [M, F, X, X, PM, P, X],
        ),
        ("Person", &["medicalNotes"], &[], [X, F, X, X, X, F, X]),
        ("Person", &["phone"], &[], [F, F, X, P, X, F, X]),
        ("Person", &["residenceRegion"], &[], [F, F, X, F, X, F, X]),
        ("Person", &["residenceAddress"], &[], [F, F, X, P, P, F, X]),
        (
            "UnhcrRegistration",
            &["individualNumber", "documentNumber"],
            &[],
            [F, F, X, P, P, F, X],
        ),
        (
            "UnhcrRegistration",
            &["fileStatus", "solution"],
            &[],
            [F, F, X, X, X, F, X],
        ),
        (
            "UnhcrRegistration",
            &["documentType", "documentExpiry"],
            &["documentValid"],
            [M, F, X, M, M, F, X],
        ),
        (
            "Incident",
            &["kind", "occurredAt", "region", "headcount", "actionsTaken"],
            &[],
            [F, F, F, F, F, F, F],
        ),
        (
            "Incident",
            &["locationDescription", "narrative"],
            &[],
            [F, F, F, F, F, F, X],
        ),
        ("Incident", &["involvedPersons"], &[], [F, F, X, F, X, F, X]),
        ("Meeting", &["minutes"], &[], [F, X, F, F, F, X, X]),
    ]
}

/// Whole types: (type, present per role). A, M and – cells of a whole type leave it out
/// (Placement's M for the municipality is `Shelter.occupancy`, below).
fn types() -> Vec<(&'static str, [bool; 7])> {
    vec![
        ("Case", [true, true, false, false, false, true, false]),
        ("Violation", [true, true, false, true, false, false, false]),
        (
            "MonthlyReport",
            [true, true, false, false, false, true, false],
        ),
        ("Placement", [true, true, false, true, false, true, false]),
        ("Shelter", [true, true, true, true, true, true, true]),
        ("Agency", [true, true, true, true, true, true, true]),
        ("AccessToken", [true, true, true, true, true, true, true]),
        ("AuditEvent", [true, true, true, true, true, true, true]),
    ]
}

/// Each role's object types with their fields, split into in full and by referral.
async fn schema_of(
    app: &TestApp,
    role: &str,
) -> std::collections::BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let reply = app
        .query(
            &app.token(role),
            "{ __schema { types { name kind fields { name description } } } }",
        )
        .await;
    let mut out = std::collections::BTreeMap::new();
    for t in reply.data()["__schema"]["types"].as_array().expect("types") {
        if t["kind"] != "OBJECT" {
            continue;
        }
        let (mut full, mut referred) = (BTreeSet::new(), BTreeSet::new());
        for f in t["fields"].as_array().into_iter().flatten() {
            let name = f["name"].as_str().expect("name").to_owned();
            if f["description"]
                .as_str()
                .is_some_and(|d| d.starts_with(REFERRAL_ONLY))
            {
                referred.insert(name);
            } else {
                full.insert(name);
            }
        }
        out.insert(
            t["name"].as_str().expect("name").to_owned(),
            (full, referred),
        );
    }
    out
}

async fn every_field_group_follows_the_matrix(app: TestApp) {
    let mut checked = 0;
    for (r, role) in ROLES.iter().enumerate() {
        let schema = schema_of(&app, role).await;
        for (type_name, present) in types() {
            assert_eq!(
                schema.contains_key(type_name),
                present[r],
                "{role}: type {type_name}"
            );
            checked += 1;
        }
        // The municipality's M for placements: the count, without the rows.
        if *role == "municipality" {
            assert!(
                schema["Shelter"].0.contains("occupancy"),
                "{role}: Shelter.occupancy"
            );
        }
        for (type_name, fields, masks, cells) in field_groups() {
            let (full, referred) = schema.get(type_name).cloned().unwrap_or_default();
            for field in fields {
                let (in_full, by_referral) = (full.contains(*field), referred.contains(*field));
                let expected = match cells[r] {
                    Cell::Full => (true, false),
                    Cell::Referred | Cell::ReferredElseMasked => (false, true),
                    Cell::Masked | Cell::Absent => (false, false),
                };
                assert_eq!(
                    (in_full, by_referral),
                    expected,
                    "{role}: {type_name}.{field} (cell {:?}): (in full, by referral)",
                    cells[r]
                );
                checked += 1;
            }
            if matches!(cells[r], Cell::Masked | Cell::ReferredElseMasked) {
                for mask in masks {
                    assert!(
                        full.contains(*mask),
                        "{role}: {type_name}.{mask}, the mask of an M cell"
                    );
                }
            }
        }
    }
    assert!(checked >= 250, "{checked} cells checked");
}

on_both_databases!(
    immigration_records_follow_the_matrix,
    every_field_group_follows_the_matrix,
);
