//! The read side of a role's schema: each type's object fields (to-one relations folded into
//! their parent's statement where the selection allows, `fold_of`; the rest batched through
//! `engine`'s `RelationLoader`, to-many ones paged), its `{list}` field with the
//! `{Type}Connection`, `{Type}Edge` and `PageInfo` types (keyset cursors from `cursor`,
//! filters from `filter`), and its `{get}` lookup by id.

use std::sync::Arc;

use async_graphql::Value as GqlValue;
use async_graphql::dataloader::DataLoader;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, TypeRef,
};
use async_graphql::{Lookahead, SelectionField};

use crate::catalogue::{FieldKind, Join};
use crate::cursor;
use crate::engine::{
    Engine, Fold, MAX_FOLDED_RELATIONS, PageBound, RelationKey, RelationLoader, relation_key,
};
use crate::error::QueryError;
use crate::filter::where_sql;
use crate::options::SchemaOptions;
use crate::policy::{Access, TypeView};
use crate::resolve::{engine, getter, note_row, value_type};
use crate::row::{Row, to_graphql};
use crate::sql::Sql;

/// Parent value of a `{Type}Connection`.
struct Connection {
    type_name: &'static str,
    rows: Vec<Row>,
    has_next: bool,
    has_previous: bool,
    /// The filter (no position): what `totalCount` counts.
    condition: Sql,
    /// What the rows' cursors are bound to, and the order they hold keys of.
    binding: String,
    terms: Arc<Vec<cursor::OrderTerm>>,
}

struct Edge {
    cursor: String,
    row: Row,
}

struct PageInfo {
    has_next: bool,
    has_previous: bool,
    start: Option<String>,
    end: Option<String>,
}

/// A field of a row object: records the row in the audit trail, then reads the value.
fn row_getter(
    name: &str,
    ty: TypeRef,
    view: &TypeView,
    get: impl Fn(&Row) -> GqlValue + Send + Sync + 'static,
) -> Field {
    let get = Arc::new(get);
    let type_name = view.def.name;
    let person_column = view.def.person_column;
    Field::new(name, ty, move |ctx| {
        let get = get.clone();
        FieldFuture::new(async move {
            let row = ctx.parent_value.try_downcast_ref::<Row>()?;
            note_row(&ctx, type_name, person_column, row);
            let value = get(row);
            Ok((value != GqlValue::Null).then(|| FieldValue::value(value)))
        })
    })
}

/// One object field of a role's type.
pub(crate) fn object_field(view: &TypeView, index: usize, options: &SchemaOptions) -> Field {
    let f = &view.fields[index];
    let def = f.def;
    let parent_type = view.def.name;
    let person_column = view.def.person_column;
    let field = match (def.kind, f.access) {
        (
            FieldKind::Column {
                column,
                kind,
                nullable,
            },
            Access::Full,
        ) => row_getter(def.name, value_type(kind, nullable), view, move |row| {
            to_graphql(row.get(column), kind)
        }),
        (FieldKind::Column { column, kind, .. }, Access::Referred) => {
            let key = format!("referred:{column}");
            row_getter(def.name, value_type(kind, true), view, move |row| to_graphql(row.get(&key), kind))
                .description("Only for persons with an accepted, unexpired referral to your agency; null otherwise.")
        }
        (FieldKind::Mask { kind, .. }, _) => {
            // Computed by the database (`catalogue::MaskSql`): the row holds only the mask.
            let name = def.name;
            row_getter(def.name, value_type(kind, true), view, move |row| {
                to_graphql(row.get(name), kind)
            })
        }
        // A maintained column is keyed by its column, like any column the select list reads.
        (FieldKind::Maintained { column, kind }, _) => {
            row_getter(def.name, value_type(kind, false), view, move |row| {
                to_graphql(row.get(column), kind)
            })
        }
        (FieldKind::Expression { kind, .. }, _) => {
            let name = def.name;
            row_getter(def.name, value_type(kind, false), view, move |row| {
                to_graphql(row.get(name), kind)
            })
        }
        (FieldKind::Relation { target, join, many }, _) => {
            let field_name = def.name;
            let ty = if many {
                TypeRef::named_nn_list_nn(target)
            } else {
                TypeRef::named(target)
            };
            let default_rows = options.nested_page_size;
            let max_rows = options.max_nested_page_size;
            let field = Field::new(def.name, ty, move |ctx| {
                FieldFuture::new(async move {
                    let engine = engine(&ctx)?;
                    let row = ctx.parent_value.try_downcast_ref::<Row>()?.clone();
                    note_row(&ctx, parent_type, person_column, &row);
                    // A to-many relation is a page too: at most `first` rows per parent.
                    let limit = if many {
                        Some(
                            page_size(&ctx, default_rows, max_rows)
                                .map_err(|e| e.to_graphql(&engine.request_id))?,
                        )
                    } else {
                        None
                    };
                    let folded = if many { None } else { row.related(field_name) };
                    let rows = match (folded, relation_key(&row, join)) {
                        // Read with its parent, in the parent's statement.
                        (Some(related), _) => related.cloned().into_iter().collect(),
                        (None, None) => Vec::new(),
                        (None, Some(key)) => ctx
                            .data::<DataLoader<RelationLoader>>()?
                            .load_one(RelationKey {
                                parent_type,
                                field: field_name,
                                key,
                                limit,
                            })
                            .await
                            .map_err(|e| e.to_graphql(&engine.request_id))?
                            .unwrap_or_default(),
                    };
                    Ok(if many {
                        Some(FieldValue::list(
                            rows.into_iter().map(FieldValue::owned_any),
                        ))
                    } else {
                        rows.into_iter().next().map(FieldValue::owned_any)
                    })
                })
            });
            if many {
                field.argument(InputValue::new("first", TypeRef::named(TypeRef::INT)).description(
                    format!("Most rows returned (default {default_rows}, at most {max_rows}), in id order."),
                ))
            } else {
                field
            }
        }
    };
    if def.description.is_empty() {
        field
    } else {
        field.description(def.description)
    }
}

