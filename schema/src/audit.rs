//! What a response returned, as the audit log needs it: the `Type.field` coordinates that came
//! back with a value, the ids of the persons whose data was returned, and how many rows. One
//! `AuditTrail` per request; `AuditProbe` (an async-graphql extension) and the object resolvers
//! fill it. It holds no values: audit data never contains the personal data itself.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};

#[derive(Debug, Default)]
pub struct AuditTrail {
    inner: Mutex<Trail>,
}

#[derive(Debug, Default)]
struct Trail {
    fields: BTreeSet<String>,
    persons: BTreeSet<String>,
    rows: HashSet<(&'static str, String)>,
}

/// What one response returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Returned {
    pub fields: Vec<String>,
    pub persons: Vec<String>,
    pub rows: usize,
}

impl AuditTrail {
    fn with(&self, f: impl FnOnce(&mut Trail)) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner);
    }

    pub fn field(&self, coordinate: String) {
        self.with(|t| {
            t.fields.insert(coordinate);
        });
    }

    /// A row of `type_name` was returned; `person` names the person it is about, if any.
    pub fn row(&self, type_name: &'static str, id: Option<String>, person: Option<String>) {
        self.with(|t| {
            if let Some(id) = id {
                t.rows.insert((type_name, id));
            }
            if let Some(person) = person {
                t.persons.insert(person);
            }
        });
    }

    pub fn returned(&self) -> Returned {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Returned {
            fields: inner.fields.iter().cloned().collect(),
            persons: inner.persons.iter().cloned().collect(),
            rows: inner.rows.len(),
        }
    }
}

/// Records the coordinate of every field that resolved to a value.
pub struct AuditProbe;

impl ExtensionFactory for AuditProbe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditProbe)
    }
}

#[async_trait::async_trait]
impl Extension for AuditProbe {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let skip = info.is_for_introspection
            || info.parent_type.starts_with("__")
            // List items resolve with the list as parent; their field is already recorded.
            || info.parent_type.starts_with('[')
            || info.name.starts_with("__");
        let coordinate = (!skip).then(|| format!("{}.{}", info.parent_type, info.name));
        let result = next.run(ctx, info).await;
        if let (Some(coordinate), Ok(Some(value))) = (coordinate, &result)
            && *value != Value::Null
            && let Some(trail) = ctx.data_opt::<Arc<AuditTrail>>()
        {
            trail.field(coordinate);
        }
        result
    }
}

/// A write as the audit log records it: which row of which type, which fields it set, whose
/// data it is. Never the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteEvent {
    /// `create` or `update`.
    pub action: &'static str,
    pub type_name: &'static str,
    pub row_id: String,
    /// `Type.field` coordinates written.
    pub fields: Vec<String>,
    /// The person the row belongs to, if it belongs to one.
    pub person_id: Option<String>,
}

/// Appends a write's audit event inside the writing transaction, so the write and its event
/// commit together or not at all. The gateway gives every request one (`Engine::write_audit`).
#[async_trait::async_trait]
pub trait WriteAudit: Send + Sync {
    async fn record(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        event: WriteEvent,
    ) -> Result<(), sea_orm::DbErr>;
}
