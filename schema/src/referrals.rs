//! The referral workflow: an agency refers a person it may see to another agency for a purpose
//! (`createReferral`); the receiver accepts or declines; either party closes; the sender
//! extends. An accepted, unexpired referral is what opens the receiver's P cells for that one
//! person (`rows::Conditions::referred`, evaluated in SQL on every request, so access follows
//! the referral at once on every process). Which agency kinds may receive which purpose, how
//! long a referral may last and whether the consent date must be recorded come from the policy
//! file (`[referral_purposes.*]`).
//!
//! Every transition is one transaction with its audit event. Refusals never tell "does not
//! exist" from "not yours": a person the sender cannot see and a referral the caller is no
//! party to get the same answer as an unknown id.

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputObject, InputValue, TypeRef};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Value};

use crate::engine::Engine;
use crate::error::QueryError;
use crate::purposes::{PurposeRule, PurposeRules};
use crate::resolve::engine;
use crate::row::Row;
use crate::sql::Sql;

/// The operations of the workflow, as the policy grants them.
pub const OPERATIONS: &[&str] = &[
    "createReferral",
    "acceptReferral",
    "declineReferral",
    "closeReferral",
    "extendReferral",
];

fn bad(message: impl Into<String>) -> QueryError {
    QueryError::BadInput(message.into())
}

fn unknown_referral(id: &str) -> QueryError {
    QueryError::Forbidden(format!("no referral `{id}` of your agency"))
}

/// The caller's agency id, if its agency exists.
async fn own_agency_id(engine: &Engine, txn: &DatabaseTransaction) -> Result<String, QueryError> {
    let mut sql = Sql::new("SELECT id AS v FROM agencies WHERE code = ");
    sql.bind(engine.session.agency.clone());
    one_text(engine, txn, sql)
        .await?
        .ok_or_else(|| QueryError::Forbidden("your agency is not registered".into()))
}

async fn one_text(
    engine: &Engine,
    txn: &DatabaseTransaction,
    sql: Sql,
) -> Result<Option<String>, QueryError> {
    engine.count_statement();
    let backend = txn.get_database_backend();
    Ok(
        match txn.query_one_raw(sql.checked_statement(backend)?).await? {
            Some(row) => row.try_get_by::<Option<String>, _>("v")?,
            None => None,
        },
    )
}

/// Whether the caller's whole role may see `person` (its Person row filter).
async fn person_visible(
    engine: &Engine,
    txn: &DatabaseTransaction,
    person: &str,
) -> Result<bool, QueryError> {
    if !engine.base.types.contains_key("Person") {
        return Ok(false);
    }
    let mut sql = Sql::new("SELECT COUNT(*) AS n FROM persons t WHERE t.id = ");
    sql.bind(person.to_owned())
        .push(" AND ")
        .append(engine.conditions().rows("Person", "t"));
    engine.count_statement();
    let backend = txn.get_database_backend();
    Ok(
        match txn.query_one_raw(sql.checked_statement(backend)?).await? {
            Some(row) => row.try_get_by::<i64, _>("n")? > 0,
            None => false,
        },
    )
}

fn text(
    input: &async_graphql::indexmap::IndexMap<async_graphql::Name, GqlValue>,
    key: &str,
) -> Option<String> {
    match input.get(key) {
        Some(GqlValue::String(s)) => Some(s.clone()),
        Some(GqlValue::Enum(e)) => Some(e.to_string()),
        _ => None,
    }
}

