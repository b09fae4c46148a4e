//! The shared case data: every table of `domain.md` except tokens and audit.
//!
//! Explicit DDL, frozen: this migration never changes with the entities. The tables are spelled
//! out as the entities described them when the DDL was frozen, columns that later migrations
//! add (`referrals.note`, `.reason`, `.accepted_at`) included; those migrations check for the
//! column first and leave a table created here as it is. The indexes cover the foreign keys and
//! region codes that row filters and relation loaders query. A column without `.not_null()` is
//! nullable.

use sea_orm_migration::prelude::*;

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

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

/// The tables, in the order they are created.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(Alias::new("agencies"))
            .col(col("id").string().not_null().primary_key())
            .col(col("code").string().not_null())
            .col(col("kind").string().not_null())
            .col(col("name").string().not_null())
            .col(col("jurisdiction").string().not_null())
            .col(col("valid_from").date().not_null())
            .col(col("valid_to").date())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("persons"))
            .col(col("id").string().not_null().primary_key())
            .col(col("full_name").string().not_null())
            .col(col("aliases").text().not_null())
            .col(col("sex").string().not_null())
            .col(col("date_of_birth").date().not_null())
            .col(col("nationality").string().not_null())
            .col(col("languages").text().not_null())
            .col(col("religion").string())
            .col(col("ethnicity").string())
            .col(col("phone").string())
            .col(col("residence_region").string().not_null())
            .col(col("residence_address").string())
            .col(col("case_id").string())
            .col(col("relationship_to_focal").string())
            .col(col("specific_needs").text().not_null())
            .col(col("medical_notes").text())
            .col(col("claim_narrative").text())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("cases"))
            .col(col("id").string().not_null().primary_key())
            .col(col("unhcr_case_number").string().not_null())
            .col(col("focal_person_id").string())
            .col(col("arrival_date").date())
            .col(col("registration_date").date().not_null())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("unhcr_registrations"))
            .col(col("id").string().not_null().primary_key())
            .col(col("person_id").string().not_null())
            .col(col("individual_number").string().not_null())
            .col(col("legal_status").string().not_null())
            .col(col("file_status").string().not_null())
            .col(col("solution").string().not_null())
            .col(col("document_type").string().not_null())
            .col(col("document_number").string().not_null())
            .col(col("document_expiry").date().not_null())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("immigration_records"))
            .col(col("id").string().not_null().primary_key())
            .col(col("person_id").string().not_null())
            .col(col("passport_number").string())
            .col(col("passport_country").string())
            .col(col("entry_mode").string().not_null())
            .col(col("visa_type").string())
            .col(col("visa_expiry").date())
            .col(col("special_id_card_number").string())
            .col(col("supervising_office_id").string())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("violations"))
            .col(col("id").string().not_null().primary_key())
            .col(col("person_id").string().not_null())
            .col(col("occurred_on").date().not_null())
            .col(col("article").string().not_null())
            .col(col("action").string().not_null())
            .col(col("office_id").string())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("monthly_reports"))
            .col(col("id").string().not_null().primary_key())
            .col(col("person_id").string().not_null())
            .col(col("period").string().not_null())
            .col(col("reported_at").timestamp_with_time_zone())
            .col(col("method").string())
            .col(col("present").boolean().not_null())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("shelters"))
            .col(col("id").string().not_null().primary_key())
            .col(col("name").string().not_null())
            .col(col("kind").string().not_null())
            .col(col("operator_id").string())
            .col(col("region").string().not_null())
            .col(col("address").string().not_null())
            .col(col("latitude").double())
            .col(col("longitude").double())
            .col(col("capacity").integer().not_null())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("placements"))
            .col(col("id").string().not_null().primary_key())
            .col(col("person_id").string().not_null())
            .col(col("shelter_id").string())
            .col(col("kind").string().not_null())
            .col(col("start_date").date().not_null())
            .col(col("end_date").date())
            .col(col("decision_ref").string())
            .col(col("reason").text())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("incidents"))
            .col(col("id").string().not_null().primary_key())
            .col(col("kind").string().not_null())
            .col(col("occurred_at").timestamp_with_time_zone().not_null())
            .col(col("region").string().not_null())
            .col(col("location_description").text())
            .col(col("headcount").integer())
            .col(col("narrative").text())
            .col(col("reporting_agency_id").string())
            .col(col("actions_taken").text())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("incident_persons"))
            .col(col("id").string().not_null().primary_key())
            .col(col("incident_id").string().not_null())
            .col(col("person_id").string().not_null())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("meetings"))
            .col(col("id").string().not_null().primary_key())
            .col(col("level").string().not_null())
            .col(col("held_on").date().not_null())
            .col(col("venue").string().not_null())
            .col(col("region").string().not_null())
            .col(col("chair_agency_id").string())
            .col(col("agenda").text())
            .col(col("decisions").text())
            .col(col("minutes").text())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("meeting_participants"))
            .col(col("id").string().not_null().primary_key())
            .col(col("meeting_id").string().not_null())
            .col(col("agency_id").string().not_null())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("action_items"))
            .col(col("id").string().not_null().primary_key())
            .col(col("meeting_id").string().not_null())
            .col(col("agency_id").string())
            .col(col("description").text().not_null())
            .col(col("due_on").date())
            .col(col("status").string().not_null())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
        Table::create()
            .table(Alias::new("referrals"))
            .col(col("id").string().not_null().primary_key())
            .col(col("person_id").string().not_null())
            .col(col("from_agency_id").string().not_null())
            .col(col("to_agency_id").string().not_null())
            .col(col("purpose").string().not_null())
            .col(col("consent_given").boolean().not_null())
            .col(col("consent_date").date())
            .col(col("status").string().not_null())
            .col(col("expires_at").timestamp_with_time_zone())
            .col(col("note").string())
            .col(col("reason").string())
            .col(col("accepted_at").timestamp_with_time_zone())
            .col(col("created_at").timestamp_with_time_zone().not_null())
            .col(col("updated_at").timestamp_with_time_zone().not_null())
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
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
