//! A size-bounded fuzzer over GraphQL requests (proptest): documents built from the schema's
//! own names and from hostile pieces (deep nesting, huge lists, odd bytes, broken syntax),
//! with random variables, sent to a running gateway as every role. Whatever arrives, the
//! answer is quick, typed and never a server error, and the gateway keeps serving.
//!
//! A bounded smoke runs with the suite (`PORA_FUZZ_CASES`, default 150 cases per database);
//! for a longer run: `PORA_FUZZ_CASES=20000 cargo test -p pora-tests --test fuzz -- --nocapture`.

use std::time::{Duration, Instant};

use pora_tests::{TestApp, on_both_databases};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};

const NAMES: &[&str] = &[
    "persons",
    "person",
    "nodes",
    "edges",
    "node",
    "cursor",
    "pageInfo",
    "totalCount",
    "id",
    "fullName",
    "initials",
    "case",
    "members",
    "placements",
    "shelter",
    "name",
    "incidents",
    "involvedPersons",
    "viewer",
    "role",
    "agency",
    "_entities",
    "_service",
    "sdl",
    "__schema",
    "types",
    "__type",
    "__typename",
    "personStatistics",
    "groups",
    "count",
    "verifyDocument",
    "createIncident",
    "auditEvents",
    "religion",
    "claimNarrative",
    "x",
];
const ARGUMENTS: &[&str] = &[
    "first",
    "after",
    "where",
    "orderBy",
    "id",
    "name",
    "representations",
    "groupBy",
    "input",
    "and",
    "or",
    "not",
    "eq",
    "in",
    "within",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(NAMES).prop_map(str::to_owned),
        1 => "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
    ]
}

/// A string literal body with odd characters: escapes, NUL, quotes, non-ASCII.
fn string_body() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => "[a-zA-Z0-9 .:-]{1,6}",
            1 => Just("\\u0000".to_owned()),
            1 => Just("\\\"".to_owned()),
            1 => Just("\u{feff}\u{202e}é漢".to_owned()),
            1 => Just("\\uD800".to_owned()),
            1 => Just("%_\\\\".to_owned()),
        ],
        0..4,
    )
    .prop_map(|parts| parts.concat())
}

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("18446744073709551615".to_owned()),
        Just("1e400".to_owned()),
        string_body().prop_map(|s| format!("\"{s}\"")),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("ASC".to_owned()),
        Just("$v".to_owned()),
        Just("\"31.71\"".to_owned()),
    ];
    leaf.prop_recursive(6, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            proptest::collection::vec((proptest::sample::select(ARGUMENTS), inner.clone()), 0..4)
                .prop_map(|fields| format!(
                    "{{{}}}",
                    fields
                        .into_iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            // A nesting far past any limit.
            (1usize..40_000).prop_map(|d| format!("{}1{}", "[".repeat(d), "]".repeat(d))),
        ]
    })
}

