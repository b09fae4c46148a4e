//! Writes: `create{Type}` and `update{Type}` for the W cells of a role, and
//! `add{Type}{Field}`/`remove{Type}{Field}` for the W cells on to-many links.
//!
//! Inputs offer only the role's writable fields. Every write runs in a transaction that also
//! checks the role's row filter: an update touches only rows the role may see, and a created or
//! updated row must still be visible to the writer afterwards (otherwise the transaction rolls
//! back), so no write can place a row outside the writer's own access.
//!
//! Also `registerPerson` (a new person with their registration, in an existing case or a new
//! one). Issuing and revoking tokens is `token_admin`'s.

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputObject, InputValue, TypeRef};
use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Value};

use crate::catalogue::{FieldDef, FieldKind, Join, Kind};
use crate::condition::bind_value;
use crate::engine::Engine;
use crate::error::QueryError;
use crate::policy::TypeView;
use crate::resolve::{engine, value_type};
use crate::row::Row;
use crate::sql::Sql;

/// Longest text a client may write into one field.
const MAX_TEXT: usize = 20_000;

/// The input field name of a writable field: relations are set by id.
fn input_name(f: &FieldDef) -> String {
    match f.kind {
        FieldKind::Relation { .. } => format!("{}Id", f.name),
        _ => f.name.to_owned(),
    }
}

/// The column a writable field sets, its kind, and whether it may be null.
fn target_column(view: &TypeView, f: &FieldDef) -> (&'static str, Kind, bool) {
    match f.kind {
        FieldKind::Column {
            column,
            kind,
            nullable,
        } => (column, kind, nullable),
        FieldKind::Relation {
            join: Join::Forward { column },
            ..
        } => (column, Kind::Id, view.def.column_nullable(column)),
        _ => unreachable!("the policy allows only columns and forward relations"),
    }
}

fn input_type(view: &TypeView, creating: bool) -> InputObject {
    let verb = if creating { "Create" } else { "Update" };
    let mut input = InputObject::new(format!("{}{verb}Input", view.def.name));
    for f in &view.writable {
        let (_, kind, nullable) = target_column(view, f);
        // On create, required columns are required (lists default to empty); on update every
        // field is optional, and an explicit null clears a nullable one.
        let optional = !creating || nullable || kind.is_list();
        input = input.field(InputValue::new(input_name(f), value_type(kind, optional)));
    }
    input
}

/// The root mutation fields and input types of one type.
pub fn mutation_fields(view: &TypeView) -> (Vec<Field>, Vec<InputObject>) {
    let type_name = view.def.name;
    let mut fields = Vec::new();
    let mut inputs = Vec::new();
    if view.create {
        inputs.push(input_type(view, true));
        fields.push(
            Field::new(
                format!("create{type_name}"),
                TypeRef::named_nn(type_name),
                move |ctx| {
                    FieldFuture::new(async move {
                        let engine = engine(&ctx)?;
                        let input = ctx.args.try_get("input")?.as_value().clone();
                        let row = write(&engine, type_name, None, &input)
                            .await
                            .map_err(|e| e.to_graphql(&engine.request_id))?;
                        Ok(Some(FieldValue::owned_any(row)))
                    })
                },
            )
            .argument(InputValue::new(
                "input",
                TypeRef::named_nn(format!("{type_name}CreateInput")),
            ))
            .description(format!(
                "Creates a {type_name}; it must fall within your access."
            )),
        );
    }
    if view.update {
        inputs.push(input_type(view, false));
        fields.push(
            Field::new(
                format!("update{type_name}"),
                TypeRef::named_nn(type_name),
                move |ctx| {
                    FieldFuture::new(async move {
                        let engine = engine(&ctx)?;
                        let id = ctx.args.try_get("id")?.string()?.to_owned();
                        let input = ctx.args.try_get("input")?.as_value().clone();
                        let row = write(&engine, type_name, Some(id), &input)
                            .await
                            .map_err(|e| e.to_graphql(&engine.request_id))?;
                        Ok(Some(FieldValue::owned_any(row)))
                    })
                },
            )
            .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
            .argument(InputValue::new(
                "input",
                TypeRef::named_nn(format!("{type_name}UpdateInput")),
            ))
            .description(format!(
                "Changes fields of a {type_name} you may see; it must stay within your access."
            )),
        );
    }
    (fields, inputs)
}

