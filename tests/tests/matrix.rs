//! The matrix of `shared/domain.md`, transcribed here by hand (not read from the policy), for
//! the rows a review found drifting: what each role's schema holds of `ImmigrationRecord`.
//! `id` and `person` are the record's identity and its link to the person, no content of it.

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

on_both_databases!(immigration_records_follow_the_matrix);
