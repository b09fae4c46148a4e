//! `pora-gateway policy check | explain | diff`: what a data-protection officer runs before
//! signing off a change to the agreement. Expectations are facts of `shared/domain.md` and of
//! the change made here, not the output of the code under test.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_pora-gateway");

/// Runs the binary with `args`; returns (exit success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(BIN)
        .args(args)
        .env("PORA_DATA_DIR", dir.path())
        .env_remove("PORA_POLICY")
        .env_remove("PORA_CONFIG")
        .output()
        .expect("run pora-gateway");
    (
        output.status.success(),
        String::from_utf8(output.stdout).expect("utf-8"),
        String::from_utf8(output.stderr).expect("utf-8"),
    )
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The built-in policy with `edit` applied (an exact text replacement) and the social
/// service's role appended, written to a file in `dir`.
fn changed_policy(dir: &Path, edit: (&str, &str)) -> PathBuf {
    let builtin = std::fs::read_to_string(repo("policy.toml")).expect("policy.toml");
    assert!(builtin.contains(edit.0), "the edit applies: {}", edit.0);
    let role = std::fs::read_to_string(repo("tests/policies/dinsos.toml")).expect("dinsos.toml");
    let path = dir.join("changed.toml");
    std::fs::write(
        &path,
        format!("{}\n{role}", builtin.replacen(edit.0, edit.1, 1)),
    )
    .expect("write");
    path
}

