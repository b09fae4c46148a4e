//! `Shelter.occupancy` is the column `shelters.occupancy`, kept by triggers on `placements`
//! (migration `m20261201_000011_shelter_occupancy`) in the transaction of every write that opens,
//! ends, moves or deletes a placement. Each test compares it with oracles that do not read the
//! column: the open placements counted here from the raw `placements` rows, from the shelter's
//! own `placements { endDate }` through the API, and the changes the test itself made.

use std::collections::{BTreeMap, BTreeSet};

use pora_tests::{TestApp, on_both_databases};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

/// Open placements per shelter, counted from the raw rows (not from `shelters.occupancy`).
async fn open_placements_from_rows(app: &TestApp) -> BTreeMap<String, i64> {
    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT shelter_id, end_date FROM placements".to_owned(),
        ))
        .await
        .expect("placements");
    let mut open = BTreeMap::new();
    for row in rows {
        let shelter: Option<String> = row.try_get("", "shelter_id").expect("shelter_id");
        let ended: Option<chrono::NaiveDate> = row.try_get("", "end_date").expect("end_date");
        if let (Some(shelter), None) = (shelter, ended) {
            *open.entry(shelter).or_insert(0) += 1;
        }
    }
    open
}

/// Every shelter's stored `occupancy` column.
async fn stored_occupancy(app: &TestApp) -> BTreeMap<String, i64> {
    let backend = app.db.get_database_backend();
    app.db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, occupancy FROM shelters".to_owned(),
        ))
        .await
        .expect("shelters")
        .into_iter()
        .map(|row| {
            let id: String = row.try_get("", "id").expect("id");
            let occupancy: i32 = row.try_get("", "occupancy").expect("occupancy");
            (id, i64::from(occupancy))
        })
        .collect()
}

const SHELTERS: &str =
    "{ shelters(first: 50) { nodes { id occupancy placements(first: 400) { endDate } } } }";

/// Through the API, as `token` sees them: each shelter's `occupancy` and the open placements
/// among its `placements`.
async fn occupancy_and_open_placements(app: &TestApp, token: &str) -> BTreeMap<String, (i64, i64)> {
    let reply = app.query(token, SHELTERS).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let nodes = reply.data()["shelters"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("shelters: {}", reply.body))
        .clone();
    assert!(nodes.len() < 50, "more shelters than one page");
    nodes
        .iter()
        .map(|node| {
            let placements = node["placements"].as_array().expect("placements");
            assert!(placements.len() < 400, "more placements than one page");
            let open = placements.iter().filter(|p| p["endDate"].is_null()).count() as i64;
            (
                node["id"].as_str().expect("id").to_owned(),
                (node["occupancy"].as_i64().expect("occupancy"), open),
            )
        })
        .collect()
}

/// Right after start (backfill of the migration, then the demo data through the triggers):
/// every shelter's occupancy is its open placements, in the table and through every role that
/// reads it.
async fn every_demo_shelter_starts_with_its_open_placements(app: TestApp) {
    let open = open_placements_from_rows(&app).await;
    let stored = stored_occupancy(&app).await;
    assert!(stored.len() >= 3, "demo shelters: {stored:?}");
    assert!(
        open.values().sum::<i64>() > 0,
        "the demo data places people in shelters"
    );
    for (shelter, occupancy) in &stored {
        assert_eq!(
            *occupancy,
            open.get(shelter).copied().unwrap_or(0),
            "shelter {shelter}: stored occupancy against its open placements"
        );
    }
    assert!(
        open.keys().all(|s| stored.contains_key(s)),
        "open placements in a shelter that does not exist"
    );

    let readers: Vec<String> = app
        .policy
        .roles
        .iter()
        .filter(|(_, role)| {
            role.types
                .get("Shelter")
                .is_some_and(|view| view.fields.iter().any(|f| f.def.name == "occupancy"))
        })
        .map(|(name, _)| name.clone())
        .collect();
    assert!(readers.len() >= 3, "roles reading occupancy: {readers:?}");
    let mut seen = BTreeSet::new();
    for role in &readers {
        let reply = app
            .query(
                &app.token(role),
                "{ shelters(first: 50) { nodes { id occupancy } } }",
            )
            .await;
        assert_eq!(reply.status, 200, "{role}: {}", reply.body);
        for node in reply.data()["shelters"]["nodes"].as_array().expect("nodes") {
            let id = node["id"].as_str().expect("id");
            assert_eq!(
                node["occupancy"].as_i64(),
                Some(open.get(id).copied().unwrap_or(0)),
                "{role}: shelter {id}"
            );
            seen.insert(id.to_owned());
        }
    }
    assert_eq!(
        seen,
        stored.keys().cloned().collect::<BTreeSet<_>>(),
        "every shelter checked through some role"
    );

    // The writer's own view: occupancy against the shelter's listed placements.
    let immigration = occupancy_and_open_placements(&app, &app.token("immigration")).await;
    assert!(!immigration.is_empty());
    for (shelter, (occupancy, listed_open)) in &immigration {
        assert_eq!(occupancy, listed_open, "immigration: shelter {shelter}");
    }
}

