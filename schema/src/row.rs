//! Rows as the resolvers see them: values read from one SQL result row, keyed by name.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Value as GqlValue;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{DbErr, QueryResult};

use crate::catalogue::Kind;

#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

static NULL: Cell = Cell::Null;

/// One fetched row. Cheap to clone: resolvers hand it down to nested fields.
#[derive(Clone, Debug, Default)]
pub struct Row(Arc<RowData>);

#[derive(Debug, Default)]
struct RowData {
    values: HashMap<String, Cell>,
    /// To-one relations read in the same statement (`engine::Fold`), by field name: `None`
    /// when the row has no such related row (or the reader may not see it).
    related: Vec<(&'static str, Option<Row>)>,
}

impl Row {
    pub fn new(values: HashMap<String, Cell>) -> Self {
        Row::with_related(values, Vec::new())
    }

    /// A row with the to-one relations its statement read beside it.
    pub fn with_related(
        values: HashMap<String, Cell>,
        related: Vec<(&'static str, Option<Row>)>,
    ) -> Self {
        Row(Arc::new(RowData { values, related }))
    }

    pub fn get(&self, key: &str) -> &Cell {
        self.0.values.get(key).unwrap_or(&NULL)
    }

    /// Relation `field` as read with this row: `None` when it was not (the loader reads it),
    /// `Some(None)` when there is no related row.
    pub fn related(&self, field: &str) -> Option<Option<&Row>> {
        self.0
            .related
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, row)| row.as_ref())
    }

    /// `key` without a copy where the cell is text (the usual case for ids).
    pub fn key_str(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        match self.get(key) {
            Cell::Str(s) => Some(std::borrow::Cow::Borrowed(s)),
            Cell::Int(i) => Some(std::borrow::Cow::Owned(i.to_string())),
            _ => None,
        }
    }

    /// The value as a string key (ids, foreign keys).
    pub fn key(&self, key: &str) -> Option<String> {
        match self.get(key) {
            Cell::Str(s) => Some(s.clone()),
            Cell::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }
}

/// Reads column `index` of `result` as a value of `kind`.
pub fn read_cell(result: &QueryResult, index: &str, kind: Kind) -> Result<Cell, DbErr> {
    Ok(match kind {
        Kind::Id
        | Kind::String
        | Kind::Region
        | Kind::Enum(_)
        | Kind::StringList
        | Kind::EnumList(_) => result
            .try_get_by::<Option<String>, _>(index)?
            .map_or(Cell::Null, Cell::Str),
        Kind::Int => result
            .try_get_by::<Option<i32>, _>(index)?
            .map_or(Cell::Null, |v| Cell::Int(i64::from(v))),
        Kind::BigInt => result
            .try_get_by::<Option<i64>, _>(index)?
            .map_or(Cell::Null, Cell::Int),
        Kind::Float => result
            .try_get_by::<Option<f64>, _>(index)?
            .map_or(Cell::Null, Cell::Float),
        Kind::Boolean => result
            .try_get_by::<Option<bool>, _>(index)?
            .map_or(Cell::Null, Cell::Bool),
        Kind::Date => result
            .try_get_by::<Option<NaiveDate>, _>(index)?
            .map_or(Cell::Null, Cell::Date),
        Kind::DateTime => result
            .try_get_by::<Option<DateTime<Utc>>, _>(index)?
            .map_or(Cell::Null, Cell::DateTime),
    })
}

/// The GraphQL value of a cell of `kind`.
pub fn to_graphql(cell: &Cell, kind: Kind) -> GqlValue {
    match (cell, kind) {
        (Cell::Null, _) => GqlValue::Null,
        (Cell::Str(s), Kind::Enum(_)) => GqlValue::Enum(async_graphql::Name::new(s)),
        (Cell::Str(s), Kind::StringList) => GqlValue::List(
            serde_json::from_str::<Vec<String>>(s)
                .unwrap_or_default()
                .into_iter()
                .map(GqlValue::String)
                .collect(),
        ),
        (Cell::Str(s), Kind::EnumList(_)) => GqlValue::List(
            serde_json::from_str::<Vec<String>>(s)
                .unwrap_or_default()
                .into_iter()
                .map(|v| GqlValue::Enum(async_graphql::Name::new(v)))
                .collect(),
        ),
        (Cell::Str(s), _) => GqlValue::String(s.clone()),
        (Cell::Int(i), _) => GqlValue::Number((*i).into()),
        (Cell::Float(f), _) => {
            serde_json::Number::from_f64(*f).map_or(GqlValue::Null, GqlValue::Number)
        }
        (Cell::Bool(b), _) => GqlValue::Boolean(*b),
        (Cell::Date(d), _) => GqlValue::String(d.format("%Y-%m-%d").to_string()),
        (Cell::DateTime(t), _) => {
            GqlValue::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
    }
}
