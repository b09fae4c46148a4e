//! The modules of the `schema` crate form a ladder (the reader: `ladder/mod.rs`).

mod ladder;

use ladder::{code_only, references};
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn the_modules_of_schema_form_a_ladder() {
    ladder::assert_ladder(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[
            ("builder", "policy"),
            ("engine", "rows"),
            ("rows", "policy"),
        ],
        20,
    );
}

#[test]
fn the_reader_sees_grouped_and_nested_paths_but_not_comments_or_strings() {
    let mut names: BTreeMap<String, String> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(|m| (m.to_owned(), m.to_owned()))
        .collect();
    names.insert("Thing".to_owned(), "d".to_owned());
    let code = code_only(
        "use crate::{a::X, b, c::{Y, Z}};\n// crate::d\nlet s = \"crate::d\"; let t = r#\"crate::e\"#;\nfn f<'x>() -> char { '\"' }\nfn g() { super::e::h(); }\nfn h(_: &crate::Thing) {}\n",
    );
    let refs = references(&code, &names, &["crate", "super"]);
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        vec![
            ("a".to_owned(), 1),
            ("b".to_owned(), 1),
            ("c".to_owned(), 1),
            ("d".to_owned(), 6),
            ("e".to_owned(), 5)
        ]
    );
}
