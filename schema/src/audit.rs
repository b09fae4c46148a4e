//! What a response returned, as the audit log needs it: the `Type.field` coordinates that came
//! back with a value, the ids of the persons whose data was returned, and how many rows. One
//! `AuditTrail` per request; `AuditProbe` (an async-graphql extension) and the object resolvers
//! fill it. It holds no values: audit data never contains the personal data itself.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};

#[derive(Debug, Default)]
pub struct AuditTrail {
    inner: Mutex<Trail>,
}

/// Keyed so that a value already noted is found by reference: a response notes the same
/// coordinate once per row and the same row once per field, and only the first time allocates.
#[derive(Debug, Default)]
struct Trail {
    /// Field names by parent type.
    fields: HashMap<String, HashSet<String>>,
    persons: BTreeSet<String>,
    /// Row ids by type.
    rows: HashMap<&'static str, HashSet<String>>,
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

    /// Field `name` of `parent_type` came back with a value (`Type.field`).
    pub fn field(&self, parent_type: &str, name: &str) {
        self.with(|t| {
            let names = match t.fields.get_mut(parent_type) {
                Some(names) => names,
                None => t.fields.entry(parent_type.to_owned()).or_default(),
            };
            if !names.contains(name) {
                names.insert(name.to_owned());
            }
        });
    }

    /// A row of `type_name` was returned; `person` names the person it is about, if any.
    pub fn row(&self, type_name: &'static str, id: Option<&str>, person: Option<&str>) {
        self.with(|t| {
            if let Some(id) = id {
                let ids = t.rows.entry(type_name).or_default();
                if !ids.contains(id) {
                    ids.insert(id.to_owned());
                }
            }
            if let Some(person) = person
                && !t.persons.contains(person)
            {
                t.persons.insert(person.to_owned());
            }
        });
    }

    pub fn returned(&self) -> Returned {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let fields: BTreeSet<String> = inner
            .fields
            .iter()
            .flat_map(|(parent, names)| names.iter().map(move |n| format!("{parent}.{n}")))
            .collect();
        Returned {
            fields: fields.into_iter().collect(),
            persons: inner.persons.iter().cloned().collect(),
            rows: inner.rows.values().map(HashSet::len).sum(),
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
        let (parent_type, name) = (info.parent_type, info.name);
        let result = next.run(ctx, info).await;
        if !skip
            && let Ok(Some(value)) = &result
            && *value != Value::Null
            && let Some(trail) = ctx.data_opt::<Arc<AuditTrail>>()
        {
            trail.field(parent_type, name);
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
