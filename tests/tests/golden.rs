//! Golden answers as data (as Hasura's engine keeps them): each folder of `tests/golden` holds
//! `request.graphql`, optionally `variables.json`, and `expected/<role>.json`, the whole answer
//! each role must get from the demo data (its `requestId`s removed). Every case names at least
//! two roles, so each doubles as a leak check: a field or row one role gets and another must
//! not is in the files side by side. `PORA_GOLDEN_WRITE=1` rewrites the expected files from the
//! answers (review the diff before committing it).

use std::path::{Path, PathBuf};

use pora_tests::{TestApp, on_both_databases};
use serde_json::Value;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/golden")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("request.graphql").exists())
        .collect();
    cases.sort();
    cases
}

/// The answer without what differs from request to request.
fn stable(mut body: Value) -> Value {
    if let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) {
        for e in errors {
            if let Some(ext) = e.get_mut("extensions").and_then(Value::as_object_mut) {
                ext.remove("requestId");
            }
        }
    }
    body
}

async fn every_golden_answer_is_what_each_role_gets(app: TestApp) {
    let write = std::env::var("PORA_GOLDEN_WRITE").is_ok_and(|v| v == "1");
    let cases = cases();
    assert!(cases.len() >= 3, "{cases:?}");
    let mut mismatches = Vec::new();
    for case in cases {
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let query = std::fs::read_to_string(case.join("request.graphql")).expect("request");
        let variables: Value = std::fs::read_to_string(case.join("variables.json"))
            .map(|t| serde_json::from_str(&t).expect("variables.json"))
            .unwrap_or_else(|_| serde_json::json!({}));
        let variables = resolve(&app, variables).await;
        let expected_dir = case.join("expected");
        let mut roles: Vec<PathBuf> = std::fs::read_dir(&expected_dir)
            .expect("expected/")
            .map(|e| e.expect("entry").path())
            .collect();
        roles.sort();
        assert!(roles.len() >= 2, "{name}: at least two roles");
        for file in roles {
            let role = file
                .file_stem()
                .expect("role")
                .to_string_lossy()
                .to_string();
            let reply = app
                .query_vars(&app.token(&role), &query, variables.clone())
                .await;
            let got = stable(reply.body);
            if write {
                std::fs::write(
                    &file,
                    serde_json::to_string_pretty(&got).expect("json") + "\n",
                )
                .expect("write");
                continue;
            }
            let expected: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).expect("expected"))
                    .expect("expected json");
            if got != expected {
                mismatches.push(format!(
                    "{name} as {role}:\nexpected {}\n     got {}",
                    expected, got
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

/// Variables may name a demo row by a query on the raw tables: `{"$sql": "SELECT id …"}`
/// becomes that statement's first value, so a case never hard-codes a generated id.
async fn resolve(app: &TestApp, variables: Value) -> Value {
    use sea_orm::{ConnectionTrait, Statement};
    let Value::Object(map) = variables else {
        return variables;
    };
    let mut out = serde_json::Map::new();
    for (key, value) in map {
        let value = match value.get("$sql").and_then(Value::as_str) {
            Some(sql) => {
                let row = app
                    .db
                    .query_one_raw(Statement::from_string(
                        app.db.get_database_backend(),
                        sql.to_owned(),
                    ))
                    .await
                    .expect("variable query")
                    .unwrap_or_else(|| panic!("no row for {sql}"));
                Value::String(row.try_get_by_index::<String>(0).expect("text"))
            }
            None => value,
        };
        out.insert(key, value);
    }
    Value::Object(out)
}

on_both_databases!(every_golden_answer_is_what_each_role_gets);
