//! `ImmigrationRecord`: the `immigration_records` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "immigration_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub person_id: String,
    pub passport_number: Option<String>,
    pub passport_country: Option<String>,
    pub entry_mode: String,
    pub visa_type: Option<String>,
    pub visa_expiry: Option<Date>,
    pub special_id_card_number: Option<String>,
    pub supervising_office_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
