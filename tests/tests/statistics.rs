//! Statistics that cannot single anyone out (docs/statistics.md), tried as an attacker would:
//! every grouping the role may ask (up to its `max_dimensions`), asked twice and in both
//! orders, over the seeded data; then interval propagation across all the answers, with every
//! published cell a linear constraint on the finest cells (the records' full combinations of
//! dimension values, an attacker told even which combinations exist). No group of 1 to 4
//! records may end up pinned to its count. And the answers stay useful: every published count
//! is within `max_noise` of the truth, and every group of `threshold + max_noise` or more is
//! listed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use pora_tests::{TestApp, on_both_databases, within};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

/// The role's documented disclosure control (policy.toml).
const THRESHOLD: i64 = 5;
const MAX_NOISE: i64 = 2;
const MAX_DIMENSIONS: usize = 3;

/// One statistics source as the test sees it: the GraphQL field, and per dimension its enum
/// name and group field.
struct Source {
    field: &'static str,
    dims: &'static [(&'static str, &'static str)],
}

const PERSON: Source = Source {
    field: "personStatistics",
    dims: &[
        ("NATIONALITY", "nationality"),
        ("SEX", "sex"),
        ("AGE_BAND", "ageBand"),
        ("IS_CHILD", "isChild"),
        ("UNACCOMPANIED_CHILD", "unaccompaniedChild"),
        ("DISTRICT", "district"),
        ("RESIDENCE_REGION", "residenceRegion"),
        ("LEGAL_STATUS", "legalStatus"),
        ("FILE_STATUS", "fileStatus"),
        ("SOLUTION", "solution"),
        ("PLACEMENT_KIND", "placementKind"),
    ],
};

const VIOLATION: Source = Source {
    field: "violationStatistics",
    dims: &[
        ("ACTION", "action"),
        ("ARTICLE", "article"),
        ("DISTRICT", "district"),
        ("NATIONALITY", "nationality"),
    ],
};

const MONTHLY_REPORT: Source = Source {
    field: "monthlyReportStatistics",
    dims: &[
        ("PERIOD", "period"),
        ("METHOD", "method"),
        ("DISTRICT", "district"),
        ("NATIONALITY", "nationality"),
    ],
};

/// A record's value per dimension (group field name → value as JSON text).
type Record = BTreeMap<&'static str, String>;

fn text(row: &sea_orm::QueryResult, column: &str) -> Option<String> {
    row.try_get_by::<Option<String>, _>(column).ok().flatten()
}

fn json_text(v: Option<String>) -> String {
    v.map_or_else(|| "null".to_owned(), |s| Value::String(s).to_string())
}

async fn rows(app: &TestApp, sql: &str) -> Vec<sea_orm::QueryResult> {
    app.db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect("raw rows")
}

