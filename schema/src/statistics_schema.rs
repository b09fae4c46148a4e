//! The statistics fields of a role's schema: for each source it may ask about, the root field
//! (`personStatistics(groupBy:)`, …), its `…Statistics`, `…Group` and `…Dimension` types, the
//! grouping query a question becomes (`query`, over the reader's `rows::Conditions`) and the
//! resolver that reads the raw groups and publishes them through `statistics::protect`. The
//! sources and the disclosure control themselves are `statistics`'.

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputValue, Object, TypeRef,
};
use chrono::Utc;

use crate::catalogue::Kind;
use crate::error::QueryError;
use crate::filter::screaming;
use crate::policy::StatisticsView;
use crate::resolve::{engine, getter, value_type};
use crate::row::{Cell, read_cell, to_graphql};
use crate::rows::Conditions;
use crate::sql::Sql;
use crate::statistics::{self, Dimension, KEY_SPACE, StatisticsDef, Table};

struct Statistics {
    table: Table,
    dims: Vec<&'static str>,
}

struct StatisticsGroup {
    group: statistics::Group,
    dims: Vec<&'static str>,
}

/// Root field and types of one statistics source.
pub(crate) fn statistics_types(view: &StatisticsView) -> (Field, Vec<Object>, Enum) {
    let def = view.def;
    let prefix = format!("{}Statistics", def.name);
    let dim_enum_name = format!("{prefix}Dimension");
    let mut dim_enum = Enum::new(&dim_enum_name);
    let mut group = Object::new(format!("{prefix}Group"));
    for name in &view.dimensions {
        let dim = def
            .dimensions
            .iter()
            .find(|d| d.name == *name)
            .expect("checked at compile");
        dim_enum = dim_enum.item(EnumItem::new(screaming(dim.name)).description(dim.description));
        let dim_name = dim.name;
        let kind = dim.kind;
        group = group.field(
            getter::<StatisticsGroup>(dim.name, value_type(kind, true), move |g| {
                g.dims
                    .iter()
                    .position(|d| *d == dim_name)
                    .map_or(GqlValue::Null, |i| to_graphql(&g.group.keys[i], kind))
            })
            .description(format!(
                "{} Null when not grouped by it (or unknown).",
                dim.description
            )),
        );
    }
    let opt_int = |v: Option<i64>| v.map_or(GqlValue::Null, |n| GqlValue::Number(n.into()));
    let rate = |present: Option<i64>, count: Option<i64>| match (present, count) {
        (Some(p), Some(n)) if n > 0 => serde_json::Number::from_f64(p as f64 / n as f64)
            .map_or(GqlValue::Null, GqlValue::Number),
        _ => GqlValue::Null,
    };
    group = group
        .field(
            getter::<StatisticsGroup>("count", TypeRef::named(TypeRef::INT), move |g| {
                opt_int(g.group.count)
            })
            .description("The count, perturbed by at most the role's max_noise (docs/statistics.md). Groups whose perturbed count is under the threshold are not listed."),
        )
        .field(
            getter::<StatisticsGroup>("suppressed", TypeRef::named_nn(TypeRef::BOOLEAN), |g| {
                GqlValue::Boolean(g.group.suppressed)
            })
            .description("True when some of the group's values (a small present or absent count) are withheld."),
        );
    let mut stats = Object::new(&prefix)
        .description(def.description)
        .field(Field::new(
            "groups",
            TypeRef::named_nn_list_nn(format!("{prefix}Group")),
            |ctx| {
                FieldFuture::new(async move {
                    let s = ctx.parent_value.try_downcast_ref::<Statistics>()?;
                    Ok(Some(FieldValue::list(s.table.groups.iter().map(|g| {
                        FieldValue::owned_any(StatisticsGroup {
                            group: g.clone(),
                            dims: s.dims.clone(),
                        })
                    }))))
                })
            },
        ))
        .field(
            getter::<Statistics>("totalCount", TypeRef::named(TypeRef::INT), move |s| {
                opt_int(s.table.total)
            })
            .description(
                "The total, perturbed as a cell of its own; null when under the threshold.",
            ),
        )
        .field(getter::<Statistics>(
            "totalSuppressed",
            TypeRef::named_nn(TypeRef::BOOLEAN),
            |s| GqlValue::Boolean(s.table.total_suppressed),
        ));
    if def.compliance {
        group = group
            .field(getter::<StatisticsGroup>(
                "presentCount",
                TypeRef::named(TypeRef::INT),
                move |g| opt_int(g.group.present),
            ))
            .field(
                getter::<StatisticsGroup>(
                    "complianceRate",
                    TypeRef::named(TypeRef::FLOAT),
                    move |g| rate(g.group.present, g.group.count),
                )
                .description("Share of reports marked present."),
            );
        stats = stats
            .field(getter::<Statistics>(
                "totalPresentCount",
                TypeRef::named(TypeRef::INT),
                move |s| opt_int(s.table.total_present),
            ))
            .field(getter::<Statistics>(
                "complianceRate",
                TypeRef::named(TypeRef::FLOAT),
                move |s| rate(s.table.total_present, s.table.total),
            ));
    }
    let allowed: Vec<&'static str> = view.dimensions.clone();
    let field = Field::new(def.field, TypeRef::named_nn(&prefix), move |ctx| {
        let allowed = allowed.clone();
        FieldFuture::new(async move {
            let engine = engine(&ctx)?;
            let mut dims = Vec::new();
            for v in ctx.args.try_get("groupBy")?.list()?.iter() {
                let wanted = v.enum_name()?;
                let name = allowed
                    .iter()
                    .find(|d| screaming(d) == wanted)
                    .ok_or("unknown dimension")?;
                if !dims.contains(name) {
                    dims.push(*name);
                }
            }
            let most = engine.base.disclosure.max_dimensions;
            if dims.len() > most {
                return Err(QueryError::BadInput(format!(
                    "at most {most} dimensions per question (groupBy has {})",
                    dims.len()
                ))
                .to_graphql(&engine.request_id));
            }
            let result: Result<Statistics, QueryError> = async {
                let dimensions: Vec<&Dimension> = dims
                    .iter()
                    .map(|n| {
                        def.dimensions
                            .iter()
                            .find(|d| d.name == *n)
                            .expect("allowed")
                    })
                    .collect();
                let sql = query(def, &dimensions, &engine.conditions().for_whole_set());
                let mut raw = Vec::new();
                for r in engine.query_all(sql).await? {
                    let mut keys = Vec::new();
                    for (i, d) in dimensions.iter().enumerate() {
                        let column = format!("d{i}");
                        keys.push(if d.kind == Kind::Boolean {
                            r.try_get_by::<Option<i32>, _>(column.as_str())?
                                .map_or(Cell::Null, |b| Cell::Bool(b != 0))
                        } else {
                            read_cell(&r, &column, Kind::String)?
                        });
                    }
                    let count: i64 = r.try_get_by("n")?;
                    let cell_key: i64 = r.try_get_by::<Option<i64>, _>("k")?.unwrap_or(0);
                    let present = if def.compliance {
                        Some((
                            r.try_get_by::<Option<i64>, _>("present")?.unwrap_or(0),
                            r.try_get_by::<Option<i64>, _>("pk")?.unwrap_or(0),
                        ))
                    } else {
                        None
                    };
                    if count > 0 {
                        raw.push(statistics::RawGroup {
                            keys,
                            count,
                            cell_key,
                            present,
                        });
                    }
                }
                Ok(Statistics {
                    table: statistics::protect(raw, &engine.base.disclosure),
                    dims,
                })
            }
            .await;
            result
                .map(|s| Some(FieldValue::owned_any(s)))
                .map_err(|e| e.to_graphql(&engine.request_id))
        })
    })
    .argument(
        InputValue::new("groupBy", TypeRef::named_nn_list_nn(&dim_enum_name))
            .description("Dimensions to group by (at most the role's max_dimensions, default 3); [] for the total only."),
    )
    .description(def.description);
    (field, vec![stats, group], dim_enum)
}

/// The grouping query for `dims` of `def`, over the persons in the session's jurisdiction.
pub fn query(def: &StatisticsDef, dims: &[&Dimension], conditions: &Conditions<'_>) -> Sql {
    let today = Utc::now().date_naive();
    let mut sql = Sql::new("SELECT ");
    for (i, d) in dims.iter().enumerate() {
        sql.append((d.expr)(today)).push(&format!(" AS d{i}, "));
    }
    let record = def.record;
    sql.push(&format!(
        "COUNT(*) AS n, CAST(SUM({record}.stat_key) % {KEY_SPACE} AS BIGINT) AS k"
    ));
    if def.compliance {
        sql.push(&format!(
            ", SUM(CASE WHEN t.present THEN 1 ELSE 0 END) AS present, CAST(SUM(CASE WHEN t.present THEN t.stat_key ELSE 0 END) % {KEY_SPACE} AS BIGINT) AS pk"
        ));
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