/// The to-one relations of `type_name` that `selection` (the fields asked of its rows) names,
/// to be read in the rows' own statement: every one that joins by a key (not through a link
/// table), and in turn those named inside it, at most `MAX_FOLDED_RELATIONS` in all. Aliases,
/// fragments and directives are looked through: a relation named under `@skip` is read but not
/// answered, and the related row is the same whichever way it is read.
pub(crate) fn fold_of(engine: &Engine, type_name: &str, selection: &Lookahead<'_>) -> Fold {
    let mut budget = MAX_FOLDED_RELATIONS;
    fold_within(engine, type_name, selection, &mut budget)
}

fn fold_within(
    engine: &Engine,
    type_name: &str,
    selection: &Lookahead<'_>,
    budget: &mut usize,
) -> Fold {
    let Ok(view) = engine.view(type_name) else {
        return Fold::default();
    };
    let mut folded = Vec::new();
    for f in &view.fields {
        let FieldKind::Relation {
            target,
            join: Join::Forward { .. } | Join::Reverse { .. },
            many: false,
        } = f.def.kind
        else {
            continue;
        };
        let inner = selection.field(f.def.name);
        if *budget == 0 || !inner.exists() {
            continue;
        }
        *budget -= 1;
        folded.push((f.def.name, fold_within(engine, target, &inner, budget)));
    }
    Fold(folded)
}

/// The `first` argument of a page: `default` when absent or null, at most `max`.
fn page_size(ctx: &ResolverContext<'_>, default: u32, max: u32) -> Result<u32, QueryError> {
    match ctx.args.get("first").filter(|v| !v.is_null()) {
        Some(v) => v
            .i64()
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= max)
            .ok_or_else(|| QueryError::BadInput(format!("`first` must be between 0 and {max}"))),
        None => Ok(default),
    }
}

/// Which page of a list: `first` rows after a cursor, or `last` rows before one.
struct Page {
    size: u32,
    /// The cursor to start from (`after`, or `before` when backward).
    position: Option<String>,
    backward: bool,
}

impl Page {
    fn of(ctx: &ResolverContext<'_>, default: u32, max: u32) -> Result<Page, QueryError> {
        let arg = |name: &str| ctx.args.get(name).filter(|v| !v.is_null());
        let cursor = |name: &str| -> Result<Option<String>, QueryError> {
            arg(name)
                .map(|v| {
                    v.string()
                        .map(str::to_owned)
                        .map_err(|_| QueryError::BadInput(format!("`{name}` must be a cursor")))
                })
                .transpose()
        };
        let (after, before) = (cursor("after")?, cursor("before")?);
        let backward = arg("last").is_some() || before.is_some();
        if backward && (arg("first").is_some() || after.is_some()) {
            return Err(QueryError::BadInput(
                "page forward with `first`/`after` or backward with `last`/`before`, not both"
                    .into(),
            ));
        }
        let size = match arg(if backward { "last" } else { "first" }) {
            Some(v) => v
                .i64()
                .ok()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    QueryError::BadInput(format!("a page size must be between 0 and {max}"))
                })?,
            None => default,
        };
        Ok(Page {
            size,
            position: if backward { before } else { after },
            backward,
        })
    }
}