const CREATE: &str = "mutation($input: PlacementCreateInput!) { createPlacement(input: $input) { id endDate shelter { id } } }";
const UPDATE: &str = "mutation($id: ID!, $input: PlacementUpdateInput!) { updatePlacement(id: $id, input: $input) { id endDate shelter { id } } }";

/// The immigration office's writes, each followed by the three-way comparison.
struct Writer<'a> {
    app: &'a TestApp,
    token: String,
    /// Occupancy per shelter as the writes so far should have left it (the model oracle).
    expected: BTreeMap<String, i64>,
}

impl Writer<'_> {
    async fn create(&mut self, person: &str, shelter: &str, end_date: Option<&str>) -> String {
        let reply = self
            .app
            .query_vars(
                &self.token,
                CREATE,
                json!({ "input": {
                    "personId": person,
                    "shelterId": shelter,
                    "kind": "DETENTION",
                    "startDate": "2026-11-02",
                    "endDate": end_date,
                } }),
            )
            .await;
        let placement = &reply.data()["createPlacement"];
        assert_eq!(placement["shelter"]["id"], shelter, "{}", reply.body);
        if end_date.is_none() {
            *self.expected.get_mut(shelter).expect("known shelter") += 1;
        }
        placement["id"].as_str().expect("id").to_owned()
    }

    /// `updatePlacement` with `input`; `open_before`/`open_after` are (shelter, open) of the row.
    async fn update(
        &mut self,
        id: &str,
        input: Value,
        before: (Option<&str>, bool),
        after: (Option<&str>, bool),
    ) {
        let reply = self
            .app
            .query_vars(&self.token, UPDATE, json!({ "id": id, "input": input }))
            .await;
        let placement = &reply.data()["updatePlacement"];
        assert_eq!(placement["id"], id, "{}", reply.body);
        assert_eq!(
            placement["shelter"]["id"].as_str(),
            after.0,
            "{}",
            reply.body
        );
        assert_eq!(placement["endDate"].is_null(), after.1, "{}", reply.body);
        if let (Some(shelter), true) = before {
            *self.expected.get_mut(shelter).expect("known shelter") -= 1;
        }
        if let (Some(shelter), true) = after {
            *self.expected.get_mut(shelter).expect("known shelter") += 1;
        }
    }

    /// A placement deleted with SQL of the test's own (no mutation deletes one).
    async fn delete(&mut self, id: &str, open_in: Option<&str>) {
        let backend = self.app.db.get_database_backend();
        let placeholder = if backend == sea_orm::DbBackend::Postgres {
            "$1"
        } else {
            "?"
        };
        let result = self
            .app
            .db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!("DELETE FROM placements WHERE id = {placeholder}"),
                [id.into()],
            ))
            .await
            .expect("delete a placement");
        assert_eq!(result.rows_affected(), 1);
        if let Some(shelter) = open_in {
            *self.expected.get_mut(shelter).expect("known shelter") -= 1;
        }
    }

    /// Occupancy through the API = the open placements listed under each shelter = the model =
    /// the raw rows' count.
    async fn check(&self, step: &str) {
        let api = occupancy_and_open_placements(self.app, &self.token).await;
        let rows = open_placements_from_rows(self.app).await;
        for (shelter, expected) in &self.expected {
            let (occupancy, listed_open) = api[shelter];
            assert_eq!(
                (
                    occupancy,
                    listed_open,
                    rows.get(shelter).copied().unwrap_or(0)
                ),
                (*expected, *expected, *expected),
                "after {step}: shelter {shelter} (occupancy, listed open placements, raw rows) against the writes made"
            );
        }
        for (shelter, (occupancy, listed_open)) in &api {
            assert_eq!(occupancy, listed_open, "after {step}: shelter {shelter}");
        }
    }
}

