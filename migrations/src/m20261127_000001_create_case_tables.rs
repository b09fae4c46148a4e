//! The shared case data: every table of `domain.md` except tokens and audit.
//!
//! Tables are created from the entity definitions as they stand on this date; the indexes
//! cover the foreign keys and region codes that row filters and relation loaders query.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{EntityTrait, Schema};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, columns) that get a plain index.
const INDEXES: &[(&str, &[&str])] = &[
    ("agencies", &["code"]),
    ("persons", &["case_id"]),
    ("persons", &["residence_region"]),
    ("persons", &["nationality"]),
    ("unhcr_registrations", &["person_id"]),
    ("unhcr_registrations", &["document_number"]),
    ("immigration_records", &["person_id"]),
    ("violations", &["person_id"]),
    ("monthly_reports", &["person_id", "period"]),
    ("shelters", &["region"]),
    ("placements", &["person_id", "end_date"]),
    ("placements", &["shelter_id", "end_date"]),
    ("incidents", &["region"]),
    ("incident_persons", &["incident_id"]),
    ("incident_persons", &["person_id"]),
    ("meetings", &["region"]),
    ("meeting_participants", &["meeting_id"]),
    ("meeting_participants", &["agency_id"]),
    ("action_items", &["meeting_id"]),
    ("referrals", &["person_id", "to_agency_id", "status"]),
    ("referrals", &["from_agency_id"]),
    ("cases", &["unhcr_case_number"]),
];

async fn create<E: EntityTrait>(manager: &SchemaManager<'_>, entity: E) -> Result<(), DbErr> {
    let schema = Schema::new(manager.get_database_backend());
    manager
        .create_table(schema.create_table_from_entity(entity))
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use entities::*;
        create(manager, agency::Entity).await?;
        create(manager, person::Entity).await?;
        create(manager, case::Entity).await?;
        create(manager, unhcr_registration::Entity).await?;
        create(manager, immigration_record::Entity).await?;
        create(manager, violation::Entity).await?;
        create(manager, monthly_report::Entity).await?;
        create(manager, shelter::Entity).await?;
        create(manager, placement::Entity).await?;
        create(manager, incident::Entity).await?;
        create(manager, incident_person::Entity).await?;
        create(manager, meeting::Entity).await?;
        create(manager, meeting_participant::Entity).await?;
        create(manager, action_item::Entity).await?;
        create(manager, referral::Entity).await?;
        for (table, columns) in INDEXES {
            let mut index = Index::create();
            index
                .name(format!("idx_{}_{}", table, columns.join("_")))
                .table(Alias::new(*table));
            for column in *columns {
                index.col(Alias::new(*column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "referrals",
            "action_items",
            "meeting_participants",
            "meetings",
            "incident_persons",
            "incidents",
            "placements",
            "shelters",
            "monthly_reports",
            "violations",
            "immigration_records",
            "unhcr_registrations",
            "cases",
            "persons",
            "agencies",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
