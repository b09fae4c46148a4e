//! Statistics: counts grouped by coarse dimensions, for roles whose matrix cell says A.
//!
//! The population is the persons (or their records) living in the caller's jurisdiction.
//! Disclosure is controlled by the cell-key method (the Australian Bureau of Statistics'
//! TableBuilder; the UK's 2021 census outputs), see docs/statistics.md: every record has a
//! secret random key (`stat_key`); a cell's key is the sum of its records' keys modulo 2^32;
//! the published count is the true count plus a perturbation in `[-max_noise, max_noise]`
//! looked up from the cell key and the count. The same records always get the same
//! perturbation, whatever question reaches them, so repeating or rephrasing a question gives
//! nothing new, and sums of published cells do not give a published total exactly. A group
//! under the role's `threshold` (or whose perturbed count is) is not listed at all: an empty
//! group and a small one look the same.
//!
//! This module holds the sources, their dimensions, the disclosure control and its
//! perturbation (`protect`): what `policy` compiles against, so it imports only `catalogue`,
//! `row` and `sql`. The schema's statistics fields and the grouping query are
//! `statistics_schema`'s.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use crate::catalogue::{CHILD_AGE, Kind};
use crate::sql::Sql;

/// A role's disclosure control (`[roles.R.disclosure_control]` in the policy file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisclosureControl {
    /// Published counts below this are not shown.
    pub threshold: i64,
    /// Most dimensions one question may group by.
    pub max_dimensions: usize,
    /// Largest perturbation of a count, either way.
    pub max_noise: i64,
}

impl Default for DisclosureControl {
    fn default() -> Self {
        DisclosureControl {
            threshold: 5,
            max_dimensions: 3,
            max_noise: 2,
        }
    }
}

/// Cell keys live in [0, 2^32).
pub(crate) const KEY_SPACE: i64 = 1 << 32;

#[derive(Debug)]
pub struct Dimension {
    pub name: &'static str,
    pub kind: Kind,
    pub description: &'static str,
    /// The SQL expression over the source's aliases (`t` the source row, `p` the person).
    pub expr: fn(today: NaiveDate) -> Sql,
}

#[derive(Debug)]
pub struct StatisticsDef {
    /// Name in the policy file and the prefix of the GraphQL names (`PersonStatistics`).
    pub name: &'static str,
    pub field: &'static str,
    pub description: &'static str,
    /// `FROM …` with the person aliased `p`.
    pub from: &'static str,
    pub dimensions: Vec<Dimension>,
    /// Whether the source rows have a `present` flag (monthly reports): adds present counts
    /// and a compliance rate.
    pub compliance: bool,
    /// The alias of the counted record, whose `stat_key` enters the cell key.
    pub record: &'static str,
}

use crate::catalogue::years_before as born_after;

fn age_band_sql(today: NaiveDate) -> Sql {
    crate::catalogue::age_band_sql("p.date_of_birth", today)
}

fn is_child_sql(today: NaiveDate) -> Sql {
    let mut sql = Sql::new("CASE WHEN p.date_of_birth > ");
    sql.bind(born_after(today, CHILD_AGE as u32))
        .push(" THEN 1 ELSE 0 END");
    sql
}

fn unaccompanied_child_sql(today: NaiveDate) -> Sql {
    let mut sql = Sql::new("CASE WHEN p.date_of_birth > ");
    sql.bind(born_after(today, CHILD_AGE as u32))
        .push(" AND p.specific_needs LIKE '%\"UNACCOMPANIED_CHILD\"%' THEN 1 ELSE 0 END");
    sql
}

fn district_sql(_: NaiveDate) -> Sql {
    Sql::new("SUBSTR(p.residence_region, 1, 8)")
}

macro_rules! fixed {
    ($sql:literal) => {{
        fn f(_: NaiveDate) -> Sql {
            Sql::new($sql)
        }
        f
    }};
}

