//! The per-request query engine: turns list, lookup and relation requests into SQL with the
//! role's row filter, runs them, and reads the rows. To-one relations a page or a lookup asks
//! for are joined into its own statement (`Fold`, `fetch_folded`); the others go through a
//! DataLoader, so one nesting level of one relation costs one statement however many parent
//! rows there are.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::catalogue::{FieldKind, Join, Kind};
use crate::error::QueryError;
use crate::policy::{Access, RoleView, TypeView};
use crate::row::{Cell, Row, read_cell};
use crate::rows::Conditions;
use crate::session::Session;
use crate::sql::Sql;

/// Most keys bound in one `IN (…)` list; more keys take more statements.
const MAX_KEYS_PER_STATEMENT: usize = 1000;

/// Everything a request's resolvers share. Put into the request's data as `Arc<Engine>`.
pub struct Engine {
    pub db: DatabaseConnection,
    pub session: Session,
    /// What this request's schema exposes: the role, narrowed by the token's scopes.
    pub role: Arc<RoleView>,
    /// The whole role: its row filters decide which rows exist, whatever the scopes (a
    /// filter may depend on a type the scopes leave out).
    pub base: Arc<RoleView>,
    pub request_id: String,
    /// SQL statements this request's execution sent (reported in `x-sql-statements`).
    pub statements: std::sync::atomic::AtomicU64,
    /// Tests only: a request of this subject panics at its first statement.
    pub panic_for_subject: Option<String>,
    /// Tests only: a request of this subject waits at its first statement until notified.
    pub hold_for_subject: Option<(String, Arc<tokio::sync::Notify>)>,
    /// Where writes record their audit event, in their own transaction. `None`: no audit log
    /// (in-process tests of the schema alone).
    pub write_audit: Option<Arc<dyn crate::audit::WriteAudit>>,
    /// Told of every statement this request's reads send (traces).
    pub observer: Option<Arc<dyn StatementObserver>>,
    /// The field names the request's document selects; `None`: all. Only the values a
    /// document names are read (plus the row's id, the person it is about, and what the
    /// caller asks for besides, such as the order's columns): the select list follows the
    /// query, not everything the role may read.
    pub mentioned: Option<Arc<std::collections::HashSet<String>>>,
}

/// Watches the statements of one request (the gateway's trace spans).
pub trait StatementObserver: Send + Sync {
    /// One statement: its text (placeholders, never values), when it started, how long it
    /// took, whether it succeeded.
    fn statement(
        &self,
        sql: &str,
        started: std::time::SystemTime,
        elapsed: std::time::Duration,
        ok: bool,
    );
}

/// A value of a select list: what it reads, under which key the row keeps it.
struct SelectItem {
    key: String,
    expr: Sql,
    kind: Kind,
}

