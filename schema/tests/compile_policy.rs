//! The policy file in the repository compiles, and every role's schema builds from it.

use std::sync::Arc;

use schema::{Policy, RateLimiter, SchemaOptions, build_schema};

#[test]
fn builtin_policy_builds_every_role() {
    let policy = Policy::builtin().expect("policy.toml compiles");
    // The seven roles of shared/domain.md.
    assert_eq!(
        policy.roles.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "admin",
            "immigration",
            "iom",
            "kesbangpol",
            "municipality",
            "police",
            "unhcr"
        ]
    );
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
    let base = "[roles.police]\n\n[roles.police.types.Shelter]\nrows = { region = { within = \"$jurisdiction\" } }\n";
    assert_eq!(
        compile_err(&format!("{base}read = [\"id\", \"colour\"]\n")),
        "p.toml:5: police: type Shelter has no field `colour`"
    );
    assert!(compile_err("[roles.Sheriff]\n").starts_with("p.toml:1: role name `Sheriff`"));
    assert!(compile_err("[roles.sheriff]\n").starts_with("p.toml:1: role sheriff grants nothing"));
    assert!(
        compile_err(
            "[roles.police]\n[roles.police.types.Spaceship]\nrows = true\nread = [\"id\"]\n"
        )
        .starts_with("p.toml:2: role police: unknown type `Spaceship`")
    );
    assert!(
        compile_err(
            "[roles.police]\n[roles.police.types.Shelter]\nrows = \"everything\"\nread = [\"id\"]\n"
        )
        .starts_with(
            "p.toml:3: police.Shelter: row rule: a row rule of Shelter is true, false or a table"
        )
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
    // A count the database keeps (`Shelter.occupancy`, triggers on placements) is read, never
    // written: no `createShelter`/`updateShelter` input sets it.
    for mutation in ["create", "update"] {
        assert_eq!(
            compile_err(&format!(
                "{base}read = [\"id\", \"occupancy\"]\nwrite = [\"occupancy\"]\nmutations = [\"{mutation}\"]\n"
            )),
            "p.toml:6: police.Shelter: `occupancy` cannot be written (only columns, forward relations and links can)"
        );
    }
    // A relation to a type the role does not have would be a way around the policy.
    assert!(
        compile_err(&format!("{base}read = [\"id\", \"placements\"]\n"))
            .contains("police.Shelter.placements: the role has no type Placement")
    );
}

/// A role with one type whose row rule is `rule` (on line 3), reading `id` and `read`.
fn rule_err(type_name: &str, rule: &str) -> String {
    compile_err(&format!(
        "[roles.dinsos]\n[roles.dinsos.types.{type_name}]\nrows = {rule}\nread = [\"id\"]\n"
    ))
}

#[test]
fn mistakes_in_row_rules_name_their_line() {
    let cases = [
        (
            "Shelter",
            "{ colour = { eq = \"red\" } }",
            "type Shelter has no field `colour`",
        ),
        (
            "Shelter",
            "{ region = { near = \"31\" } }",
            "`region` has no operator `near`",
        ),
        (
            "Shelter",
            "{ region = { within = \"$city\" } }",
            "unknown session value `$city`",
        ),
        (
            "Shelter",
            "{ kind = { eq = \"CASTLE\" } }",
            "`CASTLE` is no ShelterKind",
        ),
        (
            "Shelter",
            "{ capacity = { gt = \"$now\" } }",
            "`capacity`: expected an Int",
        ),
        (
            "Shelter",
            "{ occupancy = { gt = 1 } }",
            "Shelter.occupancy is maintained by the database",
        ),
        (
            "Incident",
            "{ involvedPersonCount = { gt = 1 } }",
            "Incident.involvedPersonCount is computed",
        ),
        (
            "Shelter",
            "{ operator = { colour = { eq = 1 } } }",
            "type Agency has no field `colour`",
        ),
        (
            "Shelter",
            "{ or = { region = { within = \"31\" } } }",
            "`or` takes a list of rules",
        ),
        (
            "Shelter",
            "{ visible = true }",
            "refer to each other in a circle (Shelter → Shelter)",
        ),
        (
            "Placement",
            "{ person = { visible = true } }",
            "the role has no type Person",
        ),
    ];
    for (type_name, rule, expected) in cases {
        let message = rule_err(type_name, rule);
        assert!(
            message.starts_with("p.toml:3: dinsos.") && message.contains(expected),
            "{rule}: {message}"
        );
    }
}

#[test]
fn a_multi_line_rule_names_the_line_of_its_mistake() {
    let message = compile_err(
        "[roles.dinsos]\n[roles.dinsos.types.Shelter]\nrows = { or = [\n  { region = { within = \"$jurisdiction\" } },\n  { operator = { cod = { eq = \"$agency\" } } },\n] }\nread = [\"id\"]\n",
    );
    assert!(
        message.starts_with("p.toml:5: dinsos.Shelter: row rule: type Agency has no field `cod`"),
        "{message}"
    );
}
