//! `Person`: the `persons` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "persons")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub full_name: String,
    #[sea_orm(column_type = "Text")]
    pub aliases: String,
    pub sex: String,
    pub date_of_birth: Date,
    pub nationality: String,
    #[sea_orm(column_type = "Text")]
    pub languages: String,
    pub religion: Option<String>,
    pub ethnicity: Option<String>,
    pub phone: Option<String>,
    pub residence_region: String,
    pub residence_address: Option<String>,
    pub case_id: Option<String>,
    pub relationship_to_focal: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub specific_needs: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub medical_notes: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub claim_narrative: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