fn person_dimensions() -> Vec<Dimension> {
    vec![
        Dimension {
            name: "nationality",
            kind: Kind::String,
            description: "ISO 3166 alpha-3 nationality.",
            expr: fixed!("p.nationality"),
        },
        Dimension {
            name: "sex",
            kind: Kind::Enum("Sex"),
            description: "Sex.",
            expr: fixed!("p.sex"),
        },
        Dimension {
            name: "ageBand",
            kind: Kind::Enum("AgeBand"),
            description: "Age band today.",
            expr: age_band_sql,
        },
        Dimension {
            name: "isChild",
            kind: Kind::Boolean,
            description: "Under 18 today.",
            expr: is_child_sql,
        },
        Dimension {
            name: "unaccompaniedChild",
            kind: Kind::Boolean,
            description: "A child recorded as unaccompanied.",
            expr: unaccompanied_child_sql,
        },
        Dimension {
            name: "district",
            kind: Kind::Region,
            description: "District (kecamatan) of residence.",
            expr: district_sql,
        },
        Dimension {
            name: "residenceRegion",
            kind: Kind::Region,
            description: "Village (kelurahan) of residence.",
            expr: fixed!("p.residence_region"),
        },
        Dimension {
            name: "legalStatus",
            kind: Kind::Enum("LegalStatus"),
            description: "UNHCR legal status (null: not registered).",
            expr: fixed!(
                "(SELECT r.legal_status FROM unhcr_registrations r WHERE r.person_id = p.id)"
            ),
        },
        Dimension {
            name: "fileStatus",
            kind: Kind::Enum("FileStatus"),
            description: "UNHCR file status.",
            expr: fixed!(
                "(SELECT r.file_status FROM unhcr_registrations r WHERE r.person_id = p.id)"
            ),
        },
        Dimension {
            name: "solution",
            kind: Kind::Enum("Solution"),
            description: "Durable solution.",
            expr: fixed!("(SELECT r.solution FROM unhcr_registrations r WHERE r.person_id = p.id)"),
        },
        Dimension {
            name: "placementKind",
            kind: Kind::Enum("PlacementKind"),
            description: "Kind of the current placement.",
            expr: fixed!(
                "(SELECT MIN(cp.kind) FROM placements cp WHERE cp.person_id = p.id AND cp.end_date IS NULL)"
            ),
        },
    ]
}

/// Dimensions of the person a record is about (aliased `p`).
fn resident_dimensions() -> [Dimension; 2] {
    [
        Dimension {
            name: "district",
            kind: Kind::Region,
            description: "District of residence.",
            expr: district_sql,
        },
        Dimension {
            name: "nationality",
            kind: Kind::String,
            description: "Nationality.",
            expr: fixed!("p.nationality"),
        },
    ]
}

pub static STATISTICS: std::sync::LazyLock<Vec<StatisticsDef>> = std::sync::LazyLock::new(|| {
    vec![
        StatisticsDef {
            name: "Person",
            field: "personStatistics",
            description: "Persons living in the jurisdiction, counted by the chosen dimensions.",
            from: "persons p",
            dimensions: person_dimensions(),
            compliance: false,
            record: "p",
        },
        StatisticsDef {
            name: "MonthlyReport",
            field: "monthlyReportStatistics",
            description: "Monthly reporting compliance of persons living in the jurisdiction.",
            from: "monthly_reports t JOIN persons p ON p.id = t.person_id",
            dimensions: vec![
                Dimension {
                    name: "period",
                    kind: Kind::String,
                    description: "Reporting period (YYYY-MM).",
                    expr: fixed!("t.period"),
                },
                Dimension {
                    name: "method",
                    kind: Kind::Enum("ReportMethod"),
                    description: "How the report was made.",
                    expr: fixed!("t.method"),
                },
            ]
            .into_iter()
            .chain(resident_dimensions())
            .collect(),
            compliance: true,
            record: "t",
        },
        StatisticsDef {
            name: "Violation",
            field: "violationStatistics",
            description: "Violations by persons living in the jurisdiction.",
            from: "violations t JOIN persons p ON p.id = t.person_id",
            dimensions: vec![
                Dimension {
                    name: "action",
                    kind: Kind::Enum("ViolationAction"),
                    description: "Action taken.",
                    expr: fixed!("t.action"),
                },
                Dimension {
                    name: "article",
                    kind: Kind::String,
                    description: "Article violated.",
                    expr: fixed!("t.article"),
                },
            ]
            .into_iter()
            .chain(resident_dimensions())
            .collect(),
            compliance: false,
            record: "t",
        },
    ]
});

/// One published group of a statistics answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The dimension values, in the order asked (`None`: SQL null).
    pub keys: Vec<crate::row::Cell>,
    pub count: Option<i64>,
    pub present: Option<i64>,
    /// Some of its values (the present count) are withheld.
    pub suppressed: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub groups: Vec<Group>,
    pub total: Option<i64>,
    pub total_present: Option<i64>,
    pub total_suppressed: bool,
}

/// One group as the database counted it: its dimension values, its count and cell key, and
/// (monthly reports) the count and key of its present records.
#[derive(Clone, Debug)]
pub struct RawGroup {
    pub keys: Vec<crate::row::Cell>,
    pub count: i64,
    pub cell_key: i64,
    pub present: Option<(i64, i64)>,
}