/// The SQL value of one input value for a column of `kind`.
fn column_value(
    kind: Kind,
    nullable: bool,
    name: &str,
    value: &GqlValue,
) -> Result<Value, QueryError> {
    if matches!(value, GqlValue::Null) {
        if !nullable {
            return Err(QueryError::BadInput(format!("`{name}` cannot be null")));
        }
        return Ok(match kind {
            Kind::Int => Value::Int(None),
            Kind::BigInt => Value::BigInt(None),
            Kind::Float => Value::Double(None),
            Kind::Boolean => Value::Bool(None),
            Kind::Date => Value::ChronoDate(None),
            Kind::DateTime => Value::ChronoDateTimeUtc(None),
            _ => Value::String(None),
        });
    }
    if kind.is_list() {
        let GqlValue::List(items) = value else {
            return Err(QueryError::BadInput(format!("`{name}` must be a list")));
        };
        let strings: Vec<String> = items
            .iter()
            .map(|v| match v {
                GqlValue::String(s) => Ok(s.clone()),
                GqlValue::Enum(e) => Ok(e.to_string()),
                _ => Err(QueryError::BadInput(format!("`{name}` holds strings"))),
            })
            .collect::<Result<_, _>>()?;
        let json =
            serde_json::to_string(&strings).map_err(|e| QueryError::Internal(e.to_string()))?;
        return Ok(Value::String(Some(json)));
    }
    if let GqlValue::String(s) = value
        && s.chars().count() > MAX_TEXT
    {
        return Err(QueryError::BadInput(format!(
            "`{name}` is longer than {MAX_TEXT} characters"
        )));
    }
    bind_value(kind, value)
}

async fn count_visible(
    engine: &Engine,
    txn: &DatabaseTransaction,
    type_name: &str,
    id: &str,
) -> Result<i64, QueryError> {
    let view = engine.view(type_name)?;
    let conditions = engine.conditions();
    let mut sql = Sql::new(format!(
        "SELECT COUNT(*) AS n FROM {} t WHERE t.id = ",
        view.def.table
    ));
    sql.bind(id.to_owned())
        .push(" AND ")
        .append(conditions.rows(type_name, "t"));
    let backend = txn.get_database_backend();
    engine.count_statement();
    let row = txn.query_one_raw(sql.checked_statement(backend)?).await?;
    Ok(match row {
        Some(r) => r.try_get_by::<i64, _>("n")?,
        None => 0,
    })
}

