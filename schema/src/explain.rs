//! A compiled policy in plain words, for the people who sign off on it: `explain` says what one
//! role sees (types, fields, masks, row rules, writes, statistics and their protection,
//! operations); `diff` lists, per role, everything gained or lost between two policies. Both
//! are generated from the compiled policy, never from the file's text, so they say what the
//! gateway will enforce.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::catalogue::FieldKind;
use crate::policy::{Access, Policy, RoleView, TypeView};

/// The fields whose columns a mask reads.
fn source_fields(view: &TypeView, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| {
            view.def
                .fields
                .iter()
                .find(|f| f.column().is_some_and(|(col, _, _)| col == *c))
                .map_or(*c, |f| f.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a role reads a field, in words.
fn access_words(view: &TypeView, field: &crate::policy::FieldView) -> String {
    let def = field.def;
    let base = match def.kind {
        FieldKind::Column { .. } => "in full".to_owned(),
        FieldKind::Mask { sources, .. } => {
            format!("masked (computed from {})", source_fields(view, sources))
        }
        FieldKind::Expression { .. } => "computed by the database".to_owned(),
        FieldKind::Maintained { .. } => {
            "kept by the database (updated with each write that changes it)".to_owned()
        }
        FieldKind::Relation { target, many, .. } => format!(
            "relation to {}{target} rows, under its rule for {target}",
            if many { "a list of " } else { "one of its " }
        ),
    };
    match field.access {
        Access::Full => base,
        Access::Referred => format!(
            "{base}, only for persons with an accepted, unexpired referral to its agency (null otherwise)"
        ),
    }
}

/// What `role` sees, in plain words.
pub fn explain(role: &RoleView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Role {}", role.name);
    if let Some(description) = &role.description {
        let _ = writeln!(out, "  {description}");
    }
    let _ = match role.agency_kind {
        Some(kind) => writeln!(out, "  Its tokens name an agency of kind {kind}."),
        None => writeln!(
            out,
            "  Its tokens name the gateway's own administration (no agency kind)."
        ),
    };
    if role.types.is_empty() {
        let _ = writeln!(out, "\nNo case-data types.");
    }
    for view in role.types.values() {
        let mut roots = Vec::new();
        if view.list {
            roots.push(format!("list {}(…)", view.def.list_field));
        }
        if view.get {
            roots.push(format!("look up {}(id:)", view.def.get_field));
        }
        let _ = writeln!(
            out,
            "\n{} ({})",
            view.def.name,
            if roots.is_empty() {
                "reached only through relations".to_owned()
            } else {
                roots.join(", ")
            }
        );
        let _ = writeln!(out, "  rows: {}", view.rows.words());
        let mut groups: BTreeMap<u8, (String, Vec<String>)> = BTreeMap::new();
        for field in &view.fields {
            let (order, heading, item) = match (field.access, field.def.kind) {
                (Access::Referred, _) => (
                    5,
                    "by referral only (null without an accepted, unexpired referral to its agency)",
                    field.def.name.to_owned(),
                ),
                (_, FieldKind::Column { .. }) => (0, "in full", field.def.name.to_owned()),
                (_, FieldKind::Relation { target, many, .. }) => (
                    1,
                    "relations (each under its rule for the target type)",
                    format!(
                        "{} ({}{target})",
                        field.def.name,
                        if many { "list of " } else { "" }
                    ),
                ),
                (_, FieldKind::Mask { sources, .. }) => (
                    2,
                    "masked (computed in the database from values it does not read)",
                    format!("{} (from {})", field.def.name, source_fields(view, sources)),
                ),
                (_, FieldKind::Expression { .. }) => {
                    (3, "computed by the database", field.def.name.to_owned())
                }
                (_, FieldKind::Maintained { .. }) => (
                    4,
                    "kept by the database (updated with each write that changes it)",
                    field.def.name.to_owned(),
                ),
            };
            groups
                .entry(order)
                .or_insert_with(|| (heading.to_owned(), Vec::new()))
                .1
                .push(item);
        }
        for (heading, items) in groups.values() {
            let _ = writeln!(out, "  {heading}: {}", items.join(", "));
        }
        let hidden: Vec<&str> = view
            .def
            .fields
            .iter()
            .filter(|f| view.field(f.name).is_none())
            .map(|f| f.name)
            .collect();
        if !hidden.is_empty() {
            let _ = writeln!(out, "  not in its schema: {}", hidden.join(", "));
        }
        let filterable: Vec<&str> = view
            .fields
            .iter()
            .filter(|f| f.filterable().is_some())
            .map(|f| f.def.name)
            .collect();
        let _ = writeln!(out, "  filters and sorts by: {}", filterable.join(", "));
        let mut writes = Vec::new();
        if view.create {
            writes.push(format!("create{}", view.def.name));
        }
        if view.update {
            writes.push(format!("update{}", view.def.name));
        }
        if !view.writable.is_empty() {
            let fields: Vec<&str> = view.writable.iter().map(|f| f.name).collect();
            let _ = writeln!(
                out,
                "  writes ({}): {}",
                writes.join(", "),
                fields.join(", ")
            );
        }
        for link in &view.links {
            let _ = writeln!(
                out,
                "  links: add{0}{1} / remove{0}{1}",
                view.def.name,
                capitalised(link.name)
            );
        }
    }
    if role.statistics.is_empty() {
        let _ = writeln!(out, "\nStatistics: none.");
    } else {
        let d = role.disclosure;
        let _ = writeln!(
            out,
            "\nStatistics (counts of persons living in its jurisdiction, cell-key perturbed by at most ±{}; \
             a count below {} is not listed; at most {} dimensions per question):",
            d.max_noise, d.threshold, d.max_dimensions
        );
        for st in &role.statistics {
            let _ = writeln!(
                out,
                "  - {}: grouped by {}",
                st.def.field,
                st.dimensions.join(", ")
            );
        }
    }
    let operations: Vec<&str> = role.operations.iter().copied().collect();
    let _ = writeln!(
        out,
        "\nOperations: {}",
        if operations.is_empty() {
            "none".to_owned()
        } else {
            operations.join(", ")
        }
    );
    out
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// Everything a role grants, as comparable lines (`Person.fullName: by referral`).
fn grants(role: &RoleView) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert(
        "tokens name an agency of kind".to_owned(),
        role.agency_kind.unwrap_or("(administration)").to_owned(),
    );
    for view in role.types.values() {
        let t = view.def.name;
        out.insert(format!("{t} rows"), view.rows.words());
        if view.list {
            out.insert(format!("{t} list"), view.def.list_field.to_owned());
        }
        if view.get {
            out.insert(format!("{t} lookup"), view.def.get_field.to_owned());
        }
        for field in &view.fields {
            out.insert(format!("{t}.{}", field.def.name), access_words(view, field));
        }
        for field in &view.writable {
            out.insert(format!("{t}.{} write", field.name), "may set".to_owned());
        }
        for link in &view.links {
            out.insert(
                format!("{t}.{} links", link.name),
                "may add and remove".to_owned(),
            );
        }
        if view.create {
            out.insert(format!("create{t}"), "operation".to_owned());
        }
        if view.update {
            out.insert(format!("update{t}"), "operation".to_owned());
        }
    }
    for st in &role.statistics {
        for dim in &st.dimensions {
            out.insert(
                format!("{} by {dim}", st.def.field),
                "statistics dimension".to_owned(),
            );
        }
    }
    if !role.statistics.is_empty() {
        let d = role.disclosure;
        out.insert("statistics threshold".to_owned(), d.threshold.to_string());
        out.insert(
            "statistics max_dimensions".to_owned(),
            d.max_dimensions.to_string(),
        );
        out.insert("statistics max_noise".to_owned(), d.max_noise.to_string());
    }
    for op in &role.operations {
        out.insert((*op).to_owned(), "operation".to_owned());
    }
    out
}

/// Per role, what `new` grants that `old` did not (`+`), what it no longer grants (`-`), and
/// what it grants differently (`~`, old → new). Empty when the two grant the same.
pub fn diff(old: &Policy, new: &Policy) -> String {
    let mut out = String::new();
    let names: BTreeSet<&String> = old.roles.keys().chain(new.roles.keys()).collect();
    for name in names {
        let (before, after) = (old.roles.get(name), new.roles.get(name));
        let b = before.map(|r| grants(r)).unwrap_or_default();
        let a = after.map(|r| grants(r)).unwrap_or_default();
        let mut lines = Vec::new();
        for (key, value) in &a {
            match b.get(key) {
                None => lines.push(format!("  + {key}: {value}")),
                Some(was) if was != value => {
                    lines.push(format!("  ~ {key}: {was}\n      → {value}"));
                }
                _ => {}
            }
        }
        for (key, value) in &b {
            if !a.contains_key(key) {
                lines.push(format!("  - {key}: {value}"));
            }
        }
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "role {name}{}",
            match (before, after) {
                (None, Some(_)) => " (new)",
                (Some(_), None) => " (removed)",
                _ => "",
            }
        );
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}
