//! Conditions on one column: the operators a value of each kind may be compared with, and an
//! operator object (`{eq: …}`, `{in: […]}`, `{within: …}`) as SQL over a column, with its
//! values bound. Shared by `where` arguments (`filter`) and the policy's row rules (`rules`,
//! `rows`), so both accept exactly the same operators; also the parsing of Date and DateTime
//! values.

use async_graphql::Value as GqlValue;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::Value;

use crate::catalogue::Kind;
use crate::error::QueryError;
use crate::sql::Sql;

fn ordered(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Int | Kind::BigInt | Kind::Float | Kind::Date | Kind::DateTime | Kind::String
    )
}

/// The operators a condition on a value of `kind` may use: in `where` arguments and in the
/// policy's row rules alike.
pub fn operators(kind: Kind) -> Vec<&'static str> {
    if kind.is_list() {
        return vec!["contains", "isEmpty"];
    }
    let mut ops = vec!["eq", "ne", "in", "notIn", "isNull"];
    if ordered(kind) {
        ops.extend(["gt", "gte", "lt", "lte"]);
    }
    if kind == Kind::Region {
        ops.push("within");
    }
    ops
}

fn bad(message: impl Into<String>) -> QueryError {
    QueryError::BadInput(message.into())
}

/// A GraphQL input value as a bound SQL value for a column of `kind`.
pub(crate) fn bind_value(kind: Kind, value: &GqlValue) -> Result<Value, QueryError> {
    let text = || match value {
        GqlValue::String(s) => Ok(s.clone()),
        GqlValue::Enum(e) => Ok(e.to_string()),
        _ => Err(bad("expected a string")),
    };
    Ok(match kind {
        Kind::Int => Value::Int(Some(
            value
                .clone()
                .into_json()
                .ok()
                .and_then(|v| v.as_i64())
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| bad("expected an Int"))?,
        )),
        Kind::BigInt => Value::BigInt(Some(
            value
                .clone()
                .into_json()
                .ok()
                .and_then(|v| v.as_i64())
                .ok_or_else(|| bad("expected an Int"))?,
        )),
        Kind::Float => Value::Double(Some(
            value
                .clone()
                .into_json()
                .ok()
                .and_then(|v| v.as_f64())
                .ok_or_else(|| bad("expected a Float"))?,
        )),
        Kind::Boolean => match value {
            GqlValue::Boolean(b) => Value::Bool(Some(*b)),
            _ => return Err(bad("expected a Boolean")),
        },
        Kind::Date => Value::ChronoDate(Some(
            parse_date(&text()?).ok_or_else(|| bad("expected a Date (YYYY-MM-DD)"))?,
        )),
        Kind::DateTime => Value::ChronoDateTimeUtc(Some(
            parse_datetime(&text()?).ok_or_else(|| bad("expected a DateTime (RFC 3339)"))?,
        )),
        _ => Value::String(Some(text()?)),
    })
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

pub(crate) fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub(crate) fn column_condition(
    column: &str,
    kind: Kind,
    ops: &GqlValue,
) -> Result<Sql, QueryError> {
    let GqlValue::Object(ops) = ops else {
        return Err(bad("expected an object"));
    };
    let mut parts = Vec::new();
    for (op, value) in ops {
        if matches!(value, GqlValue::Null) {
            continue;
        }
        let mut sql = Sql::new(column);
        match op.as_str() {
            "eq" | "ne" | "gt" | "gte" | "lt" | "lte" => {
                let symbol = match op.as_str() {
                    "eq" => " = ",
                    "ne" => " <> ",
                    "gt" => " > ",
                    "gte" => " >= ",
                    "lt" => " < ",
                    _ => " <= ",
                };
                sql.push(symbol).bind(bind_value(kind, value)?);
            }
            "in" | "notIn" => {
                let items = match value {
                    GqlValue::List(items) => items.as_slice(),
                    GqlValue::Object(_) => return Err(bad("expected a list")),
                    single => std::slice::from_ref(single),
                };
                if items.is_empty() {
                    parts.push(Sql::new(if op.as_str() == "in" { "1=0" } else { "1=1" }));
                    continue;
                }
                sql.push(if op.as_str() == "in" {
                    " IN ("
                } else {
                    " NOT IN ("
                });
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.bind(bind_value(kind, item)?);
                }
                sql.push(")");
            }
            "isNull" => {
                let GqlValue::Boolean(b) = value else {
                    return Err(bad("expected a Boolean"));
                };
                sql.push(if *b { " IS NULL" } else { " IS NOT NULL" });
            }
            "within" => {
                let GqlValue::String(region) = value else {
                    return Err(bad("expected a region code"));
                };
                if !crate::session::is_region_code(region) {
                    return Err(bad(format!("`{region}` is not a region code")));
                }
                sql.push(" = ")
                    .bind(region.clone())
                    .push(&format!(" OR {column} LIKE "))
                    .bind(format!("{region}.%"));
                let mut wrapped = Sql::new("(");
                wrapped.append(sql).push(")");
                sql = wrapped;
            }
            "contains" => {
                let element = serde_json::to_string(&match value {
                    GqlValue::String(s) => s.clone(),
                    GqlValue::Enum(e) => e.to_string(),
                    _ => return Err(bad("expected a string")),
                })
                .map_err(|e| QueryError::Internal(e.to_string()))?;
                sql.push(" LIKE ")
                    .bind(format!("%{}%", like_escape(&element)))
                    .push(" ESCAPE '\\'");
            }
            "isEmpty" => {
                let GqlValue::Boolean(b) = value else {
                    return Err(bad("expected a Boolean"));
                };
                sql.push(if *b { " = '[]'" } else { " <> '[]'" });
            }
            other => return Err(bad(format!("unknown operator `{other}`"))),
        }
        parts.push(sql);
    }
    Ok(Sql::and(parts))
}
