//! `AgencyCutoff`: the `agency_cutoffs` table. Every token of the agency issued at or before
//! `revoked_before` is refused, stored or not (development tokens, identity providers' tokens):
//! what `revokeTokensOfAgency` leaves behind so an agency is cut off at once, whoever signed
//! its tokens.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agency_cutoffs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub agency: String,
    pub revoked_before: DateTimeUtc,
    pub revoked_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
