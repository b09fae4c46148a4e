//! `completeActionItem(id)`: the agency an action item is assigned to marks it done (OPEN →
//! DONE), in one transaction with its audit event. Action items are created with the generic
//! `createActionItem` by the roles with W on meetings' action items. An item assigned to another
//! agency, one the caller cannot see and an unknown id all get the same answer.

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, TypeRef};
use chrono::Utc;
use sea_orm::ConnectionTrait;

use crate::engine::Engine;
use crate::error::QueryError;
use crate::resolve::engine;
use crate::row::Row;
use crate::sql::Sql;

fn not_assigned(id: &str) -> QueryError {
    QueryError::Forbidden(format!("no action item `{id}` assigned to your agency"))
}

async fn complete(engine: &Engine, id: &str) -> Result<Row, QueryError> {
    let txn = crate::sql::begin_write(&engine.db).await?;
    let backend = txn.get_database_backend();
    // Visible to the role (its meetings) and assigned to the caller's agency.
    let mut sql = Sql::new("SELECT t.status AS s FROM action_items t WHERE t.id = ");
    sql.bind(id.to_owned())
        .push(" AND ")
        .append(engine.conditions().rows("ActionItem", "t"))
        .push(" AND ")
        .append(engine.conditions().own_agency("t.agency_id"));
    engine.count_statement();
    let Some(row) = txn.query_one_raw(sql.checked_statement(backend)?).await? else {
        return Err(not_assigned(id));
    };
    let status: String = row.try_get_by("s")?;
    if status != "OPEN" {
        return Err(QueryError::Conflict(format!(
            "the action item is {status}; only an OPEN one can be completed"
        )));
    }
    let mut update = Sql::new("UPDATE action_items SET status = 'DONE', updated_at = ");
    update
        .bind(Utc::now())
        .push(" WHERE id = ")
        .bind(id.to_owned())
        .push(" AND status = 'OPEN'");
    engine.count_statement();
    if txn
        .execute_raw(update.checked_statement(backend)?)
        .await?
        .rows_affected()
        == 0
    {
        return Err(QueryError::Conflict(
            "the action item changed meanwhile; read it again".into(),
        ));
    }
    if let Some(audit) = &engine.write_audit {
        audit
            .record(
                &txn,
                crate::audit::WriteEvent {
                    action: "update",
                    type_name: "ActionItem",
                    row_id: id.to_owned(),
                    fields: vec!["ActionItem.status".to_owned()],
                    person_id: None,
                },
            )
            .await
            .map_err(QueryError::AuditUnavailable)?;
    }
    txn.commit().await?;
    engine
        .fetch_by_id("ActionItem", id)
        .await?
        .ok_or_else(|| not_assigned(id))
}

/// `completeActionItem`, when the role is granted it.
pub fn action_item_fields(operations: &std::collections::BTreeSet<&'static str>) -> Vec<Field> {
    if !operations.contains("completeActionItem") {
        return Vec::new();
    }
    vec![
        Field::new(
            "completeActionItem",
            TypeRef::named_nn("ActionItem"),
            |ctx| {
                FieldFuture::new(async move {
                    let engine = engine(&ctx)?;
                    let id = ctx.args.try_get("id")?.string()?.to_owned();
                    complete(&engine, &id)
                        .await
                        .map(|row| Some(FieldValue::owned_any(row)))
                        .map_err(|e| e.to_graphql(&engine.request_id))
                })
            },
        )
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
        .description("Marks an OPEN action item assigned to your agency DONE."),
    ]
}
