//! sea-orm entities of the shared case data: one module per table, models only.
//!
//! List-valued fields (`aliases`, `languages`, `specific_needs`) are JSON arrays in a text
//! column, so that SQLite and PostgreSQL store them alike.

pub mod access_token;
pub mod action_item;
pub mod agency;
pub mod agency_cutoff;
pub mod audit_event;
pub mod case;
pub mod immigration_record;
pub mod incident;
pub mod incident_person;
pub mod meeting;
pub mod meeting_participant;
pub mod monthly_report;
pub mod person;
pub mod placement;
pub mod referral;
pub mod shelter;
pub mod unhcr_registration;
pub mod violation;
