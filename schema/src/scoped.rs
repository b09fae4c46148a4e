//! Schemas of narrowed tokens: one per distinct (role, scope set), built on first use and kept.
//!
//! Scopes only remove what the role grants (`RoleView::narrowed`), and the narrowed view goes
//! through the same builder as every role, so a narrowed schema is generated, never hand-made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::dynamic::Schema;

use crate::builder::build_schema;
use crate::options::SchemaOptions;
use crate::policy::RoleView;
use crate::verify_document::RateLimiter;

/// Distinct scope sets kept at most; past that a schema is built per request (and logged), so
/// tokens with ever new scope sets cannot grow memory without bound.
pub const MAX_SCOPED_SCHEMAS: usize = 512;

type Key = (String, Vec<String>);

pub struct ScopedSchemas {
    options: SchemaOptions,
    limiter: Arc<RateLimiter>,
    built: Mutex<HashMap<Key, (Schema, Arc<RoleView>)>>,
}

/// Why a narrowed schema cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error(transparent)]
    Refused(#[from] crate::policy::ScopeRefusal),
    #[error("schema: {0}")]
    Build(String),
}

/// A narrowed schema, and whether this call built it.
pub struct Scoped {
    pub schema: Schema,
    pub view: Arc<RoleView>,
    pub built: bool,
}

impl ScopedSchemas {
    pub fn new(options: SchemaOptions, limiter: Arc<RateLimiter>) -> Self {
        ScopedSchemas {
            options,
            limiter,
            built: Mutex::default(),
        }
    }

    /// How many narrowed schemas are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The schema of `role` narrowed to `scopes` (sorted, no duplicates).
    pub fn get(&self, role: &RoleView, scopes: &[String]) -> Result<Scoped, ScopeError> {
        let key = (role.name.clone(), scopes.to_vec());
        if let Some((schema, view)) = self.lock().get(&key) {
            return Ok(Scoped {
                schema: schema.clone(),
                view: view.clone(),
                built: false,
            });
        }
        let view = Arc::new(role.narrowed(scopes)?);
        let schema = build_schema(&view, &self.options, self.limiter.clone())
            .map_err(|e| ScopeError::Build(e.0))?;
        let mut built = self.lock();
        if let Some((schema, view)) = built.get(&key) {
            // Another request built it meanwhile: one schema per scope set all the same.
            return Ok(Scoped {
                schema: schema.clone(),
                view: view.clone(),
                built: false,
            });
        }
        if built.len() < MAX_SCOPED_SCHEMAS {
            built.insert(key, (schema.clone(), view.clone()));
        } else {
            tracing::warn!(role = %role.name, "scoped schema cache full; building per request");
        }
        Ok(Scoped {
            schema,
            view,
            built: true,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Schema, Arc<RoleView>)>> {
        self.built.lock().unwrap_or_else(|e| e.into_inner())
    }
}
