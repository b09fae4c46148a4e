//! The one schema generator: (compiled policy, role) → an async-graphql dynamic schema.
//!
//! Only what the role's `RoleView` lists is registered. A field the role may not read is not in
//! the schema, so it fails validation exactly like a field that never existed, is absent from
//! introspection and SDL, and (with suggestions disabled) is never hinted at.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_graphql::Value as GqlValue;
use async_graphql::dataloader::DataLoader;
use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, Scalar,
    Schema, SchemaError, TypeRef,
};

use crate::catalogue::{CATALOGUE, FieldKind, Kind};
use crate::cursor;
use crate::engine::{Engine, RelationKey, RelationLoader, relation_key};
use crate::error::QueryError;
use crate::filter::{filter_input, type_filter_input, type_order_inputs, where_sql};
use crate::policy::{Access, RoleView, TypeView};
use crate::resolve::{engine, getter, note_row, value_type};
use crate::row::{Cell, Row, read_cell, to_graphql};
use crate::sql::Sql;
use crate::statistics_schema::statistics_types;

/// Set by `ValidationProbe` once a request has passed validation: the HTTP layer puts one in
/// each request's data to tell request errors (4xx) from field errors during execution.
#[derive(Clone, Debug, Default)]
pub struct ExecutionStarted(pub Arc<std::sync::atomic::AtomicBool>);

