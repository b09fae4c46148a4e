//! A role added by a policy change only: `tests/policies/dinsos.toml` (the city's social
//! service) appended to the built-in policy, its agency as a row of `agencies`, and referrals to
//! it in every state. The suites that enumerate roles run over this policy as well.

use chrono::{Duration, NaiveDate, Utc};
use entities::{agency, person, referral};
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::{Backend, TestApp, spawn_with};

/// The role's section of the policy file.
pub const DINSOS_ROLE: &str = include_str!("../policies/dinsos.toml");
pub const DINSOS_AGENCY: &str = "DINSOS-JKP";
pub const DINSOS_JURISDICTION: &str = "31.71";

/// The built-in policy with the new role.
pub fn policy_text() -> String {
    format!("{}\n{DINSOS_ROLE}", schema::policy::DEFAULT_POLICY)
}

/// The gateway with the new role's policy, its agency, and referral fixtures; `token("dinsos")`
/// names the agency.
pub async fn spawn(backend: Backend) -> TestApp {
    let app = spawn_with(backend, |c| {
        let path = c.data_dir.join("policy-with-dinsos.toml");
        std::fs::write(&path, policy_text()).expect("write the policy file");
        c.policy_file = Some(path);
    })
    .await;
    add_agency(&app).await;
    refer_persons(&app).await;
    app.with_agency("dinsos", DINSOS_AGENCY, DINSOS_JURISDICTION)
}

async fn add_agency(app: &TestApp) {
    let now = Utc::now();
    agency::Entity::insert(agency::ActiveModel {
        id: ActiveValue::Set(uuid::Uuid::new_v4().to_string()),
        code: ActiveValue::Set(DINSOS_AGENCY.to_owned()),
        kind: ActiveValue::Set("MUNICIPALITY".to_owned()),
        name: ActiveValue::Set("Dinas Sosial Jakarta Pusat".to_owned()),
        jurisdiction: ActiveValue::Set(DINSOS_JURISDICTION.to_owned()),
        valid_from: ActiveValue::Set(NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")),
        valid_to: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    })
    .exec_without_returning(&app.db)
    .await
    .expect("insert the agency");
}

/// Referrals from UNHCR to the social service for the first persons (by id): accepted without
/// expiry, accepted and unexpired (two), accepted but expired, declined, and still open. Only
/// the first three open the person to the role.
async fn refer_persons(app: &TestApp) {
    let id_of = |code: &'static str| async move {
        agency::Entity::find()
            .filter(agency::Column::Code.eq(code))
            .one(&app.db)
            .await
            .expect("agency")
            .expect("agency exists")
            .id
    };
    let from = id_of("UNHCR-JKT").await;
    let to = id_of(DINSOS_AGENCY).await;
    let persons = person::Entity::find()
        .order_by_asc(person::Column::Id)
        .all(&app.db)
        .await
        .expect("persons");
    let now = Utc::now();
    let states = [
        ("ACCEPTED", None),
        ("ACCEPTED", Some(now + Duration::days(30))),
        ("ACCEPTED", Some(now + Duration::days(1))),
        ("ACCEPTED", Some(now - Duration::days(1))),
        ("DECLINED", Some(now + Duration::days(30))),
        ("OPEN", Some(now + Duration::days(30))),
    ];
    for (p, (status, expires_at)) in persons.iter().zip(states) {
        referral::Entity::insert(referral::ActiveModel {
            id: ActiveValue::Set(uuid::Uuid::new_v4().to_string()),
            person_id: ActiveValue::Set(p.id.clone()),
            from_agency_id: ActiveValue::Set(from.clone()),
            to_agency_id: ActiveValue::Set(to.clone()),
            purpose: ActiveValue::Set("SHELTER".to_owned()),
            consent_given: ActiveValue::Set(true),
            consent_date: ActiveValue::Set(None),
            status: ActiveValue::Set(status.to_owned()),
            expires_at: ActiveValue::Set(expires_at),
            note: ActiveValue::Set(None),
            reason: ActiveValue::Set(None),
            accepted_at: ActiveValue::Set((status == "ACCEPTED").then_some(now)),
            created_at: ActiveValue::Set(now),
            updated_at: ActiveValue::Set(now),
        })
        .exec_without_returning(&app.db)
        .await
        .expect("insert a referral");
    }
}
