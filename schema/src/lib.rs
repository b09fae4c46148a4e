//! Policy and per-role GraphQL schemas.
//!
//! `catalogue` describes every type and field of the shared case data; `policy` compiles the
//! policy file into one `RoleView` per role; `builder` renders a `RoleView` as a schema whose
//! resolvers run through `engine` (SQL with the role's `rows` filters, batched relations).
//! The fields come from one module per concern: `reads` (objects, pages, lookups),
//! `statistics_schema`, `verify_document`, `access_report`, `viewer`, `federation`,
//! `mutation` (writes), `token_admin`, `referrals` and `action_items`, all over `resolve`.
//! The modules form a ladder with no import cycles (docs/architecture.md; kept so by
//! `tests/module_ladder.rs`). Never imports actix: everything here is testable in-process.

pub mod access_report;
pub mod action_items;
pub mod audit;
pub mod builder;
pub mod catalogue;
pub mod condition;
pub mod cursor;
pub mod engine;
pub mod error;
pub mod error_code;
pub mod explain;
pub mod federation;
pub mod filter;
pub mod limits;
pub mod mutation;
pub mod options;
pub mod order;
pub mod policy;
pub mod purposes;
pub mod rate;
pub mod reads;
pub mod referrals;
pub mod resolve;
pub mod row;
pub mod rows;
pub mod rules;
pub mod scoped;
pub mod session;
pub mod sql;
pub mod statistics;
pub mod statistics_schema;
pub mod token_admin;
pub mod tokens;
pub mod verify_document;
pub mod viewer;

pub use builder::build_schema;
pub use engine::Engine;
pub use error::QueryError;
pub use options::SchemaOptions;
pub use policy::{Policy, PolicyError, RoleView};
pub use session::Session;
pub use verify_document::RateLimiter;
