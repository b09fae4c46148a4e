//! `pora-gateway token …`: issue prints only the token; list filters by agency, role and state
//! and never shows a token value; revoke changes the state.

mod support;

use std::process::{Command, Stdio};

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

/// Runs and returns (success, stdout, stderr).
fn attempt(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .env("PORA_DATA_DIR", dir)
        .env("PORA_LOG", "error")
        .output()
        .expect("run pora-gateway");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn issue_tells_the_id_and_list_finds_the_note_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = [
        "token",
        "issue",
        "--role",
        "unhcr",
        "--agency",
        "UNHCR-JKT",
        "--jurisdiction",
        "31",
        "--ttl",
        "8h",
        "--purpose",
        "PROTECTION",
        "--note",
        "liaison laptop",
    ];
    let (ok, stdout, stderr) = attempt(dir.path(), &args);
    assert!(ok, "{stderr}");
    let token = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "the token alone on stdout");
    assert!(
        stderr.contains(&format!("id {}", token_id(token))),
        "{stderr}"
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let issued: serde_json::Value =
        serde_json::from_str(&run(dir.path(), &json_args)).expect("json");
    assert_eq!(
        issued["token_info"]["id"],
        token_id(issued["token"].as_str().expect("token"))
    );

    let table = run(dir.path(), &["token", "list"]);
    assert!(
        table.contains("liaison laptop")
            && table.contains("cli-user")
            && table.contains("PROTECTION"),
        "{table}"
    );
    let lines: Vec<serde_json::Value> = run(dir.path(), &["token", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(line["note"], "liaison laptop");
        assert_eq!(line["subject"], "cli-user");
        assert_eq!(line["state"], "active");
        assert!(line.get("token").is_none(), "never the value");
    }
}

#[test]
fn a_token_names_an_agency_that_exists_and_fits_its_role() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (role, agency) in [
        ("admin", "POLRES-JKP"),
        ("unhcr", "NOPE"),
        ("police", "UNHCR-JKT"),
    ] {
        let (ok, stdout, stderr) = attempt(
            dir.path(),
            &[
                "token",
                "issue",
                "--role",
                role,
                "--agency",
                agency,
                "--jurisdiction",
                "31",
            ],
        );
        assert!(!ok, "{role} for {agency} was issued");
        assert!(stdout.is_empty(), "no token printed");
        assert!(stderr.contains(agency), "{stderr}");
    }
    let (ok, _, stderr) = attempt(
        dir.path(),
        &[
            "token",
            "issue",
            "--role",
            "admin",
            "--agency",
            "PORA-ADMIN",
            "--jurisdiction",
            "31",
        ],
    );
    assert!(ok, "{stderr}");
}

#[test]
fn reading_commands_refuse_a_store_that_does_not_exist() {
    let temp = tempfile::tempdir().expect("temp dir");
    let mistyped = temp.path().join("dta");
    for args in [
        &["audit", "verify"][..],
        &["token", "list"][..],
        &["token", "revoke", "0000"][..],
    ] {
        let (ok, stdout, stderr) = attempt(&mistyped, args);
        assert!(
            !ok,
            "{args:?} succeeded on a folder that does not exist: {stdout}"
        );
        assert!(stderr.contains("no gateway database"), "{args:?}: {stderr}");
    }
    assert!(!mistyped.exists(), "nothing was created");
}

/// `token revoke-agency` is the same operation as `revokeTokensOfAgency`: the stored tokens are
/// revoked and the agency is cut off, so a token that was never stored (a development token)
/// is refused too, by a gateway started afterwards.
#[test]
fn revoke_agency_cuts_the_agency_off_for_unstored_tokens_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stored = run(
        dir.path(),
        &[
            "token",
            "issue",
            "--role",
            "unhcr",
            "--agency",
            "UNHCR-JKT",
            "--jurisdiction",
            "31",
        ],
    )
    .trim()
    .to_owned();
    let unstored = run(dir.path(), &["token", "dev", "--role", "unhcr"])
        .lines()
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("eyJ")))
        .expect("a development token")
        .to_owned();
    let other_agency = run(dir.path(), &["token", "dev", "--role", "police"])
        .lines()
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("eyJ")))
        .expect("a development token")
        .to_owned();
    let out = run(dir.path(), &["token", "revoke-agency", "UNHCR-JKT"]);
    assert!(out.starts_with("revoked 1 tokens of UNHCR-JKT"), "{out}");

    let mut child = Command::new(BIN)
        .arg("serve")
        .env("PORA_DATA_DIR", dir.path())
        .env("PORA_LISTEN", "127.0.0.1:0")
        .env("PORA_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let url = support::listening_url(&mut child);
    let client = reqwest::blocking::Client::new();
    let ask = |token: &str| {
        let reply = client
            .post(&url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "query": "{ viewer { agency } }" }))
            .send()
            .expect("request");
        let status = reply.status().as_u16();
        let text = reply.text().expect("body");
        let body: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text:?}: {e}"));
        (status, body["errors"][0]["extensions"]["code"].clone())
    };
    for token in [&stored, &unstored] {
        assert_eq!(ask(token), (401, serde_json::json!("TOKEN_REVOKED")));
    }
    assert_eq!(ask(&other_agency).0, 200, "another agency is not touched");
    let _ = child.kill();
    let _ = child.wait();
}