pub(crate) fn list_field(view: &TypeView, options: &SchemaOptions) -> Field {
    let type_name = view.def.name;
    let default_page = options.default_page_size;
    let max_page = options.max_page_size;
    Field::new(
        view.def.list_field,
        TypeRef::named_nn(format!("{type_name}Connection")),
        move |ctx| {
            FieldFuture::new(async move {
                let engine = engine(&ctx)?;
                let result: Result<Connection, QueryError> = async {
                    let view = engine.view(type_name)?;
                    // An explicit null (an omitted variable) means "not given".
                    let arg = |name: &str| ctx.args.get(name).filter(|v| !v.is_null());
                    let page = Page::of(&ctx, default_page, max_page)?;
                    let filter = arg("where").map(|v| v.as_value().clone());
                    let condition = match &filter {
                        Some(v) => where_sql(view, v, &engine.conditions())?,
                        None => Sql::new("1=1"),
                    };
                    let terms = cursor::order_terms(view, arg("orderBy").map(|v| v.as_value()))?;
                    let binding = cursor::binding(type_name, filter.as_ref(), &terms);
                    let mut seeking = condition.clone();
                    if let Some(position) = &page.position {
                        let keys = cursor::decode(position, &binding, &terms)?;
                        seeking = Sql::and(vec![
                            condition.clone(),
                            cursor::seek(&terms, &keys, page.backward)?,
                        ]);
                    }
                    let bound = PageBound {
                        order: cursor::order_clause(&terms, page.backward),
                        limit: i64::from(page.size) + 1,
                    };
                    // The order's columns are read for the cursors, named or not.
                    let order_columns: Vec<&str> = terms.iter().map(|t| t.column).collect();
                    let look = ctx.look_ahead();
                    let mut nodes: Vec<SelectionField<'_>> = look.field("nodes").selection_fields();
                    nodes.extend(look.field("edges").field("node").selection_fields());
                    let fold = match Lookahead::try_from(nodes.as_slice()) {
                        Ok(nodes) => fold_of(&engine, type_name, &nodes),
                        Err(()) => Fold::default(),
                    };
                    let mut rows: Vec<Row> = engine
                        .fetch_folded(type_name, seeking, Some(bound), &order_columns, &fold)
                        .await?;
                    let more = rows.len() > page.size as usize;
                    rows.truncate(page.size as usize);
                    let given = page.position.is_some();
                    let (has_next, has_previous) = if page.backward {
                        rows.reverse();
                        (given, more)
                    } else {
                        (more, given)
                    };
                    Ok(Connection {
                        type_name,
                        rows,
                        has_next,
                        has_previous,
                        condition,
                        binding,
                        terms: Arc::new(terms),
                    })
                }
                .await;
                result
                    .map(|c| Some(FieldValue::owned_any(c)))
                    .map_err(|e| e.to_graphql(&engine.request_id))
            })
        },
    )
    .argument(
        InputValue::new("first", TypeRef::named(TypeRef::INT)).description(format!(
            "Page size (default {default_page}, at most {max_page})."
        )),
    )
    .argument(
        InputValue::new("after", TypeRef::named(TypeRef::STRING)).description(
            "Rows after this cursor (an `endCursor` of the same list, filter and order).",
        ),
    )
    .argument(
        InputValue::new("last", TypeRef::named(TypeRef::INT)).description(format!(
            "Page size counted from the end, with `before` (at most {max_page})."
        )),
    )
    .argument(
        InputValue::new("before", TypeRef::named(TypeRef::STRING)).description(
            "Rows before this cursor (a `startCursor` of the same list, filter and order).",
        ),
    )
    .argument(InputValue::new(
        "where",
        TypeRef::named(format!("{type_name}Filter")),
    ))
    .argument(InputValue::new(
        "orderBy",
        TypeRef::named_nn_list(format!("{type_name}Order")),
    ))
}

