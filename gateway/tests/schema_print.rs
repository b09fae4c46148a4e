//! `pora-gateway schema print`: the SDLs CI pipelines take from the binary.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_pora-gateway");

fn print(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(BIN)
        .args(["schema", "print"])
        .args(args)
        .env("PORA_DATA_DIR", dir.path())
        .output()
        .expect("run pora-gateway");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn federation_prints_the_composed_subgraph_sdl() {
    let sdl = print(&["--federation"]);
    async_graphql::parser::parse_schema(&sdl).expect("the composed SDL parses");
    assert!(
        sdl.starts_with("extend schema\n  @link(url: \"https://specs.apollo.dev/federation/v2.5\"")
    );
    for key in [
        "type Person @key(fields: \"id\")",
        "type Case @key(fields: \"id\") @key(fields: \"unhcrCaseNumber\")",
        "type Shelter @key(fields: \"id\")",
    ] {
        assert!(sdl.contains(key), "{key}");
    }
    assert!(sdl.contains("@requiresScopes(scopes: [[\"role:"));
}

#[test]
fn a_roles_federation_sdl_is_its_own_schema() {
    let plain = print(&["--role", "police"]);
    let federated = print(&["--role", "police", "--federation"]);
    async_graphql::parser::parse_schema(&federated).expect("parses");
    assert!(federated.contains("@link(") && !plain.contains("@link("));
    // Police read no claim narrative anywhere, federated or not.
    assert!(!federated.contains("claimNarrative") && !plain.contains("claimNarrative"));
}
