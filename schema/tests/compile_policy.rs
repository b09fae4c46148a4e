//! The policy file in the repository compiles, and every role's schema builds from it.

use std::sync::Arc;

use schema::{Policy, RateLimiter, SchemaOptions, build_schema};

#[test]
fn builtin_policy_builds_every_role() {
    let policy = Policy::builtin().expect("policy.toml compiles");
    assert_eq!(policy.roles.len(), schema::policy::ROLES.len());
    for (name, role) in &policy.roles {
        let schema = build_schema(
            role,
            &SchemaOptions::default(),
            Arc::new(RateLimiter::new(5)),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(schema.sdl().contains("type Query"), "{name}");
    }
}

fn compile_err(text: &str) -> String {
    Policy::compile("p.toml", text)
        .expect_err("must fail")
        .to_string()
}

#[test]
fn mistakes_in_the_policy_name_their_line() {
    let base = "[roles.police]\n\n[roles.police.types.Shelter]\nrows = \"in_jurisdiction\"\n";
    assert_eq!(
        compile_err(&format!("{base}read = [\"id\", \"colour\"]\n")),
        "p.toml:5: police: type Shelter has no field `colour`"
    );
    assert!(compile_err("[roles.sheriff]\n").starts_with("p.toml:1: unknown role `sheriff`"));
    assert!(
        compile_err(
            "[roles.police]\n[roles.police.types.Spaceship]\nrows = \"all\"\nread = [\"id\"]\n"
        )
        .starts_with("p.toml:2: role police: unknown type `Spaceship`")
    );
    assert!(
        compile_err(
            "[roles.police]\n[roles.police.types.Shelter]\nrows = \"everything\"\nread = [\"id\"]\n"
        )
        .starts_with("p.toml:3: police.Shelter: unknown row filter `everything`")
    );
    assert!(
        compile_err(&format!("{base}read = [\"id\"]\ncolour = 1\n"))
            .starts_with("p.toml:6: unknown field `colour`")
    );
    assert!(
        compile_err("[roles.kesbangpol.statistics]\nPerson = [\"religion\"]\n").starts_with(
            "p.toml:2: kesbangpol: statistics over Person have no dimension `religion`"
        )
    );
    assert_eq!(
        compile_err(&format!(
            "{base}read = [\"id\"]\nqueries = [\"list\", \"browse\"]\n"
        )),
        "p.toml:6: police.Shelter: unknown query `browse` (known: list, get)"
    );
    assert_eq!(
        compile_err(&format!(
            "{base}read = [\"id\", \"name\"]\nwrite = [\"name\"]\nmutations = [\"delete\"]\n"
        )),
        "p.toml:7: police.Shelter: unknown mutation `delete` (known: create, update)"
    );
    // W implies R.
    assert!(
        compile_err(&format!(
            "{base}read = [\"id\"]\nwrite = [\"name\"]\nmutations = [\"update\"]\n"
        ))
        .contains("police.Shelter: `name` is written but not read in full")
    );
    // A relation to a type the role does not have would be a way around the policy.
    assert!(
        compile_err(&format!("{base}read = [\"id\", \"placements\"]\n"))
            .contains("police.Shelter.placements: the role has no type Placement")
    );
}
