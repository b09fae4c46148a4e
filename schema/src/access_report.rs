//! `personAccessReport(personId:)`: the data subject's accountability report. Which agencies
//! (and roles) read which fields of one person, how often and when, from the audit log
//! (`audit_events`); and the referrals that opened the person to an agency, with the reads
//! made while each was in force.

use std::collections::BTreeSet;

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};

use crate::catalogue::{CATALOGUE, Kind};
use crate::error::QueryError;
use crate::resolve::{engine, getter};
use crate::row::{Cell, read_cell};
use crate::sql::Sql;

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
pub(crate) fn person_access_report_field() -> (Field, Vec<Object>) {
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