#[test]
fn check_accepts_the_builtin_policy_and_names_the_line_of_a_mistake() {
    let (ok, out, err) = run(&["policy", "check", "builtin"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with(
            "policy ok: 7 roles (admin, immigration, iom, kesbangpol, municipality, police, unhcr)"
        ),
        "{out}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "[roles.dinsos]\nagency_kind = \"MUNICIPALITY\"\n\n[roles.dinsos.types.Shelter]\nrows = { regoin = { within = \"$jurisdiction\" } }\nread = [\"id\"]\n",
    )
    .expect("write");
    let (ok, out, err) = run(&["policy", "check", broken.to_str().expect("path")]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("broken.toml:5: dinsos.Shelter: row rule: type Shelter has no field `regoin`"),
        "{err}"
    );
}

#[test]
fn explain_says_what_a_role_sees_in_plain_words() {
    let (ok, police, err) = run(&["policy", "explain", "--role", "police"]);
    assert!(ok, "{err}");
    // domain.md: police reach persons by id only, through incidents or referrals ("no browsing").
    let person = section(&police, "Person");
    assert!(
        person.starts_with("Person (look up person(id:))"),
        "{person}"
    );
    assert!(
        person.contains("incidents where region lies within your jurisdiction"),
        "{person}"
    );
    assert!(person.contains("status is ACCEPTED"), "{person}");
    // Name and phone are P for the police; religion, ethnicity, the claim: none.
    let referred = line(person, "by referral only");
    for f in ["fullName", "phone"] {
        assert!(referred.contains(f), "{referred}");
    }
    let hidden = line(person, "not in its schema");
    for f in ["religion", "ethnicity", "claimNarrative", "medicalNotes"] {
        assert!(hidden.contains(f), "{hidden}");
    }
    assert!(line(&police, "Operations").contains("verifyDocument"));
    assert!(police.contains("Statistics: none."));

    // Kesbangpol: aggregates only, protected as the matrix says (below 5 suppressed).
    let (ok, kesbangpol, _) = run(&["policy", "explain", "--role", "kesbangpol"]);
    assert!(ok);
    assert!(
        !kesbangpol.contains("\nPerson ("),
        "no person rows: {kesbangpol}"
    );
    assert!(
        kesbangpol.contains("a count below 5 is not listed"),
        "{kesbangpol}"
    );
    assert!(line(&kesbangpol, "  - personStatistics").contains("nationality"));

    let (ok, _, err) = run(&["policy", "explain", "--role", "sheriff"]);
    assert!(!ok);
    assert!(err.contains("no role `sheriff`"), "{err}");
}

#[test]
fn diff_lists_what_each_role_gains_and_loses() {
    let (ok, same, err) = run(&[
        "policy",
        "diff",
        "builtin",
        repo("policy.toml").to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    assert_eq!(same.trim(), "no difference: every role is granted the same");

    // The change under review: the police lose the phone number; the social service joins.
    let dir = tempfile::tempdir().expect("temp dir");
    let changed = changed_policy(
        dir.path(),
        (
            "referred = [\"fullName\", \"aliases\", \"phone\", \"residenceAddress\"]",
            "referred = [\"fullName\", \"aliases\", \"residenceAddress\"]",
        ),
    );
    let (ok, diff, err) = run(&["policy", "diff", "builtin", changed.to_str().expect("path")]);
    assert!(ok, "{err}");
    let police = role_block(&diff, "police");
    assert!(
        police.contains("  - Person.phone: in full, only for persons with an accepted"),
        "{diff}"
    );
    assert_eq!(police.lines().count(), 1, "only that: {police}");
    let dinsos = role_block(&diff, "dinsos (new)");
    for gained in [
        "  + Person lookup: person",
        "  + Person.specificNeeds: in full, only for persons with an accepted",
        "  + Shelter rows: region lies within your jurisdiction",
        "  + acceptReferral: operation",
    ] {
        assert!(dinsos.contains(gained), "{gained}: {dinsos}");
    }
    assert!(
        !dinsos.contains("  - "),
        "a new role loses nothing: {dinsos}"
    );
    for untouched in [
        "immigration",
        "unhcr",
        "iom",
        "municipality",
        "kesbangpol",
        "admin",
    ] {
        assert!(
            !diff.contains(&format!("role {untouched}")),
            "{untouched}: {diff}"
        );
    }
}

#[test]
fn diff_shows_a_tightened_row_rule_old_and_new() {
    let dir = tempfile::tempdir().expect("temp dir");
    // After a review, the municipality sees only shelters it operates.
    let builtin = std::fs::read_to_string(repo("policy.toml")).expect("policy.toml");
    let at = builtin
        .find("[roles.municipality.types.Shelter]")
        .expect("section");
    let rows = at + builtin[at..].find("rows = ").expect("rows");
    let end = rows + builtin[rows..].find('\n').expect("line end");
    let changed = dir.path().join("tightened.toml");
    std::fs::write(
        &changed,
        format!(
            "{}rows = {{ operator = {{ code = {{ eq = \"$agency\" }} }} }}{}",
            &builtin[..rows],
            &builtin[end..]
        ),
    )
    .expect("write");
    let (ok, diff, err) = run(&["policy", "diff", "builtin", changed.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert_eq!(
        diff.trim(),
        "role municipality\n  ~ Shelter rows: region lies within your jurisdiction\n      → whose operator's code is your agency's code"
    );
}

/// The block of `explain` output for one type (from its heading to the next blank line).
fn section<'a>(out: &'a str, type_name: &str) -> &'a str {
    let start = out
        .find(&format!("\n{type_name} ("))
        .unwrap_or_else(|| panic!("no section {type_name}: {out}"))
        + 1;
    let end = out[start..].find("\n\n").map_or(out.len(), |e| start + e);
    &out[start..end]
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(prefix.trim_start()))
        .unwrap_or_else(|| panic!("no line {prefix}: {out}"))
}

/// The lines of `diff` output under `role <name>`.
fn role_block(diff: &str, name: &str) -> String {
    let heading = format!("role {name}\n");
    let start = diff
        .find(&heading)
        .unwrap_or_else(|| panic!("no {heading}: {diff}"))
        + heading.len();
    diff[start..]
        .lines()
        .take_while(|l| l.starts_with("  "))
        .collect::<Vec<_>>()
        .join("\n")
}
