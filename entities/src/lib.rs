//! sea-orm entities of the shared case data: one module per table, models only.
//!
//! List-valued fields (`aliases`, `languages`, `specific_needs`) are JSON arrays in a text
//! column, so that SQLite and PostgreSQL store them alike.

pub mod agency;
pub mod person;
pub mod case;
pub mod unhcr_registration;
pub mod immigration_record;
pub mod violation;
pub mod monthly_report;
pub mod shelter;
pub mod placement;
pub mod incident;
pub mod incident_person;
pub mod meeting;
pub mod meeting_participant;
pub mod action_item;
pub mod referral;
