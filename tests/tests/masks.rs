//! Masks are computed by the database: for every role and every mask it reads, the statements
//! the gateway sent (received as trace spans, as an operator's collector would) select the
//! masked expression, never the raw source column the role may not read; and the masked values
//! equal an oracle computed here from the raw tables.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use pora_tests::{Backend, spawn_with};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

/// Per type: its list field, each mask with the raw fields (GraphQL) and columns it derives from.
struct Masked {
    type_name: &'static str,
    list: &'static str,
    masks: &'static [(
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    )],
}

const MASKED: &[Masked] = &[
    Masked {
        type_name: "Person",
        list: "persons",
        masks: &[
            ("initials", &["fullName"], &["full_name"]),
            ("birthYear", &["dateOfBirth"], &["date_of_birth"]),
            ("ageBand", &["dateOfBirth"], &["date_of_birth"]),
            ("isChild", &["dateOfBirth"], &["date_of_birth"]),
            ("hasSpecificNeeds", &["specificNeeds"], &["specific_needs"]),
        ],
    },
    Masked {
        type_name: "UnhcrRegistration",
        list: "unhcrRegistrations",
        masks: &[
            (
                "documentValid",
                &["documentExpiry", "fileStatus"],
                &["document_expiry", "file_status"],
            ),
            ("isPersonOfConcern", &["fileStatus"], &["file_status"]),
        ],
    },
];

use pora_tests::DOMAIN_ROLES as ROLES;