pub(crate) fn get_field(view: &TypeView) -> Field {
    let type_name = view.def.name;
    Field::new(view.def.get_field, TypeRef::named(type_name), move |ctx| {
        FieldFuture::new(async move {
            let engine = engine(&ctx)?;
            let id = ctx.args.try_get("id")?.string()?.to_owned();
            let mut condition = Sql::new("t.id = ");
            condition.bind(id);
            let fold = fold_of(&engine, type_name, &ctx.look_ahead());
            let rows = engine
                .fetch_folded(type_name, condition, None, &[], &fold)
                .await
                .map_err(|e| e.to_graphql(&engine.request_id))?;
            Ok(rows.into_iter().next().map(FieldValue::owned_any))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
}

pub(crate) fn connection_types(type_name: &'static str) -> (Object, Object) {
    let connection = Object::new(format!("{type_name}Connection"))
        .field(Field::new(
            "nodes",
            TypeRef::named_nn_list_nn(type_name),
            |ctx| {
                FieldFuture::new(async move {
                    let c = ctx.parent_value.try_downcast_ref::<Connection>()?;
                    Ok(Some(FieldValue::list(
                        c.rows.iter().cloned().map(FieldValue::owned_any),
                    )))
                })
            },
        ))
        .field(Field::new(
            "edges",
            TypeRef::named_nn_list_nn(format!("{type_name}Edge")),
            |ctx| {
                FieldFuture::new(async move {
                    let c = ctx.parent_value.try_downcast_ref::<Connection>()?;
                    Ok(Some(FieldValue::list(c.rows.iter().map(|row| {
                        FieldValue::owned_any(Edge {
                            cursor: cursor::encode(&c.binding, &c.terms, row),
                            row: row.clone(),
                        })
                    }))))
                })
            },
        ))
        .field(Field::new(
            "pageInfo",
            TypeRef::named_nn("PageInfo"),
            |ctx| {
                FieldFuture::new(async move {
                    let c = ctx.parent_value.try_downcast_ref::<Connection>()?;
                    let at = |row: &Row| cursor::encode(&c.binding, &c.terms, row);
                    Ok(Some(FieldValue::owned_any(PageInfo {
                        has_next: c.has_next,
                        has_previous: c.has_previous,
                        start: c.rows.first().map(at),
                        end: c.rows.last().map(at),
                    })))
                })
            },
        ))
        .field(
            Field::new("totalCount", TypeRef::named_nn(TypeRef::INT), |ctx| {
                FieldFuture::new(async move {
                    let engine = engine(&ctx)?;
                    let c = ctx.parent_value.try_downcast_ref::<Connection>()?;
                    let n = engine
                        .count(c.type_name, c.condition.clone())
                        .await
                        .map_err(|e| e.to_graphql(&engine.request_id))?;
                    Ok(Some(FieldValue::value(n)))
                })
            })
            .description("Rows matching the filter, over all pages."),
        );
    let edge = Object::new(format!("{type_name}Edge"))
        .field(getter::<Edge>(
            "cursor",
            TypeRef::named_nn(TypeRef::STRING),
            |e| GqlValue::String(e.cursor.clone()),
        ))
        .field(Field::new("node", TypeRef::named_nn(type_name), |ctx| {
            FieldFuture::new(async move {
                let e = ctx.parent_value.try_downcast_ref::<Edge>()?;
                Ok(Some(FieldValue::owned_any(e.row.clone())))
            })
        }));
    (connection, edge)
}

pub(crate) fn page_info_type() -> Object {
    let opt = |s: &Option<String>| s.clone().map_or(GqlValue::Null, GqlValue::String);
    Object::new("PageInfo")
        .field(getter::<PageInfo>(
            "hasNextPage",
            TypeRef::named_nn(TypeRef::BOOLEAN),
            |p| GqlValue::Boolean(p.has_next),
        ))
        .field(getter::<PageInfo>(
            "hasPreviousPage",
            TypeRef::named_nn(TypeRef::BOOLEAN),
            |p| GqlValue::Boolean(p.has_previous),
        ))
        .field(getter::<PageInfo>(
            "startCursor",
            TypeRef::named(TypeRef::STRING),
            move |p| opt(&p.start),
        ))
        .field(getter::<PageInfo>(
            "endCursor",
            TypeRef::named(TypeRef::STRING),
            move |p| opt(&p.end),
        ))
}
