//! `pora-gateway token …`: issue prints only the token; list filters by agency, role and state
//! and never shows a token value; revoke changes the state.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_pora-gateway");

fn run(dir: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .env("PORA_DATA_DIR", dir)
        .env("PORA_LOG", "error")
        .output()
        .expect("run pora-gateway");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The `jti` of a token (its payload's `jti`).
fn token_id(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    let claims: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    claims["jti"].as_str().expect("jti").to_owned()
}

/// The ids listed by `token list` with `filters`.
fn listed(dir: &std::path::Path, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["token", "list"];
    args.extend_from_slice(filters);
    run(dir, &args)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().expect("id").to_owned())
        .collect()
}

#[test]
fn tokens_are_listed_by_role_and_state_without_their_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let issue = |role: &str, agency: &str, scopes: &str| {
        let mut args = vec![
            "token",
            "issue",
            "--role",
            role,
            "--agency",
            agency,
            "--jurisdiction",
            "31.71",
            "--ttl",
            "2h",
        ];
        if !scopes.is_empty() {
            args.extend(["--scopes", scopes]);
        }
        run(dir.path(), &args).trim().to_owned()
    };
    let police = issue("police", "POLRES-JKP", "Incident:read,Shelter");
    let unhcr = issue("unhcr", "UNHCR-JKT", "");
    let (police_id, unhcr_id) = (token_id(&police), token_id(&unhcr));

    let all = run(dir.path(), &["token", "list"]);
    assert!(
        !all.contains(&police) && !all.contains(&unhcr),
        "no token values"
    );
    assert!(all.contains("Incident:read,Shelter") && all.contains("(whole role)"));
    assert_eq!(
        listed(dir.path(), &["--role", "unhcr"]),
        std::slice::from_ref(&unhcr_id)
    );
    assert_eq!(
        listed(dir.path(), &["--agency", "POLRES-JKP"]),
        std::slice::from_ref(&police_id)
    );

    run(dir.path(), &["token", "revoke", &police_id]);
    assert_eq!(listed(dir.path(), &["--state", "revoked"]), [police_id]);
    assert_eq!(listed(dir.path(), &["--state", "active"]), [unhcr_id]);
    assert!(listed(dir.path(), &["--state", "expired"]).is_empty());
}

#[test]
fn a_scope_outside_the_role_is_refused_at_issue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(BIN)
        .args([
            "token",
            "issue",
            "--role",
            "police",
            "--agency",
            "POLRES-JKP",
            "--jurisdiction",
            "31.71",
            "--scopes",
            "Incident,personAccessReport",
        ])
        .env("PORA_DATA_DIR", dir.path())
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no token printed");
    assert!(String::from_utf8_lossy(&output.stderr).contains("personAccessReport"));
}
