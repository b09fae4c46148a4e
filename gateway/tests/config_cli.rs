//! `pora-gateway config print` and `config check`: every key from the file or the environment,
//! the effective values shown with secrets redacted, and any problem an exit code of 1.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_pora-gateway");

fn config(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let temp = tempfile::tempdir().expect("temp dir");
    let output = Command::new(BIN)
        .arg("config")
        .args(args)
        .env("PORA_DATA_DIR", temp.path())
        .envs(env.iter().copied())
        .output()
        .expect("run pora-gateway");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn print_shows_the_environments_values_without_secrets() {
    let (ok, stdout, stderr) = config(
        &["print"],
        &[
            (
                "PORA_DATABASE_URL",
                "postgres://pora:s3cret@db.internal:5432/pora",
            ),
            ("PORA_MAX_COST", "12345"),
            ("PORA_RATE_LIMITS__ROLES__POLICE__REQUESTS_PER_MINUTE", "60"),
            ("PORA_CORS_ORIGINS", "https://a.example,https://b.example"),
        ],
    );
    assert!(ok, "{stderr}");
    let printed: toml::Table = toml::from_str(&stdout).expect("TOML");
    assert_eq!(printed["max_cost"].as_integer(), Some(12345));
    assert_eq!(
        printed["rate_limits"]["roles"]["police"]["requests_per_minute"].as_integer(),
        Some(60)
    );
    assert_eq!(printed["cors_origins"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        printed["database_url"].as_str(),
        Some("postgres://…@db.internal:5432/pora")
    );
    assert!(!stdout.contains("s3cret"), "{stdout}");
    // Every key of the example file is printed, so the effective value of each can be read.
    let example: toml::Table =
        toml::from_str(include_str!("../../pora.example.toml")).expect("example");
    for key in example.keys() {
        assert!(printed.contains_key(key), "`{key}` is not printed");
    }
}

#[test]
fn check_exits_one_on_any_problem() {
    let (ok, stdout, stderr) = config(&["check"], &[]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("configuration ok"), "{stdout}");
    for (name, value, says) in [
        ("PORA_MAX_COSTT", "1", "max_costt"),
        ("PORA_DB_ACQUIRE_TIMEOUT", "-1", "db_acquire_timeout"),
        ("PORA_POLICY", "/nonexistent/policy.toml", "policy"),
        (
            "PORA_CORS_ORIGINS",
            "https://a.example/path",
            "cors_origins",
        ),
    ] {
        let (ok, _, stderr) = config(&["check"], &[(name, value)]);
        assert!(!ok, "{name}={value} passed the check");
        assert!(stderr.contains(says), "{name}: {stderr}");
    }
}
