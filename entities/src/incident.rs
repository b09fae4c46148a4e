//! `Incident`: the `incidents` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub occurred_at: DateTimeUtc,
    pub region: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub location_description: Option<String>,
    pub headcount: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub narrative: Option<String>,
    pub reporting_agency_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub actions_taken: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
