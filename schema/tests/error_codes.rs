//! `docs/errors.md` and `ErrorCode` agree: every code is documented, every documented code
//! exists, and each documented HTTP status is one the code can produce.

use std::collections::BTreeSet;

use schema::error_code::{ErrorCode, InOperation};

/// (code, first status number) of each row of the table in docs/errors.md.
fn documented() -> Vec<(String, u16, String)> {
    let text = include_str!("../../docs/errors.md");
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells
                .get(1)?
                .strip_prefix('`')?
                .split('`')
                .next()?
                .to_owned();
            let http = cells.get(2)?.to_string();
            let status = http.split_whitespace().next()?.parse().ok()?;
            Some((code, status, http))
        })
        .collect()
}

#[test]
fn the_error_table_documents_exactly_the_codes_with_their_statuses() {
    let rows = documented();
    assert!(rows.len() >= 30, "{rows:?}");
    let documented: BTreeSet<&str> = rows.iter().map(|(c, _, _)| c.as_str()).collect();
    let codes: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(documented, codes, "docs/errors.md against ErrorCode::ALL");
    for (name, status, http) in &rows {
        let code = ErrorCode::parse(name).expect("a code");
        let possible = [
            Some(code.request_status()),
            (code.in_operation() == InOperation::FieldError).then_some(200),
            (code.in_operation() == InOperation::Refusal).then_some(403),
        ];
        assert!(
            possible.contains(&Some(*status)),
            "{name}: docs say {http}, the code answers {:?}",
            possible
        );
    }
    for code in ErrorCode::ALL {
        assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
    }
    assert!(!ErrorCode::InternalError.shows_message());
}
