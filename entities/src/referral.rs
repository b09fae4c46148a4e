//! `Referral`: the `referrals` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "referrals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub person_id: String,
    pub from_agency_id: String,
    pub to_agency_id: String,
    pub purpose: String,
    pub consent_given: bool,
    pub consent_date: Option<Date>,
    pub status: String,
    pub expires_at: Option<DateTimeUtc>,
    /// The sender's note; never in the audit chain.
    pub note: Option<String>,
    /// Why the referral was declined or closed; never in the audit chain.
    pub reason: Option<String>,
    /// When the receiver accepted it.
    pub accepted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
