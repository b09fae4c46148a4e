//! The modules of the `gateway` crate form a ladder: `app` (start-up) uses `http`, and `http`
//! (the handlers and the state they share) never reaches back (the reader:
//! `schema/tests/ladder/mod.rs`).

#[path = "../../schema/tests/ladder/mod.rs"]
mod ladder;

use std::path::Path;

#[test]
fn the_modules_of_gateway_form_a_ladder() {
    ladder::assert_ladder(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[
            ("app", "http"),
            ("http", "auth"),
            ("cli", "app"),
            ("audit", "telemetry"),
        ],
        8,
    );
}