impl ExecutionStarted {
    pub fn started(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

struct ValidationProbe;

impl async_graphql::extensions::ExtensionFactory for ValidationProbe {
    fn create(&self) -> Arc<dyn async_graphql::extensions::Extension> {
        Arc::new(ValidationProbe)
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ValidationProbe {
    async fn validation(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextValidation<'_>,
    ) -> Result<async_graphql::ValidationResult, Vec<async_graphql::ServerError>> {
        let result = next.run(ctx).await;
        if result.is_ok()
            && let Some(flag) = ctx.data_opt::<ExecutionStarted>()
        {
            flag.0.store(true, std::sync::atomic::Ordering::Release);
        }
        result
    }
}

/// Deepest introspection query accepted: graphql-js' `getIntrospectionQuery()` needs 15.
pub const INTROSPECTION_DEPTH: usize = 20;

/// Limits and defaults that shape every role's schema.
#[derive(Clone, Debug)]
pub struct SchemaOptions {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// `verifyDocument` calls allowed per caller per minute.
    pub verify_per_minute: u32,
    /// Rows of a nested to-many relation per parent when `first` is not given.
    pub nested_page_size: u32,
    /// Largest `first` of a nested to-many relation.
    pub max_nested_page_size: u32,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions {
            max_depth: 12,
            max_complexity: 2_000,
            default_page_size: 50,
            max_page_size: 500,
            verify_per_minute: 30,
            nested_page_size: 50,
            max_nested_page_size: 500,
        }
    }
}

/// The `verifyDocument` limit per caller (`Session::caller_key`), counted in the database
/// so that it holds across every gateway process sharing it.
#[derive(Default)]
pub struct RateLimiter {
    per_minute: u32,
    /// Where the counts live; `None`: the request's database.
    store: Option<Arc<dyn crate::rate::CounterStore>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            store: None,
        }
    }

    /// Counts in `store` (e.g. Redis) instead of the request's database.
    pub fn with_store(mut self, store: Arc<dyn crate::rate::CounterStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Counts a call by the engine's caller; `RateLimited` when it has used up its minute.
    pub async fn allow(&self, engine: &Engine) -> Result<(), QueryError> {
        let caller = engine.session.caller_key();
        let verdict = match &self.store {
            Some(store) => store
                .hit("verifyDocument", &caller, self.per_minute)
                .await
                .map_err(|e| {
                    tracing::error!(request_id = %engine.request_id, error = %e, "rate counters unavailable");
                    QueryError::Unavailable(sea_orm::DbErr::Custom("rate counters".into()))
                })?,
            None => {
                crate::rate::hit(&engine.db, "verifyDocument", &caller, self.per_minute).await?
            }
        };
        match verdict {
            crate::rate::Verdict::Allowed { .. } => Ok(()),
            crate::rate::Verdict::Limited { retry_after } => Err(QueryError::RateLimited {
                retry_after_secs: retry_after.as_secs().max(1),
            }),
        }
    }
}

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

struct Verification {
    valid: bool,
    document_type: Option<String>,
    expiry: Cell,
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
fn object_field(view: &TypeView, index: usize, options: &SchemaOptions) -> Field {
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
                    let rows = match relation_key(&row, join) {
                        None => Vec::new(),
                        Some(key) => ctx
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

fn list_field(view: &TypeView, options: &SchemaOptions) -> Field {
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
                    let mut tail = Sql::new(cursor::order_clause(&terms, page.backward));
                    tail.push(" LIMIT ").bind(i64::from(page.size) + 1);
                    // The order's columns are read for the cursors, named or not.
                    let order_columns: Vec<&str> = terms.iter().map(|t| t.column).collect();
                    let mut rows: Vec<Row> = engine
                        .fetch_also(type_name, seeking, tail, &order_columns)
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

fn get_field(view: &TypeView) -> Field {
    let type_name = view.def.name;
    Field::new(view.def.get_field, TypeRef::named(type_name), move |ctx| {
        FieldFuture::new(async move {
            let engine = engine(&ctx)?;
            let id = ctx.args.try_get("id")?.string()?.to_owned();
            let mut condition = Sql::new("t.id = ");
            condition.bind(id);
            let rows = engine
                .fetch(type_name, None, None, condition, Sql::default())
                .await
                .map_err(|e| e.to_graphql(&engine.request_id))?;
            Ok(rows
                .into_iter()
                .next()
                .map(|(_, r)| FieldValue::owned_any(r)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
}

fn connection_types(type_name: &'static str) -> (Object, Object) {
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

fn page_info_type() -> Object {
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

fn verify_document_field() -> (Field, Object) {
    let field = Field::new(
        "verifyDocument",
        TypeRef::named_nn("DocumentVerification"),
        |ctx| {
            FieldFuture::new(async move {
                let engine = engine(&ctx)?;
                let limiter = ctx.data::<Arc<RateLimiter>>()?;
                limiter
                    .allow(&engine)
                    .await
                    .map_err(|e| e.to_graphql(&engine.request_id))?;
                let document = ctx.args.try_get("documentNumber")?.string()?.to_owned();
                let case = ctx.args.try_get("unhcrCaseNumber")?.string()?.to_owned();
                let mut sql = Sql::new(
                    "SELECT r.document_type AS c0, r.document_expiry AS c1, r.file_status AS c2 \
                 FROM unhcr_registrations r JOIN persons p ON p.id = r.person_id \
                 JOIN cases c ON c.id = p.case_id WHERE r.document_number = ",
                );
                sql.bind(document)
                    .push(" AND c.unhcr_case_number = ")
                    .bind(case);
                let result: Result<Verification, QueryError> = async {
                    let rows = engine.query_all(sql).await?;
                    let Some(r) = rows.first() else {
                        return Ok(Verification {
                            valid: false,
                            document_type: None,
                            expiry: Cell::Null,
                        });
                    };
                    let expiry = read_cell(r, "c1", Kind::Date)?;
                    let active =
                        matches!(read_cell(r, "c2", Kind::String)?, Cell::Str(s) if s == "ACTIVE");
                    let unexpired =
                        matches!(expiry, Cell::Date(d) if d >= chrono::Utc::now().date_naive());
                    let document_type = match read_cell(r, "c0", Kind::String)? {
                        Cell::Str(s) => Some(s),
                        _ => None,
                    };
                    Ok(Verification {
                        valid: active && unexpired,
                        document_type,
                        expiry,
                    })
                }
                .await;
                result
                    .map(|v| Some(FieldValue::owned_any(v)))
                    .map_err(|e| e.to_graphql(&engine.request_id))
            })
        },
    )
    .argument(InputValue::new(
        "documentNumber",
        TypeRef::named_nn(TypeRef::STRING),
    ))
    .argument(InputValue::new(
        "unhcrCaseNumber",
        TypeRef::named_nn(TypeRef::STRING),
    ))
    .description("Checks one UNHCR document against its case number. Rate-limited per caller.");
    let object = Object::new("DocumentVerification")
        .field(
            getter::<Verification>("valid", TypeRef::named_nn(TypeRef::BOOLEAN), |v| {
                GqlValue::Boolean(v.valid)
            })
            .description(
                "The document exists for that case, is unexpired, and the file is ACTIVE.",
            ),
        )
        .field(getter::<Verification>(
            "documentType",
            TypeRef::named("DocumentType"),
            |v| {
                v.document_type.clone().map_or(GqlValue::Null, |s| {
                    GqlValue::Enum(async_graphql::Name::new(s))
                })
            },
        ))
        .field(getter::<Verification>(
            "expiry",
            TypeRef::named("Date"),
            |v| to_graphql(&v.expiry, Kind::Date),
        ));
    (field, object)
}

/// One agency's reads of one person, from the audit log.
struct PersonAccess {
    agency: Option<String>,
    role: Option<String>,
    fields: BTreeSet<String>,
    reads: i64,
    first_at: String,
    last_at: String,
    /// Referrals of the person to this agency.
    referrals: Vec<ReferralTrace>,
    /// When this agency read the person (for the reads made under each referral).
    read_at: Vec<chrono::DateTime<chrono::Utc>>,
}

/// A referral in the access report: what it was, and how many reads its receiver made while
/// it was in force (from its acceptance to its close or expiry).
#[derive(Clone)]
struct ReferralTrace {
    texts: [Option<String>; 6],
    reads: i64,
}

/// `personAccessReport(personId:)`: the data subject's accountability report, built from the
/// audit events that returned the person's data. For a role that has persons, only a person it
/// may see can be reported on.
fn person_access_report_field() -> (Field, Vec<Object>) {
    let field = Field::new("personAccessReport", TypeRef::named_nn_list_nn("PersonAccess"), |ctx| {
        FieldFuture::new(async move {
            let engine = engine(&ctx)?;
            let person = ctx.args.try_get("personId")?.string()?.to_owned();
            let result: Result<Vec<PersonAccess>, QueryError> = async {
                // The whole role decides, not the token's scopes: a scope that leaves Person
                // out must not lift the check.
                if engine.base.types.contains_key("Person") {
                    let mut visible = Sql::new("t.id = ");
                    visible.bind(person.clone());
                    if engine.count("Person", visible).await? == 0 {
                        return Err(QueryError::NotFound(format!("no Person with id `{person}`")));
                    }
                }
                let element = serde_json::to_string(&person).unwrap_or_default();
                let pattern = format!("%{}%", crate::condition::like_escape(&element));
                let mut sql = Sql::new("SELECT agency AS c0, role AS c1, fields_read AS c2, at AS c3 FROM audit_events WHERE person_ids LIKE ");
                sql.bind(pattern).push(" ESCAPE '\\' ORDER BY seq");
                // Coordinates of types that hold a person's data.
                let personal: BTreeSet<&str> = CATALOGUE
                    .types
                    .iter()
                    .filter(|t| t.person_column.is_some() || t.name == "Case")
                    .map(|t| t.name)
                    .collect();
                let mut report: Vec<PersonAccess> = Vec::new();
                for r in engine.query_all(sql).await? {
                    let text = |i: usize| -> Result<Option<String>, QueryError> {
                        Ok(match read_cell(&r, &format!("c{i}"), Kind::String)? {
                            Cell::Str(s) => Some(s),
                            _ => None,
                        })
                    };
                    let (agency, role, at) = (text(0)?, text(1)?, text(3)?.unwrap_or_default());
                    let fields: Vec<String> = serde_json::from_str(&text(2)?.unwrap_or_default()).unwrap_or_default();
                    let fields = fields.into_iter().filter(|f| f.split('.').next().is_some_and(|t| personal.contains(t)));
                    let when = crate::condition::parse_datetime(&at);
                    match report.iter_mut().find(|a| a.agency == agency && a.role == role) {
                        Some(a) => {
                            a.fields.extend(fields);
                            a.reads += 1;
                            a.last_at = at;
                            a.read_at.extend(when);
                        }
                        None => report.push(PersonAccess { agency, role, fields: fields.collect(), reads: 1, first_at: at.clone(), last_at: at, referrals: Vec::new(), read_at: when.into_iter().collect() }),
                    }
                }
                // The referrals that opened the person to an agency, with its reads; an agency
                // referred to that has not read the person yet is listed with none.
                let mut sql = Sql::new("SELECT a.code AS c0, f.id AS c1, f.purpose AS c2, f.status AS c3, f.created_at AS c4, f.expires_at AS c5, f.accepted_at AS c6, f.updated_at AS c7 FROM referrals f JOIN agencies a ON a.id = f.to_agency_id WHERE f.person_id = ");
                sql.bind(person.clone()).push(" ORDER BY f.created_at, f.id");
                for r in engine.query_all(sql).await? {
                    let cell = |i: usize, kind: Kind| read_cell(&r, &format!("c{i}"), kind);
                    let text = |i: usize, kind: Kind| -> Result<Option<String>, QueryError> {
                        Ok(match cell(i, kind)? {
                            Cell::Str(s) => Some(s),
                            Cell::DateTime(d) => Some(d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                            _ => None,
                        })
                    };
                    let time = |i: usize| -> Result<Option<chrono::DateTime<chrono::Utc>>, QueryError> {
                        Ok(match cell(i, Kind::DateTime)? {
                            Cell::DateTime(d) => Some(d),
                            _ => None,
                        })
                    };
                    let agency = text(0, Kind::String)?;
                    let status = text(3, Kind::String)?;
                    // In force from acceptance to its close (its last change) or its expiry.
                    let start = time(6)?;
                    let end = match status.as_deref() {
                        Some("CLOSED") => time(7)?,
                        _ => time(5)?,
                    };
                    let texts = [
                        text(1, Kind::String)?,
                        text(2, Kind::String)?,
                        status,
                        text(4, Kind::DateTime)?,
                        text(5, Kind::DateTime)?,
                        text(6, Kind::DateTime)?,
                    ];
                    let under = |reads: &[chrono::DateTime<chrono::Utc>]| -> i64 {
                        let Some(start) = start else { return 0 };
                        reads
                            .iter()
                            .filter(|t| **t >= start && end.is_none_or(|e| **t <= e))
                            .count() as i64
                    };
                    let mut found = false;
                    for entry in report.iter_mut().filter(|a| a.agency == agency) {
                        let reads = under(&entry.read_at);
                        entry.referrals.push(ReferralTrace { texts: texts.clone(), reads });
                        found = true;
                    }
                    if !found {
                        report.push(PersonAccess { agency, role: None, fields: BTreeSet::new(), reads: 0, first_at: String::new(), last_at: String::new(), referrals: vec![ReferralTrace { texts, reads: 0 }], read_at: Vec::new() });
                    }
                }
                Ok(report)
            }
            .await;
            result
                .map(|r| Some(FieldValue::list(r.into_iter().map(FieldValue::owned_any))))
                .map_err(|e| e.to_graphql(&engine.request_id))
        })
    })
    .argument(InputValue::new("personId", TypeRef::named_nn(TypeRef::ID)))
    .description("Which agencies read which fields of this person, how often, and when (from the audit log).");
    let opt = |s: &Option<String>| s.clone().map_or(GqlValue::Null, GqlValue::String);
    let object = Object::new("PersonAccess")
        .field(getter::<PersonAccess>(
            "agency",
            TypeRef::named(TypeRef::STRING),
            move |a| opt(&a.agency),
        ))
        .field(getter::<PersonAccess>(
            "role",
            TypeRef::named(TypeRef::STRING),
            move |a| opt(&a.role),
        ))
        .field(getter::<PersonAccess>(
            "fields",
            TypeRef::named_nn_list_nn(TypeRef::STRING),
            |a| GqlValue::List(a.fields.iter().cloned().map(GqlValue::String).collect()),
        ))
        .field(getter::<PersonAccess>(
            "reads",
            TypeRef::named_nn(TypeRef::INT),
            |a| GqlValue::Number(a.reads.into()),
        ))
        .field(getter::<PersonAccess>(
            "firstAt",
            TypeRef::named_nn(TypeRef::STRING),
            |a| GqlValue::String(a.first_at.clone()),
        ))
        .field(getter::<PersonAccess>(
            "lastAt",
            TypeRef::named_nn(TypeRef::STRING),
            |a| GqlValue::String(a.last_at.clone()),
        ))
        .field(
            Field::new(
                "referrals",
                TypeRef::named_nn_list_nn("PersonAccessReferral"),
                |ctx| {
                    FieldFuture::new(async move {
                        let a = ctx.parent_value.try_downcast_ref::<PersonAccess>()?;
                        Ok(Some(FieldValue::list(
                            a.referrals.iter().cloned().map(FieldValue::owned_any),
                        )))
                    })
                },
            )
            .description("Referrals of the person to this agency: the access they opened; its reads are counted above."),
        );
    let mut referral = Object::new("PersonAccessReferral").field(
        getter::<ReferralTrace>("reads", TypeRef::named_nn(TypeRef::INT), |r| {
            GqlValue::Number(r.reads.into())
        })
        .description("Reads by the receiving agency while the referral was in force (from its acceptance to its close or expiry)."),
    );
    for (i, name) in [
        "id",
        "purpose",
        "status",
        "createdAt",
        "expiresAt",
        "acceptedAt",
    ]
    .into_iter()
    .enumerate()
    {
        referral = referral.field(getter::<ReferralTrace>(
            name,
            TypeRef::named(TypeRef::STRING),
            move |r| r.texts[i].clone().map_or(GqlValue::Null, GqlValue::String),
        ));
    }
    (field, vec![object, referral])
}

fn viewer_type() -> (Field, Object) {
    let field = Field::new("viewer", TypeRef::named_nn("Viewer"), |ctx| {
        FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(engine(&ctx)?))) })
    })
    .description("Who the token says you are.");
    let s = |f: fn(&Engine) -> String| move |e: &Arc<Engine>| GqlValue::String(f(e));
    let object = Object::new("Viewer")
        .field(getter::<Arc<Engine>>(
            "subject",
            TypeRef::named_nn(TypeRef::STRING),
            s(|e| e.session.subject.clone()),
        ))
        .field(getter::<Arc<Engine>>(
            "role",
            TypeRef::named_nn(TypeRef::STRING),
            s(|e| e.session.role.clone()),
        ))
        .field(getter::<Arc<Engine>>(
            "agency",
            TypeRef::named_nn(TypeRef::STRING),
            s(|e| e.session.agency.clone()),
        ))
        .field(getter::<Arc<Engine>>(
            "jurisdiction",
            TypeRef::named_nn("RegionCode"),
            s(|e| e.session.jurisdiction.clone()),
        ));
    (field, object)
}

/// Builds the schema of one role.
pub fn build_schema(
    role: &RoleView,
    options: &SchemaOptions,
    limiter: Arc<RateLimiter>,
) -> Result<Schema, SchemaError> {
    let revocations = crate::mutation::revocation_fields(&role.operations);
    let (referral_fields, referral_inputs) =
        crate::referrals::referral_fields(&role.operations, role.referral_purposes.clone());
    let action_items = crate::action_items::action_item_fields(&role.operations);
    let registration = crate::mutation::register_person_field(role);
    let issues = role.operations.contains("issueToken");
    let writes = role
        .types
        .values()
        .any(|v| v.create || v.update || !v.links.is_empty())
        || !revocations.is_empty()
        || !referral_fields.is_empty()
        || !action_items.is_empty()
        || registration.is_some()
        || issues;
    let mut builder = Schema::build("Query", writes.then_some("Mutation"), None)
        .disable_suggestions()
        // Data depth is `limits::analyse`'s (introspection exempt); this bounds introspection.
        .limit_depth(options.max_depth.max(INTROSPECTION_DEPTH))
        .limit_complexity(options.max_complexity)
        .limit_directives(8)
        .extension(ValidationProbe)
        .extension(crate::audit::AuditProbe)
        .extension(crate::federation::EntityGapsExtension)
        .enable_federation()
        .entity_resolver(crate::federation::resolve_entities)
        .data(limiter);
    let mut query = Object::new("Query");
    let mut used_kinds: BTreeSet<String> = BTreeSet::new();
    let mut filter_kinds: Vec<Kind> = Vec::new();
    let mut enums_used: BTreeSet<&'static str> = BTreeSet::new();

    let (viewer_field, viewer) = viewer_type();
    query = query.field(viewer_field);
    builder = builder.register(viewer);
    let mut need_page_info = false;

    for view in role.types.values() {
        let mut object = Object::new(view.def.name).description(view.def.description);
        for key in crate::federation::entity_keys(view) {
            object = object.key(key.field);
        }
        for (i, f) in view.fields.iter().enumerate() {
            object = object.field(object_field(view, i, options));
            let kind = match f.def.kind {
                FieldKind::Column { kind, .. }
                | FieldKind::Mask { kind, .. }
                | FieldKind::Expression { kind, .. } => Some(kind),
                FieldKind::Relation { .. } => None,
            };
            if let Some(kind) = kind {
                used_kinds.insert(kind.graphql_name().to_owned());
                if let Kind::Enum(e) | Kind::EnumList(e) = kind {
                    enums_used.insert(e);
                }
            }
            // Filter inputs only for types that have a list to filter: an input type nothing
            // uses would be in the SDL but not in introspection.
            if view.list
                && let Some((_, kind)) = f.filterable()
                && !filter_kinds.contains(&kind)
            {
                filter_kinds.push(kind);
            }
        }
        builder = builder.register(object);
        if view.list {
            need_page_info = true;
            let (connection, edge) = connection_types(view.def.name);
            let (order_enum, order_input) = type_order_inputs(view);
            builder = builder
                .register(connection)
                .register(edge)
                .register(type_filter_input(view))
                .register(order_enum)
                .register(order_input);
            if view.def.name == "Referral" {
                builder = builder.register(
                    Enum::new("ReferralDirection")
                        .description("Which side of a referral your agency is on.")
                        .item(EnumItem::new("INCOMING").description("Referred to your agency."))
                        .item(EnumItem::new("OUTGOING").description("Sent by your agency.")),
                );
            }
            query = query.field(list_field(view, options));
        }
        if view.get {
            query = query.field(get_field(view));
        }
    }
    if need_page_info {
        builder = builder.register(page_info_type()).register(
            Enum::new("OrderDirection")
                .item(EnumItem::new("ASC"))
                .item(EnumItem::new("DESC")),
        );
        for kind in &filter_kinds {
            builder = builder.register(filter_input(*kind));
            used_kinds.insert(kind.graphql_name().to_owned());
        }
    }
    for view in &role.statistics {
        let (field, objects, dim_enum) = statistics_types(view);
        query = query.field(field);
        for o in objects {
            builder = builder.register(o);
        }
        builder = builder.register(dim_enum);
        for d in &view.dimensions {
            let dim = view
                .def
                .dimensions
                .iter()
                .find(|x| x.name == *d)
                .expect("checked");
            used_kinds.insert(dim.kind.graphql_name().to_owned());
            if let Kind::Enum(e) = dim.kind {
                enums_used.insert(e);
            }
        }
    }
    if role.operations.contains("verifyDocument") {
        let (field, object) = verify_document_field();
        query = query.field(field);
        builder = builder.register(object);
        enums_used.insert("DocumentType");
        used_kinds.insert("Date".to_owned());
    }
    if role.operations.contains("personAccessReport") {
        let (field, objects) = person_access_report_field();
        query = query.field(field);
        for object in objects {
            builder = builder.register(object);
        }
    }
    used_kinds.insert("RegionCode".to_owned());
    for e in &CATALOGUE.enums {
        if enums_used.contains(e.name) {
            builder = builder
                .register(Enum::new(e.name).items(e.values.iter().map(|v| EnumItem::new(*v))));
        }
    }
    if used_kinds.contains("Date") {
        builder = builder.register(
            Scalar::new("Date")
                .description("A calendar date, YYYY-MM-DD (ISO 8601).")
                .specified_by_url("https://www.iso.org/iso-8601-date-and-time-format.html")
                .validator(
                    |v| matches!(v, GqlValue::String(s) if crate::condition::parse_date(s).is_some()),
                ),
        );
    }
    if used_kinds.contains("DateTime") {
        builder = builder.register(
            Scalar::new("DateTime")
                .description("An RFC 3339 timestamp.")
                .specified_by_url("https://datatracker.ietf.org/doc/html/rfc3339")
                .validator(|v| matches!(v, GqlValue::String(s) if crate::condition::parse_datetime(s).is_some())),
        );
    }
    builder = builder.register(
        Scalar::new("RegionCode")
            .description("A Kemendagri region code (Kepmendagri 300.2.2-2138/2025): province 31, city 31.71, district 31.71.01 or village 31.71.01.1001.")
            .specified_by_url("https://github.com/cahyadsn/wilayah")
            .validator(|v| matches!(v, GqlValue::String(s) if crate::session::is_region_code(s))),
    );
    if writes {
        let mut mutation = Object::new("Mutation");
        if issues {
            let (field, input, object) = crate::mutation::issue_token_field();
            mutation = mutation.field(field);
            builder = builder.register(input).register(object);
        }
        for field in revocations {
            mutation = mutation.field(field);
        }
        for field in referral_fields.into_iter().chain(action_items) {
            mutation = mutation.field(field);
        }
        if let Some((field, inputs)) = registration {
            mutation = mutation.field(field);
            for input in inputs {
                builder = builder.register(input);
            }
        }
        for input in referral_inputs {
            builder = builder.register(input);
        }
        for view in role.types.values() {
            let (fields, inputs) = crate::mutation::mutation_fields(view);
            for field in fields.into_iter().chain(crate::mutation::link_fields(view)) {
                mutation = mutation.field(field);
            }
            for input in inputs {
                builder = builder.register(input);
            }
        }
        builder = builder.register(mutation);
    }
    builder.register(query).finish()
}
