//! What operators see of a running gateway: metrics for `/metrics` (`metrics`) and request
//! traces (`trace`). The access log is `http`'s; the audit log is `audit`'s.

pub mod metrics;
pub mod trace;

pub use metrics::Metrics;
pub use trace::{RequestTrace, Tracing};