/// To-one relations read in the same statement as their parent rows rather than by the
/// loader, one statement each: relation fields of the parent type, each with the relations
/// folded into its own target in turn. Built from the request's selection
/// (`reads::fold_of`); a relation left out is loaded as before.
#[derive(Clone, Debug, Default)]
pub struct Fold(pub Vec<(&'static str, Fold)>);

impl Fold {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Most to-one relations folded into one statement; deeper or further ones are loaded.
pub const MAX_FOLDED_RELATIONS: usize = 8;

/// A folded relation's part of a statement: the alias of its row, its values (`{alias}_{i}`
/// in the select list, the id first), and the relations folded into it.
struct Folded {
    field: &'static str,
    alias: String,
    items: Vec<SelectItem>,
    inner: Vec<Folded>,
}

/// How `Engine::fetch_folded` limits its rows: the order and the most rows. The limit is
/// written into the statement's text rather than bound: it is a number the gateway computed
/// (a checked page size), and a bound limit keeps PostgreSQL from reusing a prepared
/// statement's generic plan (with an unknown limit the generic plan scans and sorts, so every
/// execution was planned anew: a page's statement ran at 2,067 against 4,680 tx/s).
pub struct PageBound {
    pub order: String,
    pub limit: i64,
}

impl Engine {
    /// An engine for a request whose schema exposes `role`, a narrowing of `base`.
    pub fn new(
        db: DatabaseConnection,
        session: Session,
        role: Arc<RoleView>,
        base: Arc<RoleView>,
        request_id: String,
    ) -> Arc<Engine> {
        Arc::new(Engine {
            db,
            session,
            role,
            base,
            request_id,
            statements: std::sync::atomic::AtomicU64::new(0),
            panic_for_subject: None,
            hold_for_subject: None,
            write_audit: None,
            observer: None,
            mentioned: None,
        })
    }

    /// The same engine, computing expression fields only when `mentioned` names them.
    pub fn with_mentioned(
        self: Arc<Self>,
        mentioned: Arc<std::collections::HashSet<String>>,
    ) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(mut engine) => {
                engine.mentioned = Some(mentioned);
                Arc::new(engine)
            }
            Err(shared) => shared,
        }
    }

    /// The same engine, telling `observer` of each statement.
    pub fn with_observer(self: Arc<Self>, observer: Arc<dyn StatementObserver>) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(mut engine) => {
                engine.observer = Some(observer);
                Arc::new(engine)
            }
            Err(shared) => shared,
        }
    }

    /// The same engine, recording writes through `audit`.
    pub fn with_write_audit(
        self: Arc<Self>,
        audit: Arc<dyn crate::audit::WriteAudit>,
    ) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(mut engine) => {
                engine.write_audit = Some(audit);
                Arc::new(engine)
            }
            Err(shared) => shared,
        }
    }

    /// The same engine with faults injected for a test subject: a panic at the first
    /// statement, or a wait there until notified (tests of the gateway; never configured).
    pub fn with_faults(
        self: Arc<Self>,
        panic_for: Option<String>,
        hold_for: Option<(String, Arc<tokio::sync::Notify>)>,
    ) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(mut engine) => {
                engine.panic_for_subject = panic_for;
                engine.hold_for_subject = hold_for;
                Arc::new(engine)
            }
            Err(shared) => shared,
        }
    }

    pub fn loader(self: &Arc<Self>) -> DataLoader<RelationLoader> {
        DataLoader::new(RelationLoader(self.clone()), tokio::spawn)
    }

    pub fn view(&self, type_name: &str) -> Result<&TypeView, QueryError> {
        self.role
            .types
            .get(type_name)
            .ok_or_else(|| QueryError::Internal(format!("role has no type {type_name}")))
    }

    /// Row conditions: always the whole role's.
    pub fn conditions(&self) -> Conditions<'_> {
        Conditions::new(&self.base, &self.session)
    }

    /// The values a role reads of a type: full columns as they are, referral-only columns
    /// behind a referral check, masks and SQL expressions computed by the database, and the
    /// keys relations need.
    /// Columns the role may not see at all are never selected.
    fn select_items(
        &self,
        view: &TypeView,
        alias: &str,
        conditions: &Conditions<'_>,
        also: &[&str],
    ) -> Vec<SelectItem> {
        let ty = view.def;
        let mut items: Vec<SelectItem> = Vec::new();
        // Whether the document names this field (or the caller needs its column).
        let wanted = |f: &crate::catalogue::FieldDef| {
            self.mentioned
                .as_ref()
                .is_none_or(|names| names.contains(f.name))
                || f.column().is_some_and(|(c, _, _)| also.contains(&c))
                || matches!(f.kind, FieldKind::Relation { join: Join::Forward { column }, .. }
                    if ty.person_column == Some(column) || also.contains(&column))
        };
        let add_column = |items: &mut Vec<SelectItem>, column: &'static str, kind: Kind| {
            if !items.iter().any(|i| i.key == column) {
                items.push(SelectItem {
                    key: column.to_owned(),
                    expr: Sql::new(format!("{alias}.{column}")),
                    kind,
                });
            }
        };
        add_column(&mut items, "id", Kind::Id);
        for f in &view.fields {
            // Every value is work for the database: only what the request asks for.
            if !wanted(f.def) {
                continue;
            }
            match (f.def.kind, f.access) {
                // A list of person ids: only those the reader may see leave the database.
                (FieldKind::Column { column, kind, .. }, Access::Full)
                    if ty.person_list_column == Some(column) =>
                {
                    items.push(SelectItem {
                        key: column.to_owned(),
                        expr: self.person_list(alias, column, conditions, false),
                        kind,
                    })
                }
                (FieldKind::Column { column, kind, .. }, Access::Full) => {
                    add_column(&mut items, column, kind)
                }
                (FieldKind::Expression { sql, kind }, _)
                    if sql == crate::catalogue::HIDDEN_PERSONS =>
                {
                    if let Some(column) = ty.person_list_column {
                        items.push(SelectItem {
                            key: f.def.name.to_owned(),
                            expr: self.person_list(alias, column, conditions, true),
                            kind,
                        });
                    }
                }
                (FieldKind::Column { column, kind, .. }, Access::Referred) => {
                    let person = ty.person_column.unwrap_or("person_id");
                    let mut expr = Sql::new("CASE WHEN ");
                    expr.append(conditions.referred(&format!("{alias}.{person}")))
                        .push(&format!(" THEN {alias}.{column} ELSE NULL END"));
                    items.push(SelectItem {
                        key: format!("referred:{column}"),
                        expr,
                        kind,
                    });
                }
                // The mask itself, computed by the database: its source columns stay there.
                (FieldKind::Mask { sql, kind, .. }, _) => items.push(SelectItem {
                    key: f.def.name.to_owned(),
                    expr: sql(&crate::catalogue::MaskContext {
                        alias,
                        today: chrono::Utc::now().date_naive(),
                        backend: self.db.get_database_backend(),
                    }),
                    kind,
                }),
                // The database keeps it up to date: read as it is stored.
                (FieldKind::Maintained { column, kind }, _) => add_column(&mut items, column, kind),
                (FieldKind::Expression { sql, kind }, _) => items.push(SelectItem {
                    key: f.def.name.to_owned(),
                    expr: Sql::new(sql.replace("{t}", alias)),
                    kind,
                }),
                (
                    FieldKind::Relation {
                        join: Join::Forward { column },
                        ..
                    },
                    _,
                ) => add_column(&mut items, column, Kind::Id),
                (FieldKind::Relation { .. }, _) => {}
            }
        }
        items
    }

    /// The ids of a JSON list of person ids (`column` of alias `alias`) that the reader may
    /// see, as a JSON list in id order; or, `hidden`, how many it may not.
    fn person_list(
        &self,
        alias: &str,
        column: &str,
        conditions: &Conditions<'_>,
        hidden: bool,
    ) -> Sql {
        let postgres = self.db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let (elements, value) = if postgres {
            (
                format!("json_array_elements_text({alias}.{column}::json) AS pl_x(v)"),
                "pl_x.v",
            )
        } else {
            (format!("json_each({alias}.{column}) AS pl_x"), "pl_x.value")
        };
        let mut visible = Sql::new(format!(
            "EXISTS (SELECT 1 FROM persons pl_p WHERE pl_p.id = {value} AND "
        ));
        visible.append(conditions.rows("Person", "pl_p")).push(")");
        let mut sql = Sql::new(if hidden {
            format!("(SELECT COUNT(*) FROM {elements} WHERE NOT ")
        } else if postgres {
            format!(
                "(SELECT COALESCE(json_agg({value} ORDER BY {value}), '[]'::json)::text FROM {elements} WHERE "
            )
        } else {
            format!("(SELECT COALESCE(json_group_array({value}), '[]') FROM {elements} WHERE ")
        });
        sql.append(visible).push(")");
        sql
    }

    /// Runs `SELECT <role's values> [, key] FROM <from> WHERE <row filter> AND <condition> <tail>`
    /// for `type_name` aliased `t`. Returns the rows with their key (when asked for).
    pub async fn fetch(
        &self,
        type_name: &str,
        join: Option<&str>,
        key_expr: Option<&str>,
        condition: Sql,
        tail: Sql,
    ) -> Result<Vec<(Option<String>, Row)>, QueryError> {
        self.fetch_per_key(type_name, join, key_expr, condition, tail, None)
            .await
    }

    /// The row of `type_name` with id `id`, as the request's role reads it, if it may.
    pub async fn fetch_by_id(&self, type_name: &str, id: &str) -> Result<Option<Row>, QueryError> {
        let mut condition = Sql::new("t.id = ");
        condition.bind(id.to_owned());
        Ok(self
            .fetch(type_name, None, None, condition, Sql::default())
            .await?
            .into_iter()
            .next()
            .map(|(_, row)| row))
    }

    /// `fetch`, keeping at most `per_key` rows (in id order) of each key: the rows are numbered
    /// per key in SQL (`ROW_NUMBER() OVER (PARTITION BY key)`), so no more leave the database.
    pub async fn fetch_per_key(
        &self,
        type_name: &str,
        join: Option<&str>,
        key_expr: Option<&str>,
        condition: Sql,
        tail: Sql,
        per_key: Option<u32>,
    ) -> Result<Vec<(Option<String>, Row)>, QueryError> {
        self.fetch_selecting(type_name, join, key_expr, condition, tail, per_key, &[])
            .await
    }

    /// `fetch`, reading the columns `also` too whether or not the document names their fields
    /// (the order of a page, for its cursors; the key of an entity lookup).
    pub async fn fetch_also(
        &self,
        type_name: &str,
        condition: Sql,
        tail: Sql,
        also: &[&str],
    ) -> Result<Vec<Row>, QueryError> {
        Ok(self
            .fetch_selecting(type_name, None, None, condition, tail, None, also)
            .await?
            .into_iter()
            .map(|(_, row)| row)
            .collect())
    }

    #[allow(clippy::too_many_arguments)]
    async fn fetch_selecting(
        &self,
        type_name: &str,
        join: Option<&str>,
        key_expr: Option<&str>,
        condition: Sql,
        tail: Sql,
        per_key: Option<u32>,
        also: &[&str],
    ) -> Result<Vec<(Option<String>, Row)>, QueryError> {
        let view = self.view(type_name)?;
        let conditions = self.conditions();
        let items = self.select_items(view, "t", &conditions, also);
        let mut sql = Sql::new("SELECT ");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.append(item.expr.clone()).push(&format!(" AS c{i}"));
        }
        if let Some(key) = key_expr {
            sql.push(&format!(", {key} AS k"));
            if per_key.is_some() {
                sql.push(&format!(
                    ", ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY t.id) AS rn"
                ));
            }
        }
        sql.push(&format!(" FROM {} t", view.def.table));
        if let Some(join) = join {
            sql.push(" ").push(join);
        }
        sql.push(" WHERE ")
            .append(Sql::and(vec![conditions.rows(type_name, "t"), condition]));
        let sql = match (per_key, key_expr) {
            (Some(limit), Some(_)) => {
                let mut outer = Sql::new("SELECT * FROM (");
                outer
                    .append(sql)
                    // A number of ours, written into the text (see `PageBound`).
                    .push(&format!(") w WHERE w.rn <= {limit}"))
                    .push(" ORDER BY w.k, w.rn");
                outer
            }
            _ => {
                sql.push(" ").append(tail);
                sql
            }
        };
        let results = self.query_all(sql).await?;
        self.read_rows(&items, key_expr.is_some(), results)
    }

    fn read_rows(
        &self,
        items: &[SelectItem],
        keyed: bool,
        results: Vec<sea_orm::QueryResult>,
    ) -> Result<Vec<(Option<String>, Row)>, QueryError> {
        let mut rows = Vec::with_capacity(results.len());
        for result in results {
            let mut values = HashMap::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                values.insert(
                    item.key.clone(),
                    read_cell(&result, &format!("c{i}"), item.kind)?,
                );
            }
            let key = if keyed {
                result.try_get_by::<Option<String>, _>("k")?
            } else {
                None
            };
            rows.push((key, Row::new(values)));
        }
        Ok(rows)
    }

    /// The rows of `type_name` that meet `condition`, with the to-one relations of `fold` read
    /// in the same statement, each related row under its own row rule exactly as the loader
    /// would read it (the first visible one in id order). `page`: in that order, at most that
    /// many; the relations are then joined to the page's rows only, never to the whole set.
    /// `also`: columns read whether or not the document names their fields.
    pub async fn fetch_folded(
        &self,
        type_name: &str,
        condition: Sql,
        page: Option<PageBound>,
        also: &[&str],
        fold: &Fold,
    ) -> Result<Vec<Row>, QueryError> {
        if fold.is_empty() {
            let tail = match &page {
                Some(page) => {
                    let mut tail = Sql::new(&page.order);
                    tail.push(&format!(" LIMIT {}", page.limit));
                    tail
                }
                None => Sql::default(),
            };
            return self.fetch_also(type_name, condition, tail, also).await;
        }
        let view = self.view(type_name)?;
        let conditions = self.conditions();
        let items = self.select_items(view, "t", &conditions, also);
        let mut joins = Sql::default();
        let mut aliases = 0;
        let folded = self.fold_joins(view, "t", fold, &conditions, &mut aliases, &mut joins)?;
        let mut sql = Sql::new("SELECT ");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.append(item.expr.clone()).push(&format!(" AS c{i}"));
        }
        fn select_folded(sql: &mut Sql, folded: &[Folded]) {
            for f in folded {
                for (i, item) in f.items.iter().enumerate() {
                    sql.push(", ")
                        .append(item.expr.clone())
                        .push(&format!(" AS {}_{i}", f.alias));
                }
                select_folded(sql, &f.inner);
            }
        }
        select_folded(&mut sql, &folded);
        let filter = Sql::and(vec![conditions.rows(type_name, "t"), condition]);
        let table = view.def.table;
        match &page {
            // The page first, then its relations: a join never runs over rows the limit drops.
            Some(page) => {
                sql.push(&format!(" FROM (SELECT t.* FROM {table} t WHERE "))
                    .append(filter)
                    .push(&format!(" {} LIMIT {}) t", page.order, page.limit))
                    .append(joins)
                    .push(&format!(" {}", page.order));
            }
            None => {
                sql.push(&format!(" FROM {table} t"))
                    .append(joins)
                    .push(" WHERE ")
                    .append(filter);
            }
        }
        let results = self.query_all(sql).await?;
        let mut rows = Vec::with_capacity(results.len());
        for result in &results {
            let mut values = HashMap::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                values.insert(
                    item.key.clone(),
                    read_cell(result, &format!("c{i}"), item.kind)?,
                );
            }
            rows.push(Row::with_related(values, read_folded(result, &folded)?));
        }
        Ok(rows)
    }

    /// The `LEFT JOIN`s of `fold` on the rows of `parent` aliased `parent_alias`, appended to
    /// `joins`; aliases `f1`, `f2`, … numbered through `aliases`.
    fn fold_joins(
        &self,
        parent: &TypeView,
        parent_alias: &str,
        fold: &Fold,
        conditions: &Conditions<'_>,
        aliases: &mut usize,
        joins: &mut Sql,
    ) -> Result<Vec<Folded>, QueryError> {
        let mut out = Vec::with_capacity(fold.0.len());
        for (field, inner) in &fold.0 {
            let def = parent
                .field(field)
                .ok_or_else(|| {
                    QueryError::Internal(format!("no field {}.{field}", parent.def.name))
                })?
                .def;
            let FieldKind::Relation {
                target,
                join,
                many: false,
            } = def.kind
            else {
                return Err(QueryError::Internal(format!(
                    "{}.{field} is no to-one relation",
                    parent.def.name
                )));
            };
            let view = self.view(target)?;
            let table = view.def.table;
            *aliases += 1;
            let alias = format!("f{aliases}");
            joins.push(&format!(" LEFT JOIN {table} {alias} ON "));
            match join {
                Join::Forward { column } => {
                    joins.append(Sql::and(vec![
                        Sql::new(format!("{alias}.id = {parent_alias}.{column}")),
                        conditions.rows(target, &alias),
                    ]));
                }
                // The first visible row in id order, as the loader's answer is read.
                Join::Reverse { column, condition } => {
                    let x = format!("{alias}x");
                    let mut parts = vec![Sql::new(format!("{x}.{column} = {parent_alias}.id"))];
                    parts.extend(condition.map(|c| Sql::new(c.replace("{t}", &x))));
                    // The parent row is visible (its own rule is in this statement), so a
                    // rule that asks only that is not checked twice.
                    parts.push(conditions.rows_under(target, &x, column, parent.def.name));
                    joins
                        .push(&format!(
                            "{alias}.id = (SELECT {x}.id FROM {table} {x} WHERE "
                        ))
                        .append(Sql::and(parts))
                        .push(&format!(" ORDER BY {x}.id LIMIT 1)"));
                }
                Join::Through { .. } => {
                    return Err(QueryError::Internal(format!(
                        "{}.{field}: relations through a link table are not folded",
                        parent.def.name
                    )));
                }
            }
            let items = self.select_items(view, &alias, conditions, &[]);
            let inner = self.fold_joins(view, &alias, inner, conditions, aliases, joins)?;
            out.push(Folded {
                field,
                alias,
                items,
                inner,
            });
        }
        Ok(out)
    }

    /// `SELECT COUNT(*)` of the rows of `type_name` the session may see that meet `condition`.
    pub async fn count(&self, type_name: &str, condition: Sql) -> Result<i64, QueryError> {
        let view = self
            .base
            .types
            .get(type_name)
            .ok_or_else(|| QueryError::Internal(format!("role has no type {type_name}")))?;
        let conditions = self.conditions().for_whole_set();
        let mut sql = Sql::new(format!(
            "SELECT COUNT(*) AS n FROM {} t WHERE ",
            view.def.table
        ));
        sql.append(Sql::and(vec![conditions.rows(type_name, "t"), condition]));
        let results = self.query_all(sql).await?;
        Ok(match results.first() {
            Some(r) => r.try_get_by::<i64, _>("n")?,
            None => 0,
        })
    }

    /// Counts one statement sent on this request's behalf.
    pub fn count_statement(&self) {
        self.statements
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs one statement for this request. Values the database cannot take are the caller's
    /// error (`BAD_USER_INPUT`), found before anything is sent.
    pub async fn query_all(&self, sql: Sql) -> Result<Vec<sea_orm::QueryResult>, QueryError> {
        if let Some(reason) = sql.unstorable() {
            return Err(QueryError::BadInput(reason.to_owned()));
        }
        if self
            .panic_for_subject
            .as_deref()
            .is_some_and(|s| s == self.session.subject)
        {
            panic!("fault injected for test subject");
        }
        if let Some((subject, release)) = &self.hold_for_subject
            && *subject == self.session.subject
        {
            release.notified().await;
        }
        self.count_statement();
        let backend = self.db.get_database_backend();
        let statement = sql.statement(backend);
        let Some(observer) = &self.observer else {
            return Ok(self.db.query_all_raw(statement).await?);
        };
        let text = statement.sql.clone();
        let (at, started) = (std::time::SystemTime::now(), std::time::Instant::now());
        let result = self.db.query_all_raw(statement).await;
        observer.statement(&text, at, started.elapsed(), result.is_ok());
        Ok(result?)
    }

    /// Loads relation `field` of `parent_type` for many parents at once.
    async fn load_relation(
        &self,
        parent_type: &'static str,
        field: &'static str,
        keys: &[String],
        per_key: Option<u32>,
    ) -> Result<HashMap<String, Vec<Row>>, QueryError> {
        let parent = self.view(parent_type)?;
        let def = parent
            .field(field)
            .ok_or_else(|| QueryError::Internal(format!("no field {parent_type}.{field}")))?
            .def;
        let FieldKind::Relation { target, join, .. } = def.kind else {
            return Err(QueryError::Internal(format!(
                "{parent_type}.{field} is no relation"
            )));
        };
        let mut out: HashMap<String, Vec<Row>> = HashMap::new();
        for chunk in keys.chunks(MAX_KEYS_PER_STATEMENT) {
            let (join_sql, key_expr, extra) = match join {
                Join::Forward { .. } => (None, "t.id".to_owned(), None),
                Join::Reverse { column, condition } => (
                    None,
                    format!("t.{column}"),
                    condition.map(|c| c.replace("{t}", "t")),
                ),
                Join::Through {
                    table,
                    parent_column,
                    target_column,
                } => (
                    Some(format!("JOIN {table} j ON j.{target_column} = t.id")),
                    format!("j.{parent_column}"),
                    None,
                ),
            };
            let mut condition = Sql::new(format!("{key_expr} IN ("));
            for (i, key) in chunk.iter().enumerate() {
                if i > 0 {
                    condition.push(", ");
                }
                condition.bind(key.clone());
            }
            condition.push(")");
            let mut parts = vec![condition];
            parts.extend(extra.map(Sql::new));
            let rows = self
                .fetch_per_key(
                    target,
                    join_sql.as_deref(),
                    Some(&key_expr),
                    Sql::and(parts),
                    Sql::new("ORDER BY t.id"),
                    per_key,
                )
                .await?;
            for (key, row) in rows {
                if let Some(key) = key {
                    out.entry(key).or_default().push(row);
                }
            }
        }
        Ok(out)
    }
}