/// The perturbation of a cell of `count` records with key `cell_key`: in `[-max, max]`, most
/// often small (weights `max + 1 - |d|`), a fixed function of the two, and never below `-count`.
pub fn perturbation(cell_key: i64, count: i64, max: i64) -> i64 {
    if max <= 0 {
        return 0;
    }
    // splitmix64 of the key and the count: a uniform draw the caller cannot compute without
    // the records' secret keys.
    let mut z = (cell_key as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((count as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let total: u64 = (0..=2 * max)
        .map(|i| (max + 1 - (i - max).abs()) as u64)
        .sum();
    let mut draw = z % total;
    for d in -max..=max {
        let weight = (max + 1 - d.abs()) as u64;
        if draw < weight {
            return d.max(-count);
        }
        draw -= weight;
    }
    0
}

/// What a role is shown of raw groups: perturbed counts, groups under the threshold left out,
/// the total perturbed as a cell of its own.
pub fn protect(rows: Vec<RawGroup>, control: &DisclosureControl) -> Table {
    // A count is shown when it and its perturbed value are both at least the threshold: a
    // group under the threshold is never listed, whatever its perturbation.
    let publish = |count: i64, key: i64| {
        let published = count + perturbation(key, count, control.max_noise);
        (count >= control.threshold && published >= control.threshold).then_some(published)
    };
    // Present counts: perturbed with their own key; shown only when both they and the absent
    // remainder are shown.
    let present_of = |count: i64, published: i64, present: Option<(i64, i64)>| {
        present.map(|(p, key)| {
            let shown = publish(p, key ^ 0x5A5A_5A5A)?.min(published);
            (count - p >= control.threshold && published - shown >= control.threshold)
                .then_some(shown)
        })
    };
    let total: i64 = rows.iter().map(|r| r.count).sum();
    let total_key = rows.iter().fold(0i64, |k, r| (k + r.cell_key) % KEY_SPACE);
    let total_present = rows.iter().try_fold((0i64, 0i64), |(p, k), r| {
        r.present.map(|(rp, rk)| (p + rp, (k + rk) % KEY_SPACE))
    });
    let mut groups = Vec::new();
    for row in rows {
        let Some(published) = publish(row.count, row.cell_key) else {
            continue;
        };
        let present = present_of(row.count, published, row.present);
        groups.push(Group {
            keys: row.keys,
            count: Some(published),
            present: present.flatten(),
            suppressed: matches!(present, Some(None)),
        });
    }
    let total_published = publish(total, total_key);
    Table {
        groups,
        total: total_published,
        total_present: total_published
            .and_then(|shown| present_of(total, shown, total_present).flatten()),
        total_suppressed: total_published.is_none(),
    }
}

/// Distinct names, for checks.
pub fn dimension_names(def: &StatisticsDef) -> BTreeSet<&'static str> {
    def.dimensions.iter().map(|d| d.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perturbations_stay_within_the_bound_and_spread_over_it() {
        for max in 1..=3 {
            let mut seen = BTreeSet::new();
            for key in 0..2_000i64 {
                let d = perturbation(key * 2_654_435_761 % KEY_SPACE, 17, max);
                assert!((-max..=max).contains(&d));
                seen.insert(d);
            }
            assert_eq!(
                seen.len() as i64,
                2 * max + 1,
                "every value in the range occurs"
            );
        }
        // Never a negative count.
        for key in 0..500 {
            assert!(1 + perturbation(key, 1, 3) >= 0);
        }
    }

    #[test]
    fn small_groups_are_not_listed_and_the_same_cell_gets_the_same_answer() {
        let control = DisclosureControl::default();
        let rows = |k: i64| {
            vec![
                RawGroup {
                    keys: vec![crate::row::Cell::Str("AFG".into())],
                    count: 40,
                    cell_key: k,
                    present: None,
                },
                RawGroup {
                    keys: vec![crate::row::Cell::Str("ERI".into())],
                    count: 2,
                    cell_key: 7,
                    present: None,
                },
            ]
        };
        let a = protect(rows(12_345), &control);
        let b = protect(rows(12_345), &control);
        assert_eq!(a, b);
        assert_eq!(
            a.groups.len(),
            1,
            "a group of 2 (perturbed at most to 4) is never listed"
        );
        assert!((38..=42).contains(&a.groups[0].count.unwrap()));
    }

    #[test]
    fn compliance_withholds_small_present_or_absent_counts() {
        let control = DisclosureControl::default();
        let t = protect(
            vec![RawGroup {
                keys: vec![crate::row::Cell::Str("2026-05".into())],
                count: 30,
                cell_key: 99,
                present: Some((29, 1234)),
            }],
            &control,
        );
        assert_eq!(t.groups.len(), 1);
        assert!(
            t.groups[0].present.is_none(),
            "about one absent person must not be shown"
        );
        assert!(t.groups[0].suppressed);
    }
}