/// Two shelters the immigration office sees, persons it may place, and its token.
async fn writer(app: &TestApp) -> (Writer<'_>, String, String, Vec<String>) {
    let token = app.token("immigration");
    let start = occupancy_and_open_placements(app, &token).await;
    let mut shelters = start.keys().cloned();
    let a = shelters.next().expect("a shelter");
    let b = shelters.next().expect("a second shelter");
    let reply = app
        .query(&token, "{ persons(first: 20) { nodes { id } } }")
        .await;
    let persons: Vec<String> = reply.data()["persons"]["nodes"]
        .as_array()
        .expect("persons")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(persons.len() >= 4, "persons: {persons:?}");
    let expected = start.iter().map(|(id, (o, _))| (id.clone(), *o)).collect();
    (
        Writer {
            app,
            token,
            expected,
        },
        a,
        b,
        persons,
    )
}

/// Placements opened, ended, reopened, moved (open and ended ones, with and without ending
/// them), detached from their shelter and deleted: occupancy follows each write.
async fn occupancy_follows_every_write(app: TestApp) {
    let (mut w, a, b, persons) = writer(&app).await;
    let (a, b) = (a.as_str(), b.as_str());
    w.check("start").await;

    let p1 = w.create(&persons[0], a, None).await;
    w.check("an open placement in A").await;
    let p2 = w.create(&persons[1], a, None).await;
    let p3 = w.create(&persons[2], b, None).await;
    w.check("one more in A, one in B").await;
    let p4 = w.create(&persons[3], a, Some("2026-11-05")).await;
    w.check("an ended placement created in A").await;

    w.update(
        &p1,
        json!({ "endDate": "2026-11-10" }),
        (Some(a), true),
        (Some(a), false),
    )
    .await;
    w.check("p1 ended").await;
    w.update(
        &p1,
        json!({ "endDate": null }),
        (Some(a), false),
        (Some(a), true),
    )
    .await;
    w.check("p1 reopened").await;
    w.update(
        &p1,
        json!({ "reason": "file reviewed" }),
        (Some(a), true),
        (Some(a), true),
    )
    .await;
    w.check("p1 edited, neither shelter nor end date").await;

    w.update(
        &p2,
        json!({ "shelterId": b }),
        (Some(a), true),
        (Some(b), true),
    )
    .await;
    w.check("p2 moved from A to B").await;
    w.update(
        &p3,
        json!({ "shelterId": a, "endDate": "2026-11-12" }),
        (Some(b), true),
        (Some(a), false),
    )
    .await;
    w.check("p3 moved from B to A and ended in the same write")
        .await;
    w.update(
        &p4,
        json!({ "shelterId": b }),
        (Some(a), false),
        (Some(b), false),
    )
    .await;
    w.check("ended p4 moved to B").await;
    w.update(
        &p4,
        json!({ "shelterId": a, "endDate": null }),
        (Some(b), false),
        (Some(a), true),
    )
    .await;
    w.check("p4 moved back to A and reopened in the same write")
        .await;
    w.update(
        &p2,
        json!({ "shelterId": null }),
        (Some(b), true),
        (None, true),
    )
    .await;
    w.check("p2 no longer in a shelter (independent)").await;
    w.update(
        &p2,
        json!({ "shelterId": a }),
        (None, true),
        (Some(a), true),
    )
    .await;
    w.check("p2 placed in A again").await;

    w.delete(&p1, Some(a)).await;
    w.check("open p1 deleted").await;
    w.delete(&p3, None).await;
    w.check("ended p3 deleted").await;

    let stored = stored_occupancy(&app).await;
    let rows = open_placements_from_rows(&app).await;
    for (shelter, occupancy) in &stored {
        assert_eq!(
            *occupancy,
            rows.get(shelter).copied().unwrap_or(0),
            "at the end: shelter {shelter}"
        );
    }
}

/// The requests at once, on both databases (SQLite's writers take their turns: each write
/// transaction begins `IMMEDIATE`, `schema::sql::begin_write`).
async fn side_by_side<F: std::future::Future<Output = pora_tests::Reply>>(
    requests: impl Iterator<Item = F>,
) -> Vec<pora_tests::Reply> {
    futures::future::join_all(requests).await
}

