//! Token revocation: the one implementation behind `revokeToken` and `revokeTokensOfAgency`
//! (GraphQL, which add the caller's row rule to the condition) and the CLI's `token revoke`
//! and `token revoke-agency`. A revoked token is refused from the next request on; an agency's
//! cut-off refuses every token of it issued until then, stored or not.

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::QueryError;
use crate::sql::Sql;

/// What a token-status cache is told after an agency's cut-off changed: this prefix, then the
/// agency code.
pub const AGENCY_CUTOFF_PREFIX: &str = "agency-cutoff:";

/// Revokes the live tokens among `condition` (over `access_tokens t`), recording `by`;
/// returns their ids. One statement (`UPDATE … RETURNING`): no read that must later become a
/// write, which SQLite refuses outright when another connection wrote in between.
/// `on_statement` is told of each statement.
pub async fn revoke_where(
    db: &DatabaseConnection,
    condition: Sql,
    by: &str,
    on_statement: &(dyn Fn() + Sync),
) -> Result<Vec<String>, QueryError> {
    let now = Utc::now();
    let mut update = Sql::new("UPDATE access_tokens SET revoked_at = ");
    update
        .bind(now)
        .push(", revoked_by = ")
        .bind(by.to_owned())
        .push(", updated_at = ")
        .bind(now)
        .push(" WHERE revoked_at IS NULL AND id IN (SELECT t.id FROM access_tokens t WHERE ")
        .append(condition)
        .push(") RETURNING id");
    on_statement();
    let backend = db.get_database_backend();
    let mut ids = Vec::new();
    for r in db.query_all_raw(update.checked_statement(backend)?).await? {
        ids.push(r.try_get_by::<String, _>("id")?);
    }
    Ok(ids)
}

/// Records that every token of `agency` issued until now is refused.
pub async fn cut_off_agency(
    db: &DatabaseConnection,
    agency: &str,
    by: &str,
    on_statement: &(dyn Fn() + Sync),
) -> Result<(), QueryError> {
    use entities::agency_cutoff;
    use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter};
    let txn = crate::sql::begin_write(db).await?;
    on_statement();
    agency_cutoff::Entity::delete_many()
        .filter(agency_cutoff::Column::Agency.eq(agency))
        .exec(&txn)
        .await?;
    on_statement();
    agency_cutoff::Entity::insert(agency_cutoff::ActiveModel {
        agency: ActiveValue::Set(agency.to_owned()),
        revoked_before: ActiveValue::Set(Utc::now()),
        revoked_by: ActiveValue::Set(by.to_owned()),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}