/// The oracle's masks, written from `shared/domain.md`'s definitions.
fn initials(name: &str) -> String {
    name.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| format!("{}.", w.chars().next().unwrap().to_ascii_uppercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn age(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

fn band(age: i32) -> &'static str {
    match age {
        ..=4 => "AGE_0_4",
        5..=11 => "AGE_5_11",
        12..=17 => "AGE_12_17",
        18..=59 => "AGE_18_59",
        _ => "AGE_60_PLUS",
    }
}

async fn raw_rows(app: &pora_tests::TestApp, sql: &str) -> Vec<sea_orm::QueryResult> {
    app.db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect("raw rows")
}

/// The expected mask values per id, from the raw tables.
async fn oracle(app: &pora_tests::TestApp) -> BTreeMap<String, BTreeMap<&'static str, Value>> {
    let today = chrono::Utc::now().date_naive();
    let mut expected: BTreeMap<String, BTreeMap<&'static str, Value>> = BTreeMap::new();
    for row in raw_rows(
        app,
        "SELECT id, full_name, CAST(date_of_birth AS TEXT) AS dob, specific_needs FROM persons",
    )
    .await
    {
        let id: String = row.try_get_by("id").unwrap();
        let name: String = row.try_get_by("full_name").unwrap();
        let dob: String = row.try_get_by("dob").unwrap();
        let dob = NaiveDate::parse_from_str(&dob[..10], "%Y-%m-%d").unwrap();
        let needs: String = row.try_get_by("specific_needs").unwrap();
        let needs: Vec<String> = serde_json::from_str(&needs).unwrap();
        let entry = expected.entry(id).or_default();
        entry.insert("initials", json!(initials(&name)));
        entry.insert("birthYear", json!(dob.year()));
        entry.insert("ageBand", json!(band(age(dob, today))));
        entry.insert("isChild", json!(age(dob, today) < 18));
        entry.insert("hasSpecificNeeds", json!(!needs.is_empty()));
    }
    for row in raw_rows(
        app,
        "SELECT id, CAST(document_expiry AS TEXT) AS expiry, file_status FROM unhcr_registrations",
    )
    .await
    {
        let id: String = row.try_get_by("id").unwrap();
        let expiry: String = row.try_get_by("expiry").unwrap();
        let expiry = NaiveDate::parse_from_str(&expiry[..10], "%Y-%m-%d").unwrap();
        let status: String = row.try_get_by("file_status").unwrap();
        let entry = expected.entry(id).or_default();
        entry.insert(
            "documentValid",
            json!(expiry >= today && status == "ACTIVE"),
        );
        entry.insert("isPersonOfConcern", json!(status == "ACTIVE"));
    }
    expected
}

/// Whether a statement selects `column` of some alias as a plain value (`x.column AS cN`).
fn selects_raw(statement: &str, column: &str) -> bool {
    let needle = format!(".{column} AS c");
    statement.match_indices(&needle).any(|(at, _)| {
        statement[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

async fn masks_are_computed_by_the_database(backend: Backend) {
    let (endpoint, mut exports) = pora_tests::otlp::receiver().await;
    let app = spawn_with(backend, move |c| c.otlp_endpoint = Some(endpoint)).await;
    let expected = oracle(&app).await;
    let mut spans: Vec<Value> = Vec::new();
    let mut checked = 0;
    for (r, role) in ROLES.iter().enumerate() {
        let token = app.token(role);
        for (t, masked) in MASKED.iter().enumerate() {
            let fields: BTreeSet<String> = app
                .query(
                    &token,
                    &format!(
                        r#"{{ __type(name: "{}") {{ fields {{ name }} }} }}"#,
                        masked.type_name
                    ),
                )
                .await
                .data()["__type"]["fields"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .map(|f| f["name"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let masks: Vec<_> = masked
                .masks
                .iter()
                .filter(|(mask, _, _)| fields.contains(*mask))
                .collect();
            let lists = app
                .query(&token, "{ __type(name: \"Query\") { fields { name } } }")
                .await;
            let listable = lists.data()["__type"]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["name"] == masked.list);
            if masks.is_empty() || !listable {
                continue;
            }
            let trace_id = format!("{:016x}{:016x}", r + 1, t + 1);
            let mut selection: Vec<&str> = masks.iter().map(|(m, _, _)| *m).collect();
            // The positive control below: a column read in full, named by the query.
            let control = masked.type_name == "Person" && fields.contains("fullName");
            if control {
                selection.push("fullName");
            }
            let reply = app
                .query_with_headers(
                    &token,
                    &format!(
                        "{{ {}(first: 500) {{ nodes {{ id {} }} }} }}",
                        masked.list,
                        selection.join(" ")
                    ),
                    &[("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))],
                )
                .await;
            assert_eq!(reply.status, 200, "{role}: {}", reply.body);
            let nodes = reply.data()[masked.list]["nodes"]
                .as_array()
                .unwrap()
                .clone();
            assert!(!nodes.is_empty(), "{role} reads some {}", masked.type_name);
            for node in &nodes {
                let id = node["id"].as_str().unwrap();
                for mask in selection.iter().filter(|m| **m != "fullName") {
                    assert_eq!(
                        &node[*mask], &expected[id][mask],
                        "{role}: {}.{mask} of {id}",
                        masked.type_name
                    );
                }
            }
            // The request's statements, from the collector.
            let statements_expected = reply.sql_statements.expect("x-sql-statements");
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
            let ours = |spans: &[Value]| -> Vec<String> {
                spans
                    .iter()
                    .filter(|s| s["traceId"] == trace_id.as_str() && s["name"] == "sql")
                    .filter_map(|s| {
                        pora_tests::otlp::attribute(s, "db.query.text")
                            .and_then(|v| v["stringValue"].as_str())
                            .map(str::to_owned)
                    })
                    .collect()
            };
            while (ours(&spans).len() as u64) < statements_expected {
                let export = tokio::time::timeout_at(deadline, exports.recv())
                    .await
                    .expect("the statements reach the collector")
                    .expect("receiver open");
                spans.extend(pora_tests::otlp::spans_of(&export));
            }
            let statements = ours(&spans);
            for (mask, raw_fields, columns) in &masks {
                for column in *columns {
                    let raw_readable = raw_fields
                        .iter()
                        .zip(columns.iter())
                        .any(|(f, c)| c == column && fields.contains(*f));
                    if raw_readable {
                        continue;
                    }
                    for statement in &statements {
                        assert!(
                            !selects_raw(statement, column),
                            "{role} reads {mask} only, yet {column} left the database: {statement}"
                        );
                    }
                }
                checked += 1;
            }
            // The positive control: a column the role reads in full and the query names is
            // selected as it is; one it reads but the query does not name is not read at all
            // (the select list follows the query).
            if control {
                assert!(
                    statements.iter().any(|s| selects_raw(s, "full_name")),
                    "{role} reads fullName: the check must see it"
                );
                if fields.contains("nationality") {
                    for statement in &statements {
                        assert!(
                            !selects_raw(statement, "nationality"),
                            "{role}: nationality was not asked for, yet read: {statement}"
                        );
                    }
                }
            }
        }
    }
    assert!(checked >= 10, "masks checked: {checked}");
}

/// An expression field (a count per row, `Incident.involvedPersonCount`) is computed only when
/// the request names it. `Shelter.occupancy` is no count any more but the column the triggers on
/// `placements` keep (migration 000011): read only when asked, and then as the column, with no
/// statement of the request counting placements.
async fn expressions_are_computed_only_when_asked(backend: Backend) {
    let (endpoint, mut exports) = pora_tests::otlp::receiver().await;
    let app = spawn_with(backend, move |c| c.otlp_endpoint = Some(endpoint)).await;
    let mut statements_of = std::collections::BTreeMap::new();
    for (trace, role, query, list) in [
        (
            "0000000000000000000000000000000a",
            "kesbangpol",
            "{ shelters(first: 5) { nodes { id name } } }",
            "shelters",
        ),
        (
            "0000000000000000000000000000000b",
            "kesbangpol",
            "{ shelters(first: 5) { nodes { id occupancy } } }",
            "shelters",
        ),
        (
            "0000000000000000000000000000000c",
            "municipality",
            "{ incidents(first: 5) { nodes { id kind } } }",
            "incidents",
        ),
        (
            "0000000000000000000000000000000d",
            "municipality",
            "{ incidents(first: 5) { nodes { id involvedPersonCount } } }",
            "incidents",
        ),
    ] {
        let reply = app
            .query_with_headers(
                &app.token(role),
                query,
                &[("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let nodes = reply.data()[list]["nodes"].as_array().unwrap().clone();
        assert!(!nodes.is_empty(), "{role}: {query}: no rows to read");
        for field in ["occupancy", "involvedPersonCount"] {
            if query.contains(field) {
                for node in &nodes {
                    assert!(node[field].is_i64(), "{node}");
                }
            }
        }
        statements_of.insert(trace, reply.sql_statements.unwrap());
    }
    let mut spans: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let texts = |spans: &[Value], trace: &str| -> Vec<String> {
        spans
            .iter()
            .filter(|s| s["traceId"] == trace && s["name"] == "sql")
            .filter_map(|s| {
                pora_tests::otlp::attribute(s, "db.query.text")?["stringValue"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    };
    while statements_of
        .iter()
        .any(|(trace, n)| (texts(&spans, trace).len() as u64) < *n)
    {
        let export = tokio::time::timeout_at(deadline, exports.recv())
            .await
            .expect("the statements reach the collector")
            .expect("receiver open");
        spans.extend(pora_tests::otlp::spans_of(&export));
    }
    let any = |trace: &str, needle: &str| texts(&spans, trace).iter().any(|t| t.contains(needle));
    // Occupancy: the stored column when asked, nothing otherwise, and never a count.
    assert!(
        !any("0000000000000000000000000000000a", ".occupancy"),
        "occupancy read unasked"
    );
    assert!(
        any("0000000000000000000000000000000b", ".occupancy"),
        "occupancy asked for, but its column not read"
    );
    for trace in [
        "0000000000000000000000000000000a",
        "0000000000000000000000000000000b",
    ] {
        assert!(
            !any(trace, "FROM placements"),
            "{trace}: occupancy is kept by triggers, yet placements were read: {:?}",
            texts(&spans, trace)
        );
    }
    // The count that is still an expression.
    assert!(
        !any(
            "0000000000000000000000000000000c",
            "FROM incident_persons ipc"
        ),
        "involvedPersonCount computed unasked"
    );
    assert!(
        any(
            "0000000000000000000000000000000d",
            "FROM incident_persons ipc"
        ),
        "involvedPersonCount asked for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_expressions_are_computed_only_when_asked() {
    expressions_are_computed_only_when_asked(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn postgres_expressions_are_computed_only_when_asked() {
    expressions_are_computed_only_when_asked(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_masks_are_computed_by_the_database() {
    masks_are_computed_by_the_database(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pora_postgres),
    ignore = "PostgreSQL leg skipped: PORA_TEST_POSTGRES_URL is not set"
)]
async fn postgres_masks_are_computed_by_the_database() {
    masks_are_computed_by_the_database(Backend::Postgres).await;
}
