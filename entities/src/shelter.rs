//! `Shelter`: the `shelters` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "shelters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub kind: String,
    pub operator_id: Option<String>,
    pub region: String,
    pub address: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub capacity: i32,
    /// Open placements (`end_date IS NULL`) in the shelter, kept by the database's triggers on
    /// `placements` (migration `m20261201_000011_shelter_occupancy`). Callers never update it; a
    /// new shelter has none yet (0, or `NotSet` for the column's default).
    pub occupancy: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
