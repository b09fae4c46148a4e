//! Filter and sort arguments: their GraphQL input types and their translation into SQL (a
//! condition on one column, shared with the row rules, is `condition`'s).
//!
//! Both are drawn from the role's fields read in full (`FieldView::filterable`): a field the
//! role cannot read, or reads only masked or by referral, is not in the input types, so it
//! cannot be used as an oracle.

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{Enum, EnumItem, InputObject, InputValue, TypeRef};

use crate::catalogue::Kind;
use crate::condition::{column_condition, operators};
use crate::error::QueryError;
use crate::policy::TypeView;
use crate::sql::Sql;

/// `fullName` → `FULL_NAME`.
pub fn screaming(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

/// Name of the shared filter input for values of `kind`.
pub fn filter_type_name(kind: Kind) -> String {
    match kind {
        Kind::StringList => "StringListFilter".to_owned(),
        Kind::EnumList(e) => format!("{e}ListFilter"),
        other => format!("{}Filter", other.graphql_name()),
    }
}

/// The input type that filters values of `kind`.
pub fn filter_input(kind: Kind) -> InputObject {
    let name = filter_type_name(kind);
    let scalar = kind.graphql_name();
    let mut input = InputObject::new(&name).description(format!(
        "Conditions on a {scalar} value; all given conditions must hold."
    ));
    for op in operators(kind) {
        let value = match op {
            "contains" => InputValue::new(op, TypeRef::named(scalar))
                .description("The list contains this value."),
            "isEmpty" | "isNull" => InputValue::new(op, TypeRef::named(TypeRef::BOOLEAN)),
            "in" | "notIn" => InputValue::new(op, TypeRef::named_nn_list(scalar)),
            "within" => InputValue::new(op, TypeRef::named(scalar))
                .description("The code lies within this region (the code itself or below it)."),
            _ => InputValue::new(op, TypeRef::named(scalar)),
        };
        input = input.field(value);
    }
    input
}

/// `{Type}Filter`: one entry per filterable field, plus `and`, `or`, `not`.
pub fn type_filter_input(view: &TypeView) -> InputObject {
    let name = format!("{}Filter", view.def.name);
    let mut input = InputObject::new(&name)
        .field(InputValue::new("and", TypeRef::named_nn_list(&name)))
        .field(InputValue::new("or", TypeRef::named_nn_list(&name)))
        .field(InputValue::new("not", TypeRef::named(&name)));
    for f in &view.fields {
        if let Some((_, kind)) = f.filterable() {
            input = input.field(InputValue::new(
                f.def.name,
                TypeRef::named(filter_type_name(kind)),
            ));
        }
    }
    if view.def.name == "Referral" {
        input = input.field(
            InputValue::new("direction", TypeRef::named("ReferralDirection"))
                .description("Referrals your agency received (INCOMING) or sent (OUTGOING)."),
        );
    }
    input
}

/// `{Type}OrderField` and `{Type}Order`: sortable fields are the filterable non-list ones.
pub fn type_order_inputs(view: &TypeView) -> (Enum, InputObject) {
    let field_enum = format!("{}OrderField", view.def.name);
    let mut e = Enum::new(&field_enum);
    for f in &view.fields {
        if let Some((_, kind)) = f.filterable()
            && !kind.is_list()
        {
            e = e.item(EnumItem::new(screaming(f.def.name)));
        }
    }
    let input = InputObject::new(format!("{}Order", view.def.name))
        .field(InputValue::new("field", TypeRef::named_nn(&field_enum)))
        .field(
            InputValue::new("direction", TypeRef::named_nn("OrderDirection"))
                .default_value(GqlValue::Enum(async_graphql::Name::new("ASC"))),
        );
    (e, input)
}

fn bad(message: impl Into<String>) -> QueryError {
    QueryError::BadInput(message.into())
}

/// Translates a `{Type}Filter` value into an SQL condition on alias `t`. `conditions` are the
/// reader's: a filter on a list of person ids holds only for persons the reader may see.
pub fn where_sql(
    view: &TypeView,
    filter: &GqlValue,
    conditions: &crate::rows::Conditions<'_>,
) -> Result<Sql, QueryError> {
    let entries = match filter {
        GqlValue::Object(entries) => entries,
        GqlValue::Null => return Ok(Sql::new("1=1")),
        // Never ignored: a filter of the wrong shape would otherwise return every row.
        _ => return Err(bad("a filter must be an object")),
    };
    let mut parts = Vec::new();
    for (key, value) in entries {
        if matches!(value, GqlValue::Null) {
            continue;
        }
        match key.as_str() {
            "and" | "or" => {
                // A single filter where a list is expected is a list of one (input coercion).
                let items = match value {
                    GqlValue::List(items) => items.as_slice(),
                    GqlValue::Object(_) => std::slice::from_ref(value),
                    _ => return Err(bad("`and` and `or` take a list of filters")),
                };
                let subs = items
                    .iter()
                    .map(|i| where_sql(view, i, conditions))
                    .collect::<Result<Vec<_>, _>>()?;
                parts.push(if key.as_str() == "and" {
                    Sql::and(subs)
                } else {
                    Sql::or(subs)
                });
            }
            "not" => {
                let mut sql = Sql::new("NOT (");
                sql.append(where_sql(view, value, conditions)?).push(")");
                parts.push(sql);
            }
            "direction" if view.def.name == "Referral" => {
                let side = match value {
                    GqlValue::Enum(e) => e.to_string(),
                    GqlValue::String(s) => s.clone(),
                    _ => return Err(bad("`direction` is INCOMING or OUTGOING")),
                };
                parts.push(match side.as_str() {
                    "INCOMING" => conditions.own_agency("t.to_agency_id"),
                    "OUTGOING" => conditions.own_agency("t.from_agency_id"),
                    _ => return Err(bad("`direction` is INCOMING or OUTGOING")),
                });
            }
            field => {
                // The input type only offers filterable fields; this re-checks rather than trusts.
                let (column, kind) = view
                    .field(field)
                    .and_then(|f| f.filterable())
                    .ok_or_else(|| bad(format!("unknown filter field `{field}`")))?;
                let mut condition = column_condition(&format!("t.{column}"), kind, value)?;
                if view.def.person_list_column == Some(column)
                    && let GqlValue::Object(ops) = value
                    && let Some(GqlValue::String(person)) = ops.get("contains")
                {
                    // "Did my agency read person X" only for an X the reader may see.
                    let mut visible =
                        Sql::new("EXISTS (SELECT 1 FROM persons pf_p WHERE pf_p.id = ");
                    visible
                        .bind(person.clone())
                        .push(" AND ")
                        .append(conditions.rows("Person", "pf_p"))
                        .push(")");
                    condition = Sql::and(vec![condition, visible]);
                }
                parts.push(condition);
            }
        }
    }
    Ok(Sql::and(parts))
}
