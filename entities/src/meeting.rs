//! `Meeting`: the `meetings` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "meetings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub level: String,
    pub held_on: Date,
    pub venue: String,
    pub region: String,
    pub chair_agency_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub agenda: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub decisions: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub minutes: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