fn age(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

/// The persons living in `jurisdiction`, with every dimension, from the raw tables.
async fn person_records(app: &TestApp, jurisdiction: &str) -> Vec<Record> {
    let today = chrono::Utc::now().date_naive();
    let mut records = Vec::new();
    for row in rows(
        app,
        "SELECT p.nationality, p.sex, CAST(p.date_of_birth AS TEXT) AS dob, p.specific_needs, p.residence_region, \
         r.legal_status, r.file_status, r.solution, \
         (SELECT MIN(cp.kind) FROM placements cp WHERE cp.person_id = p.id AND cp.end_date IS NULL) AS placement_kind \
         FROM persons p LEFT JOIN unhcr_registrations r ON r.person_id = p.id",
    )
    .await
    {
        let region = text(&row, "residence_region").expect("region");
        if !within(&region, jurisdiction) {
            continue;
        }
        let dob = text(&row, "dob").expect("dob");
        let dob = NaiveDate::parse_from_str(&dob[..10], "%Y-%m-%d").expect("date");
        let years = age(dob, today);
        let band = match years {
            ..=4 => "AGE_0_4",
            5..=11 => "AGE_5_11",
            12..=17 => "AGE_12_17",
            18..=59 => "AGE_18_59",
            _ => "AGE_60_PLUS",
        };
        let needs = text(&row, "specific_needs").unwrap_or_default();
        let child = years < 18;
        let mut r = Record::new();
        r.insert("nationality", json_text(text(&row, "nationality")));
        r.insert("sex", json_text(text(&row, "sex")));
        r.insert("ageBand", json_text(Some(band.to_owned())));
        r.insert("isChild", child.to_string());
        r.insert(
            "unaccompaniedChild",
            (child && needs.contains("\"UNACCOMPANIED_CHILD\"")).to_string(),
        );
        r.insert("district", json_text(Some(region[..8].to_owned())));
        r.insert("residenceRegion", json_text(Some(region)));
        r.insert("legalStatus", json_text(text(&row, "legal_status")));
        r.insert("fileStatus", json_text(text(&row, "file_status")));
        r.insert("solution", json_text(text(&row, "solution")));
        r.insert("placementKind", json_text(text(&row, "placement_kind")));
        records.push(r);
    }
    records
}

/// Violations or monthly reports of persons living in `jurisdiction`.
async fn record_rows(app: &TestApp, jurisdiction: &str, source: &Source) -> Vec<Record> {
    let sql = if source.field == VIOLATION.field {
        "SELECT t.action AS a, t.article AS b, p.residence_region, p.nationality FROM violations t JOIN persons p ON p.id = t.person_id"
    } else {
        "SELECT t.period AS a, t.method AS b, p.residence_region, p.nationality FROM monthly_reports t JOIN persons p ON p.id = t.person_id"
    };
    let (first, second) = (source.dims[0].1, source.dims[1].1);
    let mut records = Vec::new();
    for row in rows(app, sql).await {
        let region = text(&row, "residence_region").expect("region");
        if !within(&region, jurisdiction) {
            continue;
        }
        let mut r = Record::new();
        r.insert(first, json_text(text(&row, "a")));
        r.insert(second, json_text(text(&row, "b")));
        r.insert("district", json_text(Some(region[..8].to_owned())));
        r.insert("nationality", json_text(text(&row, "nationality")));
        records.push(r);
    }
    records
}

/// One answer: its grouping (group field names), its listed groups, its total.
struct Answer {
    grouping: Vec<&'static str>,
    groups: Vec<(Vec<String>, i64)>,
    total: Option<i64>,
}

/// Every grouping of up to `MAX_DIMENSIONS` of the source's dimensions, each asked twice and
/// in reverse order: the same question always gets the same answer.
async fn ask_everything(app: &TestApp, token: &str, source: &Source) -> Vec<Answer> {
    let n = source.dims.len();
    let mut groupings: Vec<Vec<usize>> = vec![vec![]];
    for size in 1..=MAX_DIMENSIONS.min(n) {
        let mut combination: Vec<usize> = (0..size).collect();
        loop {
            groupings.push(combination.clone());
            let Some(i) = (0..size).rev().find(|&i| combination[i] < n - size + i) else {
                break;
            };
            combination[i] += 1;
            for j in i + 1..size {
                combination[j] = combination[j - 1] + 1;
            }
        }
    }
    let mut answers = Vec::new();
    for grouping in groupings {
        let names: Vec<&str> = grouping.iter().map(|i| source.dims[*i].0).collect();
        let fields: Vec<&'static str> = grouping.iter().map(|i| source.dims[*i].1).collect();
        let ask = |order: Vec<&str>| {
            let q = format!(
                "{{ {}(groupBy: [{}]) {{ totalCount groups {{ count {} }} }} }}",
                source.field,
                order.join(", "),
                fields.join(" ")
            );
            async move {
                let reply = app.query(token, &q).await;
                assert_eq!(reply.status, 200, "{q}: {}", reply.body);
                reply.data()[source.field].clone()
            }
        };
        let first = ask(names.clone()).await;
        let again = ask(names.clone()).await;
        assert_eq!(first, again, "{names:?}: asked twice, answered differently");
        let mut reversed = names.clone();
        reversed.reverse();
        let turned = ask(reversed).await;
        let as_set = |answer: &Value| -> BTreeSet<String> {
            answer["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .map(|g| {
                    let mut keys: Vec<String> = fields.iter().map(|f| g[*f].to_string()).collect();
                    keys.push(g["count"].to_string());
                    keys.join("|")
                })
                .collect()
        };
        assert_eq!(
            as_set(&first),
            as_set(&turned),
            "{names:?}: the order of groupBy changed the answer"
        );
        assert_eq!(first["totalCount"], turned["totalCount"]);
        let groups = first["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| {
                let count = g["count"].as_i64().expect("a listed group has its count");
                assert!(
                    count >= THRESHOLD,
                    "{names:?}: a group of {count} is listed"
                );
                (fields.iter().map(|f| g[*f].to_string()).collect(), count)
            })
            .collect();
        answers.push(Answer {
            grouping: fields,
            groups,
            total: first["totalCount"].as_i64(),
        });
    }
    answers
}

