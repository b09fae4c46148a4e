//! PORA Gateway: the actix-web binary's library. `config` → `app::Application::build` →
//! `run_until_stopped`; `auth` turns tokens into sessions, `http` owns the GraphQL-over-HTTP
//! endpoint and its error mapping, `seed` the demo data, `telemetry` metrics and traces, `cli` the command line.

pub mod admin;
pub mod allocator;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
/// The demo data (its own crate, `demo/`), under its old name.
pub use demo as seed;
pub mod telemetry;

pub use app::Application;
pub use config::Config;