fn expiry_within(
    expires: &str,
    rule: &PurposeRule,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, QueryError> {
    let at = crate::condition::parse_datetime(expires)
        .ok_or_else(|| bad("`expiresAt` must be a DateTime (RFC 3339)"))?;
    if at <= now {
        return Err(bad("`expiresAt` must lie in the future"));
    }
    if at > now + chrono::Duration::days(rule.max_days) {
        return Err(bad(format!(
            "`expiresAt` may be at most {} days from now for this purpose",
            rule.max_days
        )));
    }
    Ok(at)
}

/// Records the transition's audit event in `txn` (who: the request; what: the coordinates).
async fn audit(
    engine: &Engine,
    txn: &DatabaseTransaction,
    action: &'static str,
    id: &str,
    person: Option<String>,
    fields: &[&str],
) -> Result<(), QueryError> {
    if let Some(audit) = &engine.write_audit {
        audit
            .record(
                txn,
                crate::audit::WriteEvent {
                    action,
                    type_name: "Referral",
                    row_id: id.to_owned(),
                    fields: fields.iter().map(|f| format!("Referral.{f}")).collect(),
                    person_id: person,
                },
            )
            .await
            .map_err(QueryError::AuditUnavailable)?;
    }
    Ok(())
}

/// The referral as the caller's role reads it.
async fn answer(engine: &Engine, id: &str) -> Result<Row, QueryError> {
    engine
        .fetch_by_id("Referral", id)
        .await?
        .ok_or_else(|| unknown_referral(id))
}

async fn create(
    engine: &Engine,
    rules: &PurposeRules,
    input: &GqlValue,
) -> Result<Row, QueryError> {
    let GqlValue::Object(input) = input else {
        return Err(bad("`input` must be an object"));
    };
    let person = text(input, "personId").ok_or_else(|| bad("`personId` is required"))?;
    let to_agency = text(input, "toAgency").ok_or_else(|| bad("`toAgency` is required"))?;
    let purpose = text(input, "purpose").ok_or_else(|| bad("`purpose` is required"))?;
    let rule = rules
        .get(&purpose)
        .ok_or_else(|| bad(format!("purpose `{purpose}` may not be referred")))?;
    if !matches!(input.get("consentGiven"), Some(GqlValue::Boolean(true))) {
        return Err(bad(
            "a referral needs the person's consent (`consentGiven: true`)",
        ));
    }
    let consent_date = match text(input, "consentDate") {
        Some(d) => Some(
            NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|_| bad("`consentDate` must be a Date"))?,
        ),
        None => None,
    };
    let now = Utc::now();
    if consent_date.is_none() && rule.consent_date_required {
        return Err(bad(format!(
            "a {purpose} referral needs the date consent was given (`consentDate`)"
        )));
    }
    if consent_date.is_some_and(|d| d > now.date_naive()) {
        return Err(bad("`consentDate` cannot lie in the future"));
    }
    let expires = text(input, "expiresAt").ok_or_else(|| bad("`expiresAt` is required"))?;
    let expires = expiry_within(&expires, rule, now)?;
    let note = text(input, "note");

    let txn = crate::sql::begin_write(&engine.db).await?;
    if !person_visible(engine, &txn, &person).await? {
        return Err(QueryError::Forbidden(format!(
            "no person `{person}` you may refer"
        )));
    }
    let from = own_agency_id(engine, &txn).await?;
    let mut sql = Sql::new("SELECT id AS v, kind AS k FROM agencies WHERE code = ");
    sql.bind(to_agency.clone());
    engine.count_statement();
    let backend = txn.get_database_backend();
    let (to, kind) = match txn.query_one_raw(sql.checked_statement(backend)?).await? {
        Some(row) => (
            row.try_get_by::<String, _>("v")?,
            row.try_get_by::<String, _>("k")?,
        ),
        None => return Err(bad(format!("no agency `{to_agency}`"))),
    };
    if to == from {
        return Err(bad("an agency cannot refer to itself"));
    }
    if !rule.receivers.contains(&kind) {
        return Err(bad(format!(
            "a {purpose} referral goes to {}, not to a {kind} agency",
            rule.receivers.join(" or ")
        )));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut insert = Sql::new(
        "INSERT INTO referrals (id, person_id, from_agency_id, to_agency_id, purpose, consent_given, consent_date, status, expires_at, note, created_at, updated_at) VALUES (",
    );
    insert
        .bind(id.clone())
        .push(", ")
        .bind(person.clone())
        .push(", ")
        .bind(from)
        .push(", ")
        .bind(to)
        .push(", ")
        .bind(purpose)
        .push(", ")
        .bind(true)
        .push(", ")
        .bind(Value::ChronoDate(consent_date))
        .push(", 'OPEN', ")
        .bind(expires)
        .push(", ")
        .bind(Value::String(note))
        .push(", ")
        .bind(now)
        .push(", ")
        .bind(now)
        .push(")");
    engine.count_statement();
    txn.execute_raw(insert.checked_statement(backend)?).await?;
    audit(
        engine,
        &txn,
        "create",
        &id,
        Some(person),
        &[
            "person",
            "toAgency",
            "purpose",
            "consentGiven",
            "consentDate",
            "expiresAt",
            "status",
        ],
    )
    .await?;
    txn.commit().await?;
    answer(engine, &id).await
}

/// Which party may make a transition.
#[derive(Clone, Copy)]
enum Party {
    Sender,
    Receiver,
    Either,
}

#[allow(clippy::too_many_arguments)]
/// One transition of referral `id`: by `party`, from one of `from` to `to` (the same status
/// for an extension), with a reason or a new expiry.
async fn transition(
    engine: &Engine,
    rules: &PurposeRules,
    id: &str,
    party: Party,
    from: &[&str],
    to: &'static str,
    reason: Option<String>,
    extend_to: Option<String>,
) -> Result<Row, QueryError> {
    let txn = crate::sql::begin_write(&engine.db).await?;
    let backend = txn.get_database_backend();
    let own = own_agency_id(engine, &txn).await?;
    let mut sql = Sql::new(
        "SELECT person_id, from_agency_id, to_agency_id, status, purpose, expires_at FROM referrals WHERE id = ",
    );
    sql.bind(id.to_owned())
        .push(" AND (from_agency_id = ")
        .bind(own.clone())
        .push(" OR to_agency_id = ")
        .bind(own.clone())
        .push(")");
    engine.count_statement();
    let Some(row) = txn.query_one_raw(sql.checked_statement(backend)?).await? else {
        return Err(unknown_referral(id));
    };
    let person: String = row.try_get_by("person_id")?;
    let sender: String = row.try_get_by("from_agency_id")?;
    let receiver: String = row.try_get_by("to_agency_id")?;
    let status: String = row.try_get_by("status")?;
    let purpose: String = row.try_get_by("purpose")?;
    let expires: Option<DateTime<Utc>> = row.try_get_by("expires_at")?;
    let allowed = match party {
        Party::Sender => own == sender,
        Party::Receiver => own == receiver,
        Party::Either => true,
    };
    if !allowed {
        return Err(QueryError::Forbidden(match party {
            Party::Sender => "only the referring agency may do this".into(),
            _ => "only the receiving agency may do this".into(),
        }));
    }
    if !from.contains(&status.as_str()) {
        return Err(QueryError::Conflict(format!(
            "the referral is {status}; this needs {}",
            from.join(" or ")
        )));
    }
    let now = Utc::now();
    if expires.is_some_and(|e| e <= now) && to != "CLOSED" {
        return Err(QueryError::Conflict("the referral has expired".into()));
    }
    let mut update = Sql::new("UPDATE referrals SET status = ");
    update.bind(to).push(", updated_at = ").bind(now);
    if to == "ACCEPTED" && status == "OPEN" {
        update.push(", accepted_at = ").bind(now);
    }
    let mut written = vec!["status"];
    if let Some(reason) = reason {
        update.push(", reason = ").bind(reason);
    }
    if let Some(expiry) = extend_to {
        let rule = rules
            .get(&purpose)
            .ok_or_else(|| bad(format!("purpose `{purpose}` may not be referred")))?;
        let expiry = expiry_within(&expiry, rule, now)?;
        update.push(", expires_at = ").bind(expiry);
        written = vec!["expiresAt"];
    }
    // The status read above, checked again by the write: of two concurrent transitions, one.
    update
        .push(" WHERE id = ")
        .bind(id.to_owned())
        .push(" AND status = ")
        .bind(status.clone());
    engine.count_statement();
    if txn
        .execute_raw(update.checked_statement(backend)?)
        .await?
        .rows_affected()
        == 0
    {
        return Err(QueryError::Conflict(
            "the referral changed meanwhile; read it again".into(),
        ));
    }
    audit(engine, &txn, "update", id, Some(person), &written).await?;
    txn.commit().await?;
    answer(engine, id).await
}

/// The workflow's mutations that `operations` grants, and their input type.
pub fn referral_fields(
    operations: &std::collections::BTreeSet<&'static str>,
    rules: std::sync::Arc<PurposeRules>,
) -> (Vec<Field>, Vec<InputObject>) {
    let mut fields = Vec::new();
    let mut inputs = Vec::new();
    let resolve = |name: &'static str, rules: std::sync::Arc<PurposeRules>| {
        Field::new(name, TypeRef::named_nn("Referral"), move |ctx| {
            let rules = rules.clone();
            FieldFuture::new(async move {
                let engine = engine(&ctx)?;
                let arg = |key: &str| {
                    ctx.args
                        .get(key)
                        .and_then(|v| v.string().ok().map(str::to_owned))
                };
                let id = arg("id").unwrap_or_default();
                let result = match name {
                    "createReferral" => {
                        let input = ctx.args.try_get("input")?.as_value().clone();
                        create(&engine, &rules, &input).await
                    }
                    "acceptReferral" => {
                        transition(
                            &engine,
                            &rules,
                            &id,
                            Party::Receiver,
                            &["OPEN"],
                            "ACCEPTED",
                            None,
                            None,
                        )
                        .await
                    }
                    "declineReferral" => {
                        transition(
                            &engine,
                            &rules,
                            &id,
                            Party::Receiver,
                            &["OPEN"],
                            "DECLINED",
                            arg("reason"),
                            None,
                        )
                        .await
                    }
                    "closeReferral" => {
                        transition(
                            &engine,
                            &rules,
                            &id,
                            Party::Either,
                            &["OPEN", "ACCEPTED"],
                            "CLOSED",
                            arg("reason"),
                            None,
                        )
                        .await
                    }
                    _ => {
                        // extendReferral: the status stays as it is.
                        let status = current_status(&engine, &id).await;
                        match status {
                            Ok(status) => {
                                transition(
                                    &engine,
                                    &rules,
                                    &id,
                                    Party::Sender,
                                    &["OPEN", "ACCEPTED"],
                                    status,
                                    None,
                                    arg("expiresAt"),
                                )
                                .await
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                result
                    .map(|row| Some(FieldValue::owned_any(row)))
                    .map_err(|e| e.to_graphql(&engine.request_id))
            })
        })
    };
    if operations.contains("createReferral") {
        inputs.push(
            InputObject::new("NewReferralInput")
                .field(InputValue::new("personId", TypeRef::named_nn(TypeRef::ID)))
                .field(
                    InputValue::new("toAgency", TypeRef::named_nn(TypeRef::STRING))
                        .description("The receiving agency's code (`PEMKOT-JKP`)."),
                )
                .field(InputValue::new(
                    "purpose",
                    TypeRef::named_nn("ReferralPurpose"),
                ))
                .field(InputValue::new(
                    "consentGiven",
                    TypeRef::named_nn(TypeRef::BOOLEAN),
                ))
                .field(
                    InputValue::new("consentDate", TypeRef::named("Date"))
                        .description("Required where the purpose asks for it (CHILD_PROTECTION)."),
                )
                .field(
                    InputValue::new("expiresAt", TypeRef::named_nn("DateTime"))
                        .description("At most the purpose's longest lifetime from now."),
                )
                .field(
                    InputValue::new("note", TypeRef::named(TypeRef::STRING))
                        .description("Read by the two parties only; never in the audit log."),
                ),
        );
        fields.push(
            resolve("createReferral", rules.clone())
                .argument(InputValue::new("input", TypeRef::named_nn("NewReferralInput")))
                .description("Refers a person you may see to another agency; the referral is OPEN until the receiver answers."),
        );
    }
    let id = || InputValue::new("id", TypeRef::named_nn(TypeRef::ID));
    let reason = || {
        InputValue::new("reason", TypeRef::named_nn(TypeRef::STRING))
            .description("Stored with the referral; never in the audit log.")
    };
    if operations.contains("acceptReferral") {
        fields.push(
            resolve("acceptReferral", rules.clone())
                .argument(id())
                .description("Accepts an OPEN referral to your agency: the person's referred fields open to you from the next request until it is closed or expires."),
        );
    }
    if operations.contains("declineReferral") {
        fields.push(
            resolve("declineReferral", rules.clone())
                .argument(id())
                .argument(reason())
                .description("Declines an OPEN referral to your agency."),
        );
    }
    if operations.contains("closeReferral") {
        fields.push(
            resolve("closeReferral", rules.clone())
                .argument(id())
                .argument(reason())
                .description("Closes a referral your agency sent or received; access it opened ends with the next request."),
        );
    }
    if operations.contains("extendReferral") {
        fields.push(
            resolve("extendReferral", rules)
                .argument(id())
                .argument(InputValue::new("expiresAt", TypeRef::named_nn("DateTime")))
                .description("Moves the expiry of a referral your agency sent, within the purpose's longest lifetime from now."),
        );
    }
    (fields, inputs)
}

/// The status of a referral the caller's agency is party to.
async fn current_status(engine: &Engine, id: &str) -> Result<&'static str, QueryError> {
    let txn = crate::sql::begin_write(&engine.db).await?;
    let own = own_agency_id(engine, &txn).await?;
    let mut sql = Sql::new("SELECT status AS v FROM referrals WHERE id = ");
    sql.bind(id.to_owned())
        .push(" AND (from_agency_id = ")
        .bind(own.clone())
        .push(" OR to_agency_id = ")
        .bind(own)
        .push(")");
    let status = one_text(engine, &txn, sql).await?;
    txn.rollback().await?;
    match status.as_deref() {
        Some("OPEN") => Ok("OPEN"),
        Some("ACCEPTED") => Ok("ACCEPTED"),
        Some("DECLINED") => Ok("DECLINED"),
        Some("CLOSED") => Ok("CLOSED"),
        Some(_) => Err(QueryError::Internal("unknown referral status".into())),
        None => Err(unknown_referral(id)),
    }
}