/// What an input sets: column values, the rows its relations name, and the coordinates written.
struct Assignments {
    values: Vec<(&'static str, Value)>,
    references: Vec<(&'static str, String)>,
    written: Vec<String>,
}

/// Reads `input` against the writable fields of `view` (but those named in `skip`, which the
/// operation sets itself). A new row starts with empty lists.
fn assignments(
    view: &TypeView,
    input: &GqlValue,
    creating: bool,
    skip: &[&str],
) -> Result<Assignments, QueryError> {
    let type_name = view.def.name;
    let GqlValue::Object(entries) = input else {
        return Err(QueryError::BadInput("`input` must be an object".into()));
    };
    let mut assignments: Vec<(&'static str, Value)> = Vec::new();
    let mut references: Vec<(&'static str, String)> = Vec::new();
    let mut written: Vec<String> = Vec::new();
    for f in view.writable.iter().filter(|f| !skip.contains(&f.name)) {
        let name = input_name(f);
        let (column, kind, nullable) = target_column(view, f);
        if let Some(value) = entries.get(name.as_str()) {
            written.push(format!("{type_name}.{}", f.name));
            let v = column_value(kind, nullable, &name, value)?;
            if let (FieldKind::Relation { target, .. }, Value::String(Some(target_id))) =
                (f.kind, &v)
            {
                references.push((target, target_id.clone()));
            }
            assignments.push((column, v));
        }
    }
    if creating {
        // Lists are never null: a new row starts with empty ones, written by the role or not.
        for f in &view.def.fields {
            if let FieldKind::Column {
                column,
                kind,
                nullable: false,
            } = f.kind
                && kind.is_list()
                && !assignments.iter().any(|(c, _)| *c == column)
            {
                assignments.push((column, Value::String(Some("[]".into()))));
            }
        }
    }
    Ok(Assignments {
        values: assignments,
        references,
        written,
    })
}

/// Every row a write's relations name must be one the caller may see: otherwise writing it
/// would reveal (or forge a link to) a row outside the caller's access.
async fn check_references(
    engine: &Engine,
    txn: &DatabaseTransaction,
    references: &[(&'static str, String)],
) -> Result<(), QueryError> {
    for (target, target_id) in references {
        if count_visible(engine, txn, target, target_id).await? == 0 {
            return Err(QueryError::BadInput(format!(
                "no {target} with id `{target_id}`"
            )));
        }
    }
    Ok(())
}

/// Inserts a row of `table` with `values`; returns its new id.
async fn insert_row(
    engine: &Engine,
    txn: &DatabaseTransaction,
    table: &str,
    values: Vec<(&'static str, Value)>,
) -> Result<String, QueryError> {
    let now = Utc::now();
    let new_id = uuid::Uuid::new_v4().to_string();
    let mut sql = Sql::new(format!("INSERT INTO {table} (id, created_at, updated_at"));
    for (column, _) in &values {
        sql.push(&format!(", {column}"));
    }
    sql.push(") VALUES (")
        .bind(new_id.clone())
        .push(", ")
        .bind(now)
        .push(", ")
        .bind(now);
    for (_, value) in values {
        sql.push(", ").bind(value);
    }
    sql.push(")");
    engine.count_statement();
    let backend = txn.get_database_backend();
    txn.execute_raw(sql.checked_statement(backend)?).await?;
    Ok(new_id)
}

/// Creates (`id` None) or updates a row of `type_name` from `input`; returns it as the role
/// reads it.
async fn write(
    engine: &Engine,
    type_name: &'static str,
    id: Option<String>,
    input: &GqlValue,
) -> Result<Row, QueryError> {
    let view = engine.view(type_name)?;
    let Assignments {
        values: assignments,
        references,
        written,
    } = assignments(view, input, id.is_none(), &[])?;
    if id.is_some() && assignments.is_empty() {
        return Err(QueryError::BadInput("`input` sets no field".into()));
    }
    let now = Utc::now();
    let txn = crate::sql::begin_write(&engine.db).await?;
    let backend = txn.get_database_backend();
    check_references(engine, &txn, &references).await?;
    let table = view.def.table;
    let row_id = match &id {
        None => insert_row(engine, &txn, table, assignments).await?,
        Some(existing) => {
            let mut sql = Sql::new(format!("UPDATE {table} SET updated_at = "));
            sql.bind(now);
            for (column, value) in assignments {
                sql.push(&format!(", {column} = ")).bind(value);
            }
            sql.push(" WHERE id = ")
                .bind(existing.clone())
                .push(&format!(" AND id IN (SELECT t.id FROM {table} t WHERE "))
                .append(engine.conditions().rows(type_name, "t"))
                .push(")");
            if let Some(reason) = sql.unstorable() {
                return Err(QueryError::BadInput(reason.to_owned()));
            }
            engine.count_statement();
            let result = txn.execute_raw(sql.statement(backend)).await?;
            if result.rows_affected() == 0 {
                return Err(QueryError::NotFound(format!(
                    "no {type_name} with id `{existing}`"
                )));
            }
            existing.clone()
        }
    };
    if count_visible(engine, &txn, type_name, &row_id).await? == 0 {
        txn.rollback().await?;
        return Err(QueryError::Forbidden(format!(
            "the {type_name} would fall outside your access; nothing was written"
        )));
    }
    // The write's audit event, in the same transaction: both commit, or neither.
    if let Some(audit) = &engine.write_audit {
        let person_id = match view.def.person_column {
            Some(column) => {
                let mut sql = Sql::new(format!("SELECT {column} AS p FROM {table} WHERE id = "));
                sql.bind(row_id.clone());
                match txn.query_one_raw(sql.statement(backend)).await? {
                    Some(row) => row.try_get_by::<Option<String>, _>("p")?,
                    None => None,
                }
            }
            None => None,
        };
        let event = crate::audit::WriteEvent {
            action: if id.is_some() { "update" } else { "create" },
            type_name,
            row_id: row_id.clone(),
            fields: written,
            person_id,
        };
        audit
            .record(&txn, event)
            .await
            .map_err(QueryError::AuditUnavailable)?;
    }
    txn.commit().await?;
    engine
        .fetch_by_id(type_name, &row_id)
        .await?
        .ok_or_else(|| QueryError::Internal("a written row vanished".into()))
}

/// Most links one call may add or remove.
const MAX_LINKS: usize = 100;

/// `involvedPersons` → `InvolvedPersons`.
fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The argument naming a link's targets: `personIds`, `agencyIds`.
fn target_ids_argument(target: &str) -> String {
    let mut chars = target.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str() + "Ids")
        .unwrap_or_default()
}

/// `add{Type}{Field}` and `remove{Type}{Field}` for the to-many links a role may write
/// (`Incident.involvedPersons`, `Meeting.participants`): the parent must be a row the role may
/// see, and so must every target; each link added or removed is audited in the transaction.
pub fn link_fields(view: &TypeView) -> Vec<Field> {
    let type_name = view.def.name;
    let mut fields = Vec::new();
    for def in &view.links {
        let FieldKind::Relation {
            target,
            join: Join::Through { .. },
            ..
        } = def.kind
        else {
            continue;
        };
        let field_name = def.name;
        let ids = target_ids_argument(target);
        for add in [true, false] {
            let ids_arg = ids.clone();
            let name = format!(
                "{}{type_name}{}",
                if add { "add" } else { "remove" },
                capitalized(field_name)
            );
            fields.push(
                Field::new(name, TypeRef::named_nn(type_name), move |ctx| {
                    let ids_arg = ids_arg.clone();
                    FieldFuture::new(async move {
                        let engine = engine(&ctx)?;
                        let id = ctx.args.try_get("id")?.string()?.to_owned();
                        let mut targets = Vec::new();
                        for v in ctx.args.try_get(&ids_arg)?.list()?.iter() {
                            targets.push(v.string()?.to_owned());
                        }
                        let row = link(&engine, type_name, field_name, &id, &targets, add)
                            .await
                            .map_err(|e| e.to_graphql(&engine.request_id))?;
                        Ok(Some(FieldValue::owned_any(row)))
                    })
                })
                .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
                .argument(InputValue::new(&ids, TypeRef::named_nn_list_nn(TypeRef::ID)))
                .description(if add {
                    format!("Adds {target} rows you may see to `{field_name}` of a {type_name} you may see (at most {MAX_LINKS}).")
                } else {
                    format!("Removes {target} rows from `{field_name}` of a {type_name} you may see.")
                }),
            );
        }
    }
    fields
}

async fn link(
    engine: &Engine,
    type_name: &'static str,
    field_name: &'static str,
    id: &str,
    targets: &[String],
    add: bool,
) -> Result<Row, QueryError> {
    let view = engine.view(type_name)?;
    let Some(FieldKind::Relation {
        target,
        join:
            Join::Through {
                table,
                parent_column,
                target_column,
            },
        ..
    }) = view
        .links
        .iter()
        .find(|f| f.name == field_name)
        .map(|f| f.kind)
    else {
        return Err(QueryError::Internal(format!(
            "no link {type_name}.{field_name}"
        )));
    };
    if targets.len() > MAX_LINKS {
        return Err(QueryError::BadInput(format!(
            "at most {MAX_LINKS} links per call"
        )));
    }
    let txn = crate::sql::begin_write(&engine.db).await?;
    let backend = txn.get_database_backend();
    if count_visible(engine, &txn, type_name, id).await? == 0 {
        return Err(QueryError::NotFound(format!(
            "no {type_name} with id `{id}`"
        )));
    }
    let now = Utc::now();
    let mut changed = Vec::new();
    for target_id in targets {
        if changed.contains(target_id) {
            continue;
        }
        // A link to a row outside the caller's access would reveal or forge one.
        if count_visible(engine, &txn, target, target_id).await? == 0 {
            return Err(QueryError::BadInput(format!(
                "no {target} with id `{target_id}`"
            )));
        }
        let mut existing = Sql::new(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE {parent_column} = "
        ));
        existing
            .bind(id.to_owned())
            .push(&format!(" AND {target_column} = "))
            .bind(target_id.clone());
        engine.count_statement();
        let linked = match txn
            .query_one_raw(existing.checked_statement(backend)?)
            .await?
        {
            Some(row) => row.try_get_by::<i64, _>("n")? > 0,
            None => false,
        };
        let statement = match (add, linked) {
            (true, false) => {
                let mut insert = Sql::new(format!(
                    "INSERT INTO {table} (id, {parent_column}, {target_column}, created_at, updated_at) VALUES ("
                ));
                insert
                    .bind(uuid::Uuid::new_v4().to_string())
                    .push(", ")
                    .bind(id.to_owned())
                    .push(", ")
                    .bind(target_id.clone())
                    .push(", ")
                    .bind(now)
                    .push(", ")
                    .bind(now)
                    .push(")");
                insert
            }
            (false, true) => {
                let mut delete = Sql::new(format!("DELETE FROM {table} WHERE {parent_column} = "));
                delete
                    .bind(id.to_owned())
                    .push(&format!(" AND {target_column} = "))
                    .bind(target_id.clone());
                delete
            }
            // Already as asked: nothing to write.
            _ => continue,
        };
        engine.count_statement();
        txn.execute_raw(statement.checked_statement(backend)?)
            .await?;
        changed.push(target_id.clone());
    }
    if !changed.is_empty() {
        let mut touch = Sql::new(format!("UPDATE {} SET updated_at = ", view.def.table));
        touch.bind(now).push(" WHERE id = ").bind(id.to_owned());
        engine.count_statement();
        txn.execute_raw(touch.checked_statement(backend)?).await?;
    }
    if let Some(audit) = &engine.write_audit {
        for target_id in &changed {
            audit
                .record(
                    &txn,
                    crate::audit::WriteEvent {
                        action: "update",
                        type_name,
                        row_id: id.to_owned(),
                        fields: vec![format!("{type_name}.{field_name}")],
                        person_id: (target == "Person").then(|| target_id.clone()),
                    },
                )
                .await
                .map_err(QueryError::AuditUnavailable)?;
        }
    }
    txn.commit().await?;
    engine
        .fetch_by_id(type_name, id)
        .await?
        .ok_or_else(|| QueryError::Internal("a linked row vanished".into()))
}

/// The input of `registerPerson`'s part for `view`: its writable fields but `skip`, required
/// where the column is.
fn register_input(view: &TypeView, name: &str, skip: &[&str]) -> InputObject {
    let mut input = InputObject::new(name);
    for f in view.writable.iter().filter(|f| !skip.contains(&f.name)) {
        let (_, kind, nullable) = target_column(view, f);
        input = input.field(InputValue::new(
            input_name(f),
            value_type(kind, nullable || kind.is_list()),
        ));
    }
    input
}

/// `registerPerson(input: {person, registration, caseId | case})`: UNHCR registers a new person
/// with their registration, in an existing case (household) or a new one whose focal person
/// they are, in one transaction (a person UNHCR creates is visible to it only once
/// registered). Every row is audited in that transaction.
pub fn register_person_field(role: &crate::policy::RoleView) -> Option<(Field, Vec<InputObject>)> {
    if !role.operations.contains("registerPerson") {
        return None;
    }
    let (person, registration, case) = (
        role.types.get("Person")?,
        role.types.get("UnhcrRegistration")?,
        role.types.get("Case")?,
    );
    let inputs = vec![
        register_input(person, "RegisterPersonFields", &["case"]),
        register_input(registration, "RegisterRegistrationFields", &["person"]),
        register_input(case, "RegisterCaseFields", &["focalPerson"]),
        InputObject::new("RegisterPersonInput")
            .field(InputValue::new(
                "person",
                TypeRef::named_nn("RegisterPersonFields"),
            ))
            .field(InputValue::new(
                "registration",
                TypeRef::named_nn("RegisterRegistrationFields"),
            ))
            .field(
                InputValue::new("caseId", TypeRef::named(TypeRef::ID))
                    .description("An existing case (household) the person joins."),
            )
            .field(
                InputValue::new("case", TypeRef::named("RegisterCaseFields"))
                    .description("A new case, with the person as its focal person."),
            ),
    ];
    let field = Field::new("registerPerson", TypeRef::named_nn("Person"), |ctx| {
        FieldFuture::new(async move {
            let engine = engine(&ctx)?;
            let input = ctx.args.try_get("input")?.as_value().clone();
            register(&engine, &input)
                .await
                .map(|row| Some(FieldValue::owned_any(row)))
                .map_err(|e| e.to_graphql(&engine.request_id))
        })
    })
    .argument(InputValue::new("input", TypeRef::named_nn("RegisterPersonInput")))
    .description("Registers a new person with their UNHCR registration, in an existing case or a new one, in one transaction.");
    Some((field, inputs))
}

async fn register(engine: &Engine, input: &GqlValue) -> Result<Row, QueryError> {
    let GqlValue::Object(parts) = input else {
        return Err(QueryError::BadInput("`input` must be an object".into()));
    };
    let part = |name: &str| parts.get(name).filter(|v| !matches!(v, GqlValue::Null));
    let case_id = match part("caseId") {
        Some(GqlValue::String(id)) => Some(id.clone()),
        _ => None,
    };
    let new_case = part("case");
    if case_id.is_some() && new_case.is_some() {
        return Err(QueryError::BadInput(
            "give `caseId` (an existing case) or `case` (a new one), not both".into(),
        ));
    }
    let person_view = engine.view("Person")?;
    let registration_view = engine.view("UnhcrRegistration")?;
    let case_view = engine.view("Case")?;
    let person = assignments(
        person_view,
        part("person").unwrap_or(&GqlValue::Null),
        true,
        &["case"],
    )?;
    let registration = assignments(
        registration_view,
        part("registration").unwrap_or(&GqlValue::Null),
        true,
        &["person"],
    )?;
    let case = new_case
        .map(|c| assignments(case_view, c, true, &["focalPerson"]))
        .transpose()?;

    let txn = crate::sql::begin_write(&engine.db).await?;
    let backend = txn.get_database_backend();
    check_references(engine, &txn, &person.references).await?;
    check_references(engine, &txn, &registration.references).await?;
    if let Some(case) = &case {
        check_references(engine, &txn, &case.references).await?;
    }
    if let Some(existing) = &case_id
        && count_visible(engine, &txn, "Case", existing).await? == 0
    {
        return Err(QueryError::BadInput(format!(
            "no Case with id `{existing}`"
        )));
    }
    let case_id = match &case {
        Some(case) => {
            Some(insert_row(engine, &txn, case_view.def.table, case.values.clone()).await?)
        }
        None => case_id,
    };
    let mut person_values = person.values.clone();
    person_values.push(("case_id", Value::String(case_id.clone())));
    let person_id = insert_row(engine, &txn, person_view.def.table, person_values).await?;
    if case.is_some()
        && let Some(case_id) = &case_id
    {
        let mut focal = Sql::new(format!(
            "UPDATE {} SET focal_person_id = ",
            case_view.def.table
        ));
        focal
            .bind(person_id.clone())
            .push(" WHERE id = ")
            .bind(case_id.clone());
        engine.count_statement();
        txn.execute_raw(focal.checked_statement(backend)?).await?;
    }
    let mut registration_values = registration.values.clone();
    registration_values.push(("person_id", Value::String(Some(person_id.clone()))));
    let registration_id = insert_row(
        engine,
        &txn,
        registration_view.def.table,
        registration_values,
    )
    .await?;
    if count_visible(engine, &txn, "Person", &person_id).await? == 0 {
        txn.rollback().await?;
        return Err(QueryError::Forbidden(
            "the person would fall outside your access; nothing was written".into(),
        ));
    }
    if let Some(audit) = &engine.write_audit {
        let mut events = vec![
            ("Person", person_id.clone(), {
                let mut w = person.written.clone();
                w.push("Person.case".into());
                w
            }),
            ("UnhcrRegistration", registration_id, {
                let mut w = registration.written.clone();
                w.push("UnhcrRegistration.person".into());
                w
            }),
        ];
        if let (Some(case), Some(case_id)) = (&case, &case_id) {
            let mut w = case.written.clone();
            w.push("Case.focalPerson".into());
            events.push(("Case", case_id.clone(), w));
        }
        for (type_name, row_id, fields) in events {
            audit
                .record(
                    &txn,
                    crate::audit::WriteEvent {
                        action: "create",
                        type_name,
                        row_id,
                        fields,
                        person_id: Some(person_id.clone()),
                    },
                )
                .await
                .map_err(QueryError::AuditUnavailable)?;
        }
    }
    txn.commit().await?;
    engine
        .fetch_by_id("Person", &person_id)
        .await?
        .ok_or_else(|| QueryError::Internal("a registered person vanished".into()))
}
