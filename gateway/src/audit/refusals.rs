//! Requests refused before execution (no token, a bad token, a rate limit) are counted, not
//! chained one by one: one audit event per (reason, caller or client address) per interval
//! stands for all of them, so unauthenticated load cannot grow the chain or slow the commits
//! of the agencies being served. Every request that returns data keeps its own event.
//!
//! Counts wait in memory until the next flush; a flush that fails keeps them for the next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{AuditLog, AuditRecord, Outcome};

/// Distinct (reason, caller or address) kept between flushes; past it, new ones are counted
/// under their reason alone, so the map stays bounded under any load.
const MAX_PENDING: usize = 10_000;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Key {
    reason: &'static str,
    token_id: Option<String>,
    subject: Option<String>,
    agency: Option<String>,
    role: Option<String>,
    via: Option<String>,
    /// Only when the caller is unknown.
    address: Option<String>,
}

#[derive(Clone, Debug)]
struct Pending {
    count: i64,
    first_at: DateTime<Utc>,
    /// The first refused request's id: the event can be found by it.
    request_id: String,
}

/// Who was refused, as far as known.
#[derive(Clone, Debug, Default)]
pub struct Refused {
    pub token_id: Option<String>,
    pub subject: Option<String>,
    pub agency: Option<String>,
    pub role: Option<String>,
    pub via: Option<String>,
    pub address: Option<String>,
}

impl From<&AuditRecord> for Refused {
    fn from(r: &AuditRecord) -> Self {
        Refused {
            token_id: r.token_id.clone(),
            subject: r.subject.clone(),
            agency: r.agency.clone(),
            role: r.role.clone(),
            via: r.via.clone(),
            address: None,
        }
    }
}

pub struct RefusalLog {
    pending: Mutex<HashMap<Key, Pending>>,
    audit: AuditLog,
}

impl RefusalLog {
    pub fn new(audit: AuditLog) -> Arc<RefusalLog> {
        Arc::new(RefusalLog {
            pending: Mutex::default(),
            audit,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one refusal of `who` for `reason` (an error code).
    pub fn note(&self, reason: &'static str, who: Refused, request_id: &str) {
        let known = who.subject.is_some();
        let mut key = Key {
            reason,
            token_id: who.token_id,
            subject: who.subject,
            agency: who.agency,
            role: who.role,
            via: who.via,
            address: if known { None } else { who.address },
        };
        let mut pending = self.lock();
        if pending.len() >= MAX_PENDING && !pending.contains_key(&key) {
            key = Key {
                reason,
                ..Key::default()
            };
        }
        pending
            .entry(key)
            .and_modify(|p| p.count += 1)
            .or_insert_with(|| Pending {
                count: 1,
                first_at: Utc::now(),
                request_id: request_id.to_owned(),
            });
    }

    /// Writes one event per pending (reason, caller or address). Counts whose event could not
    /// be written are kept for the next flush.
    pub async fn flush(&self) {
        let drained: Vec<(Key, Pending)> = self.lock().drain().collect();
        for (key, pending) in drained {
            let mut record = AuditRecord::new(&pending.request_id);
            record.at = pending.first_at;
            record.token_id = key.token_id.clone();
            record.subject = key.subject.clone();
            record.agency = key.agency.clone();
            record.role = key.role.clone();
            record.via = key.via.clone();
            record.address = key.address.clone();
            record.reason = Some(key.reason.to_owned());
            record.refusals = Some(pending.count);
            record.outcome = Outcome::Denied;
            if let Err(e) = self.audit.record(record).await {
                tracing::warn!(error = %e, "refusals not yet audited; kept for the next flush");
                let mut map = self.lock();
                map.entry(key)
                    .and_modify(|p| {
                        p.count += pending.count;
                        p.first_at = p.first_at.min(pending.first_at);
                        p.request_id = pending.request_id.clone();
                    })
                    .or_insert(pending);
            }
        }
    }

    /// Flushes every `interval` on the current runtime.
    pub fn start_flusher(self: &Arc<Self>, interval: Duration) {
        let log = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(log) = log.upgrade() else {
                    return;
                };
                log.flush().await;
            }
        });
    }
}