/// The folded relations' rows of one result row: `None` where the join found none (its id,
/// always selected first, is null).
fn read_folded(
    result: &sea_orm::QueryResult,
    folded: &[Folded],
) -> Result<Vec<(&'static str, Option<Row>)>, QueryError> {
    let mut out = Vec::with_capacity(folded.len());
    for f in folded {
        let id = &f.items[0];
        let row = match read_cell(result, &format!("{}_0", f.alias), id.kind)? {
            Cell::Null => None,
            first => {
                let mut values = HashMap::with_capacity(f.items.len());
                values.insert(id.key.clone(), first);
                for (i, item) in f.items.iter().enumerate().skip(1) {
                    values.insert(
                        item.key.clone(),
                        read_cell(result, &format!("{}_{i}", f.alias), item.kind)?,
                    );
                }
                Some(Row::with_related(values, read_folded(result, &f.inner)?))
            }
        };
        out.push((f.field, row));
    }
    Ok(out)
}

/// Which relation of which parent row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RelationKey {
    pub parent_type: &'static str,
    pub field: &'static str,
    pub key: String,
    /// Most rows of a to-many relation (`first`); `None` for a to-one relation.
    pub limit: Option<u32>,
}

/// Batches relation loads of one request: one statement per relation per batch.
pub struct RelationLoader(Arc<Engine>);

