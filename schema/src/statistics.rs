//! Statistics: counts grouped by coarse dimensions, for roles whose matrix cell says A.
//!
//! The population is the persons (or their records) living in the caller's jurisdiction. Any
//! count from 1 to 4 is suppressed (returned as null, marked `suppressed`), and so is a second
//! cell wherever a suppressed cell would otherwise be the only unknown in a row or column of
//! the table (complementary suppression), so no small group can be recovered by subtraction
//! from the totals or from a coarser grouping.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, Utc};

use crate::catalogue::{CHILD_AGE, Kind};
use crate::rows::Conditions;
use crate::sql::Sql;

/// Counts below this are suppressed (a count of 0 is no group at all).
pub const MIN_CELL: i64 = 5;

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
        },
    ]
});

/// One group of a statistics answer, after suppression.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The dimension values, in the order asked (`None`: SQL null).
    pub keys: Vec<crate::row::Cell>,
    pub count: Option<i64>,
    pub present: Option<i64>,
    pub suppressed: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub groups: Vec<Group>,
    pub total: Option<i64>,
    pub total_present: Option<i64>,
    pub total_suppressed: bool,
}

/// The grouping query for `dims` of `def`, over the persons in the session's jurisdiction.
pub fn query(def: &StatisticsDef, dims: &[&Dimension], conditions: &Conditions<'_>) -> Sql {
    let today = Utc::now().date_naive();
    let mut sql = Sql::new("SELECT ");
    for (i, d) in dims.iter().enumerate() {
        sql.append((d.expr)(today)).push(&format!(" AS d{i}, "));
    }
    sql.push("COUNT(*) AS n");
    if def.compliance {
        sql.push(", SUM(CASE WHEN t.present THEN 1 ELSE 0 END) AS present");
    }
    sql.push(&format!(" FROM {} WHERE ", def.from))
        .append(conditions.in_jurisdiction("p.residence_region"));
    if !dims.is_empty() {
        let cols: Vec<String> = (0..dims.len()).map(|i| format!("d{i}")).collect();
        // Group by position: every backend accepts it for computed expressions.
        let positions: Vec<String> = (1..=dims.len()).map(|i| i.to_string()).collect();
        sql.push(&format!(
            " GROUP BY {} ORDER BY {}",
            positions.join(", "),
            cols.join(", ")
        ));
    }
    sql
}

fn small(n: i64) -> bool {
    (1..MIN_CELL).contains(&n)
}

/// Applies primary and complementary suppression to raw `(keys, count, present)` rows.
pub fn suppress(rows: Vec<(Vec<crate::row::Cell>, i64, Option<i64>)>, dims: usize) -> Table {
    let total: i64 = rows.iter().map(|r| r.1).sum();
    let total_present: Option<i64> = rows.iter().map(|r| r.2).sum();
    // A present count reveals its complement (the absent ones) as well: both must be large.
    let primary = |n: i64, present: Option<i64>| {
        small(n) || present.is_some_and(|p| small(p) || small(n - p))
    };
    let mut suppressed: Vec<bool> = rows.iter().map(|r| primary(r.1, r.2)).collect();
    if dims > 0 {
        loop {
            let mut changed = false;
            // For every dimension, a "line" is the set of cells that agree on all other dims;
            // its sum is a cell of a coarser table, so one lone suppressed cell in a line
            // could be recovered by subtraction.
            for d in 0..dims {
                let mut lines: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                for (i, r) in rows.iter().enumerate() {
                    let key: Vec<String> =
                        r.0.iter()
                            .enumerate()
                            .filter(|(j, _)| *j != d)
                            .map(|(_, c)| format!("{c:?}"))
                            .collect();
                    lines.entry(key.join("\u{1f}")).or_default().push(i);
                }
                for cells in lines.values() {
                    let hidden = cells.iter().filter(|i| suppressed[**i]).count();
                    if hidden == 1
                        && cells.len() > 1
                        && let Some(partner) = cells
                            .iter()
                            .filter(|i| !suppressed[**i])
                            .min_by_key(|i| rows[**i].1)
                    {
                        suppressed[*partner] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }
    let total_suppressed = primary(total, total_present);
    let groups = rows
        .into_iter()
        .zip(suppressed)
        .map(|((keys, n, present), hide)| Group {
            keys,
            count: (!hide).then_some(n),
            present: if hide { None } else { present },
            suppressed: hide,
        })
        .collect();
    Table {
        groups,
        total: (!total_suppressed).then_some(total),
        total_present: if total_suppressed {
            None
        } else {
            total_present
        },
        total_suppressed,
    }
}

/// Distinct names, for checks.
pub fn dimension_names(def: &StatisticsDef) -> BTreeSet<&'static str> {
    def.dimensions.iter().map(|d| d.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Cell;

    fn s(v: &str) -> Cell {
        Cell::Str(v.to_owned())
    }

    #[test]
    fn small_cells_are_suppressed_with_a_partner() {
        let rows = vec![
            (vec![s("AFG")], 40, None),
            (vec![s("SOM")], 12, None),
            (vec![s("ERI")], 2, None),
        ];
        let t = suppress(rows, 1);
        assert_eq!(t.total, Some(54));
        assert!(t.groups[2].suppressed && t.groups[2].count.is_none());
        // ERI alone would be 54 - 40 - 12: SOM, the smallest other cell, is hidden too.
        assert!(t.groups[1].suppressed);
        assert_eq!(t.groups[0].count, Some(40));
    }

    #[test]
    fn no_lone_suppressed_cell_in_any_line_of_a_two_way_table() {
        // Property over many generated tables: in every row and column, the number of
        // suppressed cells is never exactly one when the line has other cells.
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as i64
        };
        for _ in 0..300 {
            let mut rows = Vec::new();
            for a in 0..4 {
                for b in 0..4 {
                    let n = next() % 12;
                    if n > 0 {
                        rows.push((vec![Cell::Int(a), Cell::Int(b)], n, None));
                    }
                }
            }
            let t = suppress(rows.clone(), 2);
            for d in 0..2 {
                let mut lines: BTreeMap<String, Vec<bool>> = BTreeMap::new();
                for g in &t.groups {
                    lines
                        .entry(format!("{:?}", g.keys[1 - d]))
                        .or_default()
                        .push(g.suppressed);
                }
                for line in lines.values() {
                    let hidden = line.iter().filter(|h| **h).count();
                    assert!(
                        !(hidden == 1 && line.len() > 1),
                        "lone suppressed cell: {t:?}"
                    );
                }
            }
            for g in &t.groups {
                if let Some(n) = g.count {
                    assert!(n >= MIN_CELL);
                }
            }
        }
    }

    #[test]
    fn compliance_hides_small_absent_counts() {
        let t = suppress(vec![(vec![s("2026-05")], 30, Some(28))], 1);
        assert!(
            t.groups[0].suppressed,
            "2 absent persons must not be inferable"
        );
        assert!(t.total_suppressed);
    }
}