/// Writers at the same time on the same shelters: opened side by side, then moved across in
/// both directions at once (each move takes both shelters' rows) and ended side by side. No
/// change is lost and no write fails.
async fn concurrent_writes_lose_no_change(app: TestApp) {
    let (mut w, a, b, persons) = writer(&app).await;
    let (a, b) = (a.as_str(), b.as_str());
    const N: usize = 8;
    let open = |shelter: &str, i: usize| {
        json!({ "input": {
            "personId": persons[i % persons.len()],
            "shelterId": shelter,
            "kind": "DETENTION",
            "startDate": "2026-11-02",
        } })
    };
    let created = side_by_side(
        (0..2 * N).map(|i| app.query_vars(&w.token, CREATE, open(if i < N { a } else { b }, i))),
    )
    .await;
    let ids: Vec<String> = created
        .iter()
        .map(|reply| {
            reply.data()["createPlacement"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{}", reply.body))
                .to_owned()
        })
        .collect();
    *w.expected.get_mut(a).unwrap() += N as i64;
    *w.expected.get_mut(b).unwrap() += N as i64;
    w.check("opened side by side").await;

    let moved = side_by_side(ids.iter().enumerate().map(|(i, id)| {
        let to = if i < N { b } else { a };
        app.query_vars(
            &w.token,
            UPDATE,
            json!({ "id": id, "input": { "shelterId": to } }),
        )
    }))
    .await;
    for reply in &moved {
        assert!(
            reply.data()["updatePlacement"]["id"].is_string(),
            "a move failed: {}",
            reply.body
        );
    }
    w.check("moved across in both directions at once").await;

    let ended = side_by_side(ids.iter().step_by(2).map(|id| {
        app.query_vars(
            &w.token,
            UPDATE,
            json!({ "id": id, "input": { "endDate": "2026-11-20" } }),
        )
    }))
    .await;
    for reply in &ended {
        assert!(
            reply.data()["updatePlacement"]["id"].is_string(),
            "an end failed: {}",
            reply.body
        );
    }
    // Every other one ended: N/2 from each side of the swap.
    *w.expected.get_mut(a).unwrap() -= (N / 2) as i64;
    *w.expected.get_mut(b).unwrap() -= (N / 2) as i64;
    w.check("half of them ended side by side").await;
}

/// The count is read, never written or filtered on: no mutation input sets it and no filter or
/// sort order names it.
async fn occupancy_is_neither_written_nor_filtered(app: TestApp) {
    let token = app.token("immigration");
    let reply = app
        .query(&token, "{ __type(name: \"ShelterUpdateInput\") { inputFields { name } } c: __type(name: \"ShelterCreateInput\") { inputFields { name } } }")
        .await;
    for input in ["__type", "c"] {
        let fields = reply.data()[input]["inputFields"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", reply.body));
        assert!(!fields.is_empty(), "{}", reply.body);
        assert!(
            fields.iter().all(|f| f["name"] != "occupancy"),
            "{input}: {}",
            reply.body
        );
    }
    let shelter = occupancy_and_open_placements(&app, &token)
        .await
        .into_keys()
        .next()
        .expect("a shelter");
    let reply = app
        .query_vars(
            &token,
            "mutation($id: ID!) { updateShelter(id: $id, input: { occupancy: 99 }) { occupancy } }",
            json!({ "id": shelter }),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    // The same with `capacity`, a plain column, as the control.
    for (field, value) in [("occupancy", 400), ("capacity", 200)] {
        for query in [
            format!("{{ shelters(where: {{ {field}: {{ gt: 0 }} }}) {{ nodes {{ id }} }} }}"),
            format!(
                "{{ shelters(orderBy: [{{ field: {}, direction: DESC }}]) {{ nodes {{ id }} }} }}",
                field.to_uppercase()
            ),
        ] {
            let reply = app.query(&token, &query).await;
            assert_eq!(reply.status, value, "{query}: {}", reply.body);
        }
    }
    let stored = stored_occupancy(&app).await;
    let rows = open_placements_from_rows(&app).await;
    assert_eq!(stored[&shelter], rows.get(&shelter).copied().unwrap_or(0));
}

/// Each check reads every shelter with its placements: more than the default cost per minute.
fn unlimited_cost(config: &mut pora_tests::Config) {
    config.rate_limits.cost_per_minute = 0;
}

on_both_databases!(
    config = unlimited_cost;
    every_demo_shelter_starts_with_its_open_placements,
    occupancy_follows_every_write,
    concurrent_writes_lose_no_change,
    occupancy_is_neither_written_nor_filtered,
);