impl Loader<RelationKey> for RelationLoader {
    type Value = Vec<Row>;
    type Error = Arc<QueryError>;

    async fn load(
        &self,
        keys: &[RelationKey],
    ) -> Result<HashMap<RelationKey, Vec<Row>>, Self::Error> {
        type Group = (&'static str, &'static str, Option<u32>);
        let mut groups: HashMap<Group, Vec<String>> = HashMap::new();
        for k in keys {
            groups
                .entry((k.parent_type, k.field, k.limit))
                .or_default()
                .push(k.key.clone());
        }
        // Sibling relations (a person's registration and placement) load side by side, each
        // on its own connection, rather than one after the other.
        let loads = groups
            .into_iter()
            .map(|((parent_type, field, limit), parent_keys)| {
                let engine = self.0.clone();
                async move {
                    let loaded = engine
                        .load_relation(parent_type, field, &parent_keys, limit)
                        .await
                        .map_err(Arc::new)?;
                    Ok::<_, Arc<QueryError>>((parent_type, field, limit, parent_keys, loaded))
                }
            });
        let mut out = HashMap::new();
        for (parent_type, field, limit, parent_keys, loaded) in
            futures::future::try_join_all(loads).await?
        {
            for key in parent_keys {
                let rows = loaded.get(&key).cloned().unwrap_or_default();
                out.insert(
                    RelationKey {
                        parent_type,
                        field,
                        key,
                        limit,
                    },
                    rows,
                );
            }
        }
        Ok(out)
    }
}

/// The key a relation of `row` is looked up by: the foreign key for forward relations,
/// the row's own id otherwise.
pub fn relation_key(row: &Row, join: Join) -> Option<String> {
    match join {
        Join::Forward { column } => row.key(column),
        _ => row.key("id"),
    }
}

/// Whether a cell holds a value.
pub fn present(cell: &Cell) -> bool {
    !matches!(cell, Cell::Null)
}