fn arguments() -> impl Strategy<Value = String> {
    proptest::collection::vec((proptest::sample::select(ARGUMENTS), value()), 0..3).prop_map(
        |args| {
            if args.is_empty() {
                String::new()
            } else {
                format!(
                    "({})",
                    args.into_iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        },
    )
}

fn selection() -> impl Strategy<Value = String> {
    let leaf = (name(), arguments()).prop_map(|(n, a)| format!("{n}{a}"));
    leaf.prop_recursive(8, 64, 6, |inner| {
        prop_oneof![
            (
                proptest::option::of("[a-z]{1,3}"),
                name(),
                arguments(),
                proptest::collection::vec(inner.clone(), 1..5)
            )
                .prop_map(|(alias, n, a, children)| {
                    let alias = alias.map_or(String::new(), |a| format!("{a}: "));
                    format!("{alias}{n}{a} {{ {} }}", children.join(" "))
                }),
            proptest::collection::vec(inner.clone(), 1..4)
                .prop_map(|c| format!("... on Person {{ {} }}", c.join(" "))),
            (1usize..200).prop_map(|n| {
                (0..n)
                    .map(|i| format!("a{i}: viewer {{ role }}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            (1usize..30_000).prop_map(|d| format!(
                "{}id{}",
                "persons { ".repeat(d),
                " }".repeat(d)
            )),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::collection::vec(selection(), 1..5)
            .prop_map(|s| format!("query($v: PersonFilter) {{ {} }}", s.join(" "))),
        2 => proptest::collection::vec(selection(), 1..3)
            .prop_map(|s| format!("mutation {{ {} }}", s.join(" "))),
        1 => proptest::collection::vec(selection(), 1..3)
            .prop_map(|s| format!("{{ {} }} fragment F on Person {{ ...F id }}", s.join(" "))),
        // Broken syntax and raw noise.
        1 => "[{}()\\[\\]:$@!.\"#a-z0-9 \n]{0,200}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        string_body().prop_map(Value::from),
        Just(Value::String("a\u{0}b".into())),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
    ];
    leaf.prop_recursive(8, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(
                proptest::sample::select(ARGUMENTS).prop_map(str::to_owned),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
struct Case {
    role: &'static str,
    document: String,
    operation_name: Option<String>,
    variables: Value,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::sample::select(
            &[
                "immigration",
                "unhcr",
                "kesbangpol",
                "police",
                "municipality",
                "iom",
                "admin",
            ][..],
        ),
        document(),
        proptest::option::of(prop_oneof![Just("Q".to_owned()), Just("a\u{0}".to_owned())]),
        json_value(),
    )
        .prop_map(|(role, document, operation_name, v)| Case {
            role,
            document,
            operation_name,
            variables: json!({ "v": v }),
        })
}

fn cases() -> u32 {
    std::env::var("PORA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

async fn fuzzed_requests_get_typed_answers_and_the_gateway_lives(app: TestApp) {
    let tokens: Vec<(&str, String)> = [
        "immigration",
        "unhcr",
        "kesbangpol",
        "police",
        "municipality",
        "iom",
        "admin",
    ]
    .iter()
    .map(|r| (*r, app.token(r)))
    .collect();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let handle = tokio::runtime::Handle::current();
    let slowest = std::sync::Mutex::new(Duration::ZERO);
    let result = runner.run(&case(), |case| {
        let token = &tokens
            .iter()
            .find(|(r, _)| *r == case.role)
            .expect("role")
            .1;
        let mut body = json!({ "query": case.document, "variables": case.variables });
        if let Some(name) = &case.operation_name {
            body["operationName"] = json!(name);
        }
        let started = Instant::now();
        let reply = tokio::task::block_in_place(|| {
            handle.block_on(app.post_raw(
                Some(token),
                "application/json",
                serde_json::to_vec(&body).expect("json"),
            ))
        });
        let took = started.elapsed();
        {
            let mut s = slowest.lock().expect("lock");
            *s = (*s).max(took);
        }
        prop_assert!(
            reply.status < 500,
            "{} for {:?}: {}",
            reply.status,
            case,
            reply.body
        );
        prop_assert!(
            started.elapsed() < Duration::from_secs(10),
            "slow: {case:?}"
        );
        if let Some(errors) = reply.body.get("errors").and_then(Value::as_array) {
            for error in errors {
                prop_assert!(
                    error["extensions"]["code"].is_string(),
                    "an error without a code: {error}"
                );
                let message = error["message"].as_str().unwrap_or("");
                prop_assert!(
                    !message.contains("SELECT") && !message.contains("sqlx"),
                    "{message}"
                );
            }
        } else {
            prop_assert!(reply.body.get("data").is_some(), "{}", reply.body);
        }
        Ok(())
    });
    println!(
        "{} cases, slowest answer {:?}",
        cases(),
        slowest.lock().expect("lock")
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // Still serving every agency.
    for (role, token) in &tokens {
        let reply = app.query(token, "{ viewer { role } }").await;
        assert_eq!(reply.data()["viewer"]["role"], *role);
    }
}

fn config(c: &mut pora_tests::Config) {
    c.max_body_bytes = 4 * 1024 * 1024;
    c.max_cost = pora_tests::Config::default().max_cost;
    c.rate_limits.requests_per_minute = 0;
    c.rate_limits.cost_per_minute = 0;
}

on_both_databases!(config = config; fuzzed_requests_get_typed_answers_and_the_gateway_lives);
