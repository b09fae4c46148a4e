//! Relay cursors as keyset positions: a cursor holds the sort-key values of its row and a
//! binding to the list, filter and order it came from. The next page is "rows after this
//! position in this order" (a seek, never an `OFFSET`), so a page costs the same whatever its
//! number, and rows inserted or deleted between pages neither repeat nor push others out.
//!
//! The order always ends with `id`, so positions are total. Nullable columns sort nulls last in
//! both directions (a `CASE … IS NULL` term before the column), as `orderBy` always has.

use async_graphql::Value as GqlValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalogue::Kind;
use crate::condition::bind_value;
use crate::error::QueryError;
use crate::filter::screaming;
use crate::policy::TypeView;
use crate::row::{Row, to_graphql};
use crate::sql::Sql;

/// Longest cursor accepted (a forged one is refused before it is decoded).
const MAX_CURSOR_CHARS: usize = 4096;

/// One term of a list's order.
#[derive(Clone, Debug)]
pub struct OrderTerm {
    pub column: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    pub descending: bool,
}

fn bad(message: &str) -> QueryError {
    QueryError::BadInput(message.to_owned())
}

fn foreign() -> QueryError {
    bad("the cursor is not a cursor of this list, filter and order")
}

/// The order `orderBy` asks for on `view`, ended by `id`.
pub fn order_terms(
    view: &TypeView,
    order: Option<&GqlValue>,
) -> Result<Vec<OrderTerm>, QueryError> {
    let mut terms = Vec::new();
    // A single order where a list is expected is a list of one (input coercion); anything
    // else is refused, never ignored.
    let items = match order {
        None | Some(GqlValue::Null) => &[][..],
        Some(GqlValue::List(items)) => items.as_slice(),
        Some(single @ GqlValue::Object(_)) => std::slice::from_ref(single),
        Some(_) => return Err(bad("orderBy takes a list of {field, direction}")),
    };
    {
        for item in items {
            let GqlValue::Object(o) = item else {
                return Err(bad("expected an object"));
            };
            // Enum values arrive as enums inline and as strings from JSON variables.
            let enum_value = |key: &str| match o.get(key) {
                Some(GqlValue::Enum(e)) => Some(e.to_string()),
                Some(GqlValue::String(s)) => Some(s.clone()),
                _ => None,
            };
            let field = enum_value("field").ok_or_else(|| bad("orderBy needs a field"))?;
            let descending = enum_value("direction").as_deref() == Some("DESC");
            let (column, kind, nullable) = view
                .fields
                .iter()
                .find(|f| screaming(f.def.name) == field && f.filterable().is_some())
                .and_then(|f| f.def.column())
                .ok_or_else(|| QueryError::BadInput(format!("unknown order field `{field}`")))?;
            terms.push(OrderTerm {
                column,
                kind,
                nullable,
                descending,
            });
        }
    }
    terms.push(OrderTerm {
        column: "id",
        kind: Kind::Id,
        nullable: false,
        descending: false,
    });
    Ok(terms)
}

/// `ORDER BY` for `terms`, or for their reverse (`backward`, for `last`/`before`).
pub fn order_clause(terms: &[OrderTerm], backward: bool) -> String {
    let mut parts = Vec::new();
    for term in terms {
        if term.nullable {
            // Nulls last on every backend, in both directions.
            parts.push(format!(
                "CASE WHEN t.{} IS NULL THEN 1 ELSE 0 END{}",
                term.column,
                if backward { " DESC" } else { "" }
            ));
        }
        parts.push(format!(
            "t.{}{}",
            term.column,
            if term.descending != backward {
                " DESC"
            } else {
                ""
            }
        ));
    }
    format!("ORDER BY {}", parts.join(", "))
}

/// What a cursor is bound to: the list, its filter (as given, variables resolved) and order.
pub fn binding(list: &str, filter: Option<&GqlValue>, terms: &[OrderTerm]) -> String {
    let mut hash = Sha256::new();
    hash.update(list.as_bytes());
    hash.update([0]);
    hash.update(
        filter
            .and_then(|f| f.clone().into_json().ok())
            .map(|j| j.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    for term in terms {
        hash.update([0]);
        hash.update(term.column.as_bytes());
        hash.update([u8::from(term.descending)]);
    }
    hash.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Serialize, Deserialize)]
struct Position {
    /// The binding.
    b: String,
    /// The row's sort keys, in order.
    k: Vec<serde_json::Value>,
}

/// The cursor of `row` in a list bound to `binding` and ordered by `terms`.
pub fn encode(binding: &str, terms: &[OrderTerm], row: &Row) -> String {
    let keys = terms
        .iter()
        .map(|t| {
            to_graphql(row.get(t.column), t.kind)
                .into_json()
                .unwrap_or(serde_json::Value::Null)
        })
        .collect();
    let position = Position {
        b: binding.to_owned(),
        k: keys,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&position).unwrap_or_default())
}

/// The sort keys a cursor holds, if it is one of this list, filter and order.
pub fn decode(
    cursor: &str,
    binding: &str,
    terms: &[OrderTerm],
) -> Result<Vec<GqlValue>, QueryError> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(foreign());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| foreign())?;
    let position: Position = serde_json::from_slice(&bytes).map_err(|_| foreign())?;
    if position.b != binding || position.k.len() != terms.len() {
        return Err(foreign());
    }
    position
        .k
        .into_iter()
        .map(|j| GqlValue::from_json(j).map_err(|_| foreign()))
        .collect()
}

/// Rows strictly after (`backward`: before) the position `keys` in the order `terms`:
/// `(a > x) OR (a = x AND b > y) OR …`, each column compared with its direction and nulls
/// placed last.
pub fn seek(terms: &[OrderTerm], keys: &[GqlValue], backward: bool) -> Result<Sql, QueryError> {
    // Each term, with its null flag first when it has one: (equal, strictly beyond).
    let mut steps: Vec<(Sql, Sql)> = Vec::new();
    for (term, key) in terms.iter().zip(keys) {
        let column = format!("t.{}", term.column);
        let is_null = matches!(key, GqlValue::Null);
        if is_null && !term.nullable {
            return Err(foreign());
        }
        if term.nullable {
            // The flag (1 for null) sorts ascending forward, descending backward.
            let equal = Sql::new(format!(
                "{column} IS {}NULL",
                if is_null { "" } else { "NOT " }
            ));
            let beyond = match (is_null, backward) {
                (false, false) => Sql::new(format!("{column} IS NULL")),
                (true, true) => Sql::new(format!("{column} IS NOT NULL")),
                _ => Sql::new("1=0"),
            };
            steps.push((equal, beyond));
        }
        if is_null {
            // Within the nulls only the next terms order.
            continue;
        }
        let value = bind_value(term.kind, key).map_err(|_| foreign())?;
        let op = if term.descending != backward {
            "<"
        } else {
            ">"
        };
        let mut equal = Sql::new(format!("{column} = "));
        equal.bind(value.clone());
        let mut beyond = Sql::new(format!("{column} {op} "));
        beyond.bind(value);
        steps.push((equal, beyond));
    }
    let mut alternatives = Vec::new();
    for i in 0..steps.len() {
        let mut all: Vec<Sql> = steps[..i].iter().map(|(eq, _)| eq.clone()).collect();
        all.push(steps[i].1.clone());
        alternatives.push(Sql::and(all));
    }
    Ok(Sql::or(alternatives))
}