const UNBOUNDED: i64 = 1 << 40;

/// A published cell as a constraint: its finest cells, and the bounds on their sum.
type Constraint = (Vec<usize>, i64, i64);

/// Interval propagation: the tightest bounds on every finest cell that the answers allow,
/// each listed cell `v` meaning `max(T, v - M) ..= v + M` and each unlisted one `0 ..= T - 1 + M`.
/// Returns, per finest cell, (lower, upper), and every constraint with its cells.
fn propagate(
    cells: &[Vec<String>],
    dims: &[&'static str],
    answers: &[Answer],
) -> (Vec<(i64, i64)>, Vec<Constraint>) {
    let mut constraints: Vec<Constraint> = Vec::new();
    for answer in answers {
        let positions: Vec<usize> = answer
            .grouping
            .iter()
            .map(|f| dims.iter().position(|d| d == f).expect("dimension"))
            .collect();
        let mut members: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
        for (i, cell) in cells.iter().enumerate() {
            let key = positions.iter().map(|p| cell[*p].clone()).collect();
            members.entry(key).or_default().push(i);
        }
        let listed: BTreeMap<&Vec<String>, i64> =
            answer.groups.iter().map(|(k, v)| (k, *v)).collect();
        for (key, set) in members {
            let bounds = if positions.is_empty() {
                answer.total
            } else {
                listed.get(&key).copied()
            };
            let (low, high) = match bounds {
                Some(v) => ((v - MAX_NOISE).max(THRESHOLD), v + MAX_NOISE),
                None => (0, THRESHOLD - 1 + MAX_NOISE),
            };
            constraints.push((set, low, high));
        }
    }
    let mut bounds = vec![(0i64, UNBOUNDED); cells.len()];
    for _round in 0..200 {
        let mut changed = false;
        for (set, low, high) in &constraints {
            let sum_low: i64 = set.iter().map(|i| bounds[*i].0).sum();
            let sum_high: i64 = set.iter().map(|i| bounds[*i].1.min(UNBOUNDED)).sum();
            for i in set {
                let (l, h) = bounds[*i];
                let new_low = l.max(low - (sum_high - h));
                let new_high = h.min(high - (sum_low - l));
                if new_low != l || new_high != h {
                    bounds[*i] = (new_low, new_high);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    (bounds, constraints)
}

async fn attack(app: &TestApp, token: &str, source: &Source, records: Vec<Record>) {
    let dims: Vec<&'static str> = source.dims.iter().map(|d| d.1).collect();
    let answers = ask_everything(app, token, source).await;
    // The finest cells and their true counts.
    let mut truth: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for r in &records {
        *truth
            .entry(dims.iter().map(|d| r[d].clone()).collect())
            .or_default() += 1;
    }
    let cells: Vec<Vec<String>> = truth.keys().cloned().collect();
    let counts: Vec<i64> = truth.values().copied().collect();
    // Utility: every listed count is within max_noise of the truth; large groups are listed.
    for answer in &answers {
        let positions: Vec<usize> = answer
            .grouping
            .iter()
            .map(|f| dims.iter().position(|d| d == f).unwrap())
            .collect();
        let mut true_groups: BTreeMap<Vec<String>, i64> = BTreeMap::new();
        for (cell, n) in cells.iter().zip(&counts) {
            *true_groups
                .entry(positions.iter().map(|p| cell[*p].clone()).collect())
                .or_default() += n;
        }
        let listed: BTreeMap<&Vec<String>, i64> =
            answer.groups.iter().map(|(k, v)| (k, *v)).collect();
        for (key, n) in &true_groups {
            match listed.get(key) {
                Some(v) => assert!(
                    (v - n).abs() <= MAX_NOISE && *n >= THRESHOLD,
                    "{}: {:?} = {key:?}: {v} published for {n}",
                    source.field,
                    answer.grouping
                ),
                None => assert!(
                    *n < THRESHOLD + MAX_NOISE,
                    "{}: {:?} = {key:?}: a group of {n} is not listed",
                    source.field,
                    answer.grouping
                ),
            }
        }
        for key in listed.keys() {
            assert!(
                true_groups.contains_key(*key),
                "a group that does not exist is listed"
            );
        }
        let total: i64 = counts.iter().sum();
        if let Some(t) = answer.total {
            assert!((t - total).abs() <= MAX_NOISE);
        }
    }
    let (bounds, constraints) = propagate(&cells, &dims, &answers);
    let mut pinned = Vec::new();
    for ((cell, n), (low, high)) in cells.iter().zip(&counts).zip(&bounds) {
        assert!(low <= n && n <= high, "the truth is always feasible");
        if (1..THRESHOLD).contains(n) && low == high {
            pinned.push(format!("{cell:?} = {n}"));
        }
    }
    // Every cell of every answer (a group of records sharing some values), bounded by its own
    // constraint and by the sum of its finest cells' bounds.
    for (set, low, high) in &constraints {
        let n: i64 = set.iter().map(|i| counts[*i]).sum();
        let l = set.iter().map(|i| bounds[*i].0).sum::<i64>().max(*low);
        let h = set.iter().map(|i| bounds[*i].1).sum::<i64>().min(*high);
        if (1..THRESHOLD).contains(&n) && l == h {
            pinned.push(format!("a group of {n} ({} finest cells)", set.len()));
        }
    }
    assert!(
        pinned.is_empty(),
        "{}: {} groups of 1-4 pinned: {:?}",
        source.field,
        pinned.len(),
        &pinned[..pinned.len().min(10)]
    );
    let small = counts
        .iter()
        .filter(|n| (1..THRESHOLD).contains(*n))
        .count();
    assert!(small > 0, "the seeded data has small groups to protect");
    println!(
        "{}: {} questions, {} finest cells ({small} of 1-4), {} constraints, none pinned",
        source.field,
        answers.len(),
        cells.len(),
        constraints.len()
    );
}

async fn person_statistics_cannot_be_differenced(app: TestApp) {
    for role in ["kesbangpol", "municipality"] {
        let token = app.token(role);
        let (_, jurisdiction) = pora_tests::demo_agency(role);
        let records = person_records(&app, jurisdiction).await;
        let source = if role == "kesbangpol" {
            PERSON
        } else {
            // Municipality may count by these only (policy.toml).
            Source {
                field: "personStatistics",
                dims: &[
                    ("SEX", "sex"),
                    ("NATIONALITY", "nationality"),
                    ("DISTRICT", "district"),
                    ("RESIDENCE_REGION", "residenceRegion"),
                ],
            }
        };
        attack(&app, &token, &source, records).await;
    }
}

async fn record_statistics_cannot_be_differenced(app: TestApp) {
    let token = app.token("kesbangpol");
    let (_, jurisdiction) = pora_tests::demo_agency("kesbangpol");
    for source in [VIOLATION, MONTHLY_REPORT] {
        let records = record_rows(&app, jurisdiction, &source).await;
        attack(&app, &token, &source, records).await;
    }
}

async fn a_question_over_too_many_dimensions_is_refused(app: TestApp) {
    let reply = app
        .query(
            &app.token("kesbangpol"),
            "{ personStatistics(groupBy: [NATIONALITY, SEX, AGE_BAND, DISTRICT]) { totalCount } }",
        )
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
    assert!(
        reply.message().contains("at most 3 dimensions"),
        "{}",
        reply.body
    );
}

on_both_databases!(
    person_statistics_cannot_be_differenced,
    record_statistics_cannot_be_differenced,
    a_question_over_too_many_dimensions_is_refused,
);
