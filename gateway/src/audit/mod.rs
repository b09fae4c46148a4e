//! The audit log: one event per GraphQL operation and per rejected request, hash-chained.
//!
//! Events go through one writer task per process that commits them in groups: each group is one
//! transaction that takes the chain lock (a PostgreSQL advisory lock; SQLite serialises writers
//! itself), reads the last hash, chains and inserts the events, and commits. The database assigns
//! `seq`, and since the lock is held until commit, processes sharing one database still form one
//! chain in `seq` order. A response is sent only after its event is committed; when the log cannot
//! be written the request fails closed (503 AUDIT_UNAVAILABLE) and later requests retry.

use std::time::Duration;

pub mod refusals;

use chrono::{DateTime, SecondsFormat, Utc};
use entities::audit_event;
use sea_orm::{
    ActiveValue, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Key of the PostgreSQL advisory lock that serialises appends ("PORA" in ASCII).
const CHAIN_LOCK: i64 = 0x504f_5241;
/// Most events committed in one transaction.
const MAX_GROUP: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Partial,
    Denied,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

/// One event before it is chained. Never holds personal data: coordinates, ids and counts.
#[derive(Clone, Debug)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub token_id: Option<String>,
    pub subject: Option<String>,
    pub agency: Option<String>,
    pub role: Option<String>,
    pub purpose: Option<String>,
    pub operation_name: Option<String>,
    pub query_hash: Option<String>,
    pub fields_read: Vec<String>,
    pub person_ids: Vec<String>,
    pub row_count: i64,
    pub outcome: Outcome,
    pub duration_ms: i64,
    /// The federation router that forwarded the request, if one did.
    pub via: Option<String>,
    /// The scopes that narrowed the token, if any.
    pub scopes: Option<String>,
    /// An aggregated refusal: its code, the client address (caller unknown), how many.
    pub reason: Option<String>,
    pub address: Option<String>,
    pub refusals: Option<i64>,
    /// A write's event: the coordinates it set.
    pub fields_written: Vec<String>,
    /// `query`, `mutation` or `subscription` once the document is read. Not stored (the
    /// access log and the metrics say it).
    pub operation_type: Option<&'static str>,
}

impl AuditRecord {
    pub fn new(request_id: &str) -> Self {
        AuditRecord {
            at: Utc::now(),
            request_id: request_id.to_owned(),
            token_id: None,
            subject: None,
            agency: None,
            role: None,
            purpose: None,
            operation_name: None,
            query_hash: None,
            fields_read: Vec::new(),
            person_ids: Vec::new(),
            row_count: 0,
            outcome: Outcome::Ok,
            duration_ms: 0,
            via: None,
            scopes: None,
            reason: None,
            address: None,
            refusals: None,
            fields_written: Vec::new(),
            operation_type: None,
        }
    }

    pub fn session(&mut self, session: &schema::Session) {
        self.token_id = Some(session.token_id.clone());
        self.subject = Some(session.subject.clone());
        self.agency = Some(session.agency.clone());
        self.role = Some(session.role.clone());
        self.purpose = session.purpose.clone();
        self.scopes = (!session.scopes.is_empty()).then(|| session.scopes.join(" "));
    }

    /// The stored row. Every text is made storable first (a caller's string may hold what no
    /// database text column takes), and the hash is over what is stored.
    fn model(&self, prev_hash: &str) -> audit_event::Model {
        let text = |v: &Option<String>| v.as_deref().map(storable);
        let mut m = audit_event::Model {
            seq: 0,
            id: uuid::Uuid::new_v4().to_string(),
            at: self.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            request_id: storable(&self.request_id),
            token_id: text(&self.token_id),
            subject: text(&self.subject),
            agency: text(&self.agency),
            role: text(&self.role),
            purpose: text(&self.purpose),
            operation_name: text(&self.operation_name),
            query_hash: self.query_hash.clone(),
            // JSON: serde_json escapes every control character; never cut (the person-access
            // report reads every id).
            fields_read: serde_json::to_string(&self.fields_read).unwrap_or_else(|_| "[]".into()),
            person_ids: serde_json::to_string(&self.person_ids).unwrap_or_else(|_| "[]".into()),
            row_count: self.row_count,
            outcome: self.outcome.as_str().to_owned(),
            duration_ms: self.duration_ms,
            via: text(&self.via),
            scopes: text(&self.scopes),
            reason: text(&self.reason),
            address: text(&self.address),
            refusals: self.refusals,
            fields_written: (!self.fields_written.is_empty())
                .then(|| serde_json::to_string(&self.fields_written).unwrap_or_default()),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        m.hash = event_hash(&m);
        m
    }
}

/// SHA-256 over the previous hash and every column but `seq` and `hash`, in a fixed order.
/// `via` and `scopes` join the list only when set, so events written before they existed keep
/// their hash.
pub fn event_hash(e: &audit_event::Model) -> String {
    let mut content = serde_json::json!([
        e.prev_hash,
        e.at,
        e.request_id,
        e.token_id,
        e.subject,
        e.agency,
        e.role,
        e.purpose,
        e.operation_name,
        e.query_hash,
        e.fields_read,
        e.person_ids,
        e.row_count,
        e.outcome,
        e.duration_ms,
    ]);
    if let Some(list) = content.as_array_mut() {
        if let Some(via) = &e.via {
            list.push(serde_json::json!({ "via": via }));
        }
        if let Some(scopes) = &e.scopes {
            list.push(serde_json::json!({ "scopes": scopes }));
        }
        if let Some(reason) = &e.reason {
            list.push(serde_json::json!({ "reason": reason }));
        }
        if let Some(address) = &e.address {
            list.push(serde_json::json!({ "address": address }));
        }
        if let Some(refusals) = e.refusals {
            list.push(serde_json::json!({ "refusals": refusals }));
        }
        if let Some(written) = &e.fields_written {
            list.push(serde_json::json!({ "fieldsWritten": written }));
        }
    }
    hex(&Sha256::digest(content.to_string().as_bytes()))
}

/// `text` as every database stores it: a NUL (which PostgreSQL's `text` cannot hold) becomes
/// the visible escape `\u0000`, and so does any other control character but tab and newline.
/// Longer texts are cut, so one caller cannot make an event arbitrarily large (texts only: the
/// lists of coordinates and person ids are JSON and kept whole).
pub fn storable(text: &str) -> String {
    const MAX_CHARS: usize = 4096;
    let mut out = String::with_capacity(text.len().min(MAX_CHARS));
    for (i, c) in text.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() && c != '\t' && c != '\n' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a GraphQL document with comments dropped and white space folded, so the same
/// operation hashes alike however it was laid out.
pub fn document_hash(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut chars = query.chars().peekable();
    let mut in_string = false;
    let mut pending_space = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '#' => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                pending_space = true;
            }
            c if c.is_whitespace() || c == ',' => pending_space = true,
            _ => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                if c == '"' {
                    in_string = true;
                }
                out.push(c);
            }
        }
    }
    hex(&Sha256::digest(out.as_bytes()))
}

#[derive(Debug, thiserror::Error)]
#[error("the audit log cannot be written: {0}")]
pub struct AuditError(pub String);

type Job = (AuditRecord, oneshot::Sender<Result<(), AuditError>>);

/// Handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    /// None: the log is switched off (`audit_log = false`, for benchmarks only).
    sender: Option<mpsc::Sender<Job>>,
}

impl AuditLog {
    /// Starts the writer task on the current runtime; it reports its commits to `metrics`.
    pub fn start(
        db: DatabaseConnection,
        metrics: std::sync::Arc<crate::telemetry::Metrics>,
    ) -> AuditLog {
        let (sender, receiver) = mpsc::channel::<Job>(16 * MAX_GROUP);
        // The writer is the one serial step every answer waits for (a group's round trips
        // one after another): it runs on a thread of its own, so under load it is woken by the
        // kernel as soon as PostgreSQL answers instead of queueing behind other tasks of the
        // runtime that started it.
        let started = std::thread::Builder::new()
            .name("pora-audit-writer".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(writer(db, receiver, metrics)),
                    Err(e) => tracing::error!(error = %e, "cannot start the audit writer"),
                }
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "cannot start the audit writer thread");
        }
        AuditLog {
            sender: Some(sender),
        }
    }

    /// Events waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.sender
            .as_ref()
            .map_or(0, |s| s.max_capacity() - s.capacity())
    }

    /// A log that records nothing: only for measuring what auditing costs.
    pub fn disabled() -> AuditLog {
        AuditLog { sender: None }
    }

    /// Appends `record`; returns once it is committed.
    pub async fn record(&self, record: AuditRecord) -> Result<(), AuditError> {
        let Some(sender) = &self.sender else {
            return Ok(());
        };
        let (done, wait) = oneshot::channel();
        sender
            .send((record, done))
            .await
            .map_err(|_| AuditError("writer stopped".into()))?;
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(AuditError("writer stopped".into())),
            Err(_) => Err(AuditError("timed out".into())),
        }
    }
}

async fn writer(
    db: DatabaseConnection,
    mut receiver: mpsc::Receiver<Job>,
    metrics: std::sync::Arc<crate::telemetry::Metrics>,
) {
    let committed = |n: usize, started: std::time::Instant| {
        metrics
            .histogram("pora_audit_commit_duration_seconds", &[])
            .record(started.elapsed().as_secs_f64());
        metrics
            .counter("pora_audit_events_total", &[])
            .increment(n as u64);
    };
    let failed = |n: usize| {
        metrics
            .counter("pora_audit_commit_failures_total", &[])
            .increment(n as u64);
    };
    while let Some(first) = receiver.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let records: Vec<&AuditRecord> = group.iter().map(|(r, _)| r).collect();
        let started = std::time::Instant::now();
        match append(&db, &records).await {
            Ok(()) => {
                committed(group.len(), started);
                for (_, done) in group {
                    let _ = done.send(Ok(()));
                }
            }
            // A database that cannot be reached fails every event alike: no retries one by one.
            Err(e) if group.len() == 1 || schema::error::is_unavailable(&e) => {
                tracing::error!(error = %e, events = group.len(), "audit log write failed");
                failed(group.len());
                for (_, done) in group {
                    let _ = done.send(Err(AuditError(e.to_string())));
                }
            }
            Err(e) => {
                // One event that cannot be stored must not fail the others of its group:
                // each is tried alone, and only the one that fails is refused.
                tracing::warn!(error = %e, events = records.len(), "audit group failed; appending one by one");
                for (record, done) in group {
                    let started = std::time::Instant::now();
                    let result = append(&db, &[&record]).await.map_err(|e| {
                        tracing::error!(error = %e, request_id = %record.request_id, "audit log write failed");
                        failed(1);
                        AuditError(e.to_string())
                    });
                    if result.is_ok() {
                        committed(1, started);
                    }
                    let _ = done.send(result);
                }
            }
        }
    }
}

async fn append(db: &DatabaseConnection, records: &[&AuditRecord]) -> Result<(), sea_orm::DbErr> {
    let txn = db.begin().await?;
    append_in(&txn, records).await?;
    txn.commit().await
}

/// Chains and inserts `records` in `txn`, holding the chain lock until `txn` ends.
pub async fn append_in(
    txn: &sea_orm::DatabaseTransaction,
    records: &[&AuditRecord],
) -> Result<(), sea_orm::DbErr> {
    let backend = txn.get_database_backend();
    // Take the chain lock before reading the head, so two writers never chain onto one hash.
    let lock = match backend {
        DbBackend::Postgres => format!("SELECT pg_advisory_xact_lock({CHAIN_LOCK})"),
        // A write statement takes SQLite's write lock at once (a read first could deadlock).
        _ => "UPDATE audit_events SET seq = seq WHERE 1 = 0".to_owned(),
    };
    txn.execute_raw(Statement::from_string(backend, lock))
        .await?;
    // Only the head's hash: the whole row would carry its person ids and fields across.
    let last: Option<String> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Hash)
        .order_by_desc(audit_event::Column::Seq)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
    let mut prev = last.unwrap_or_else(|| GENESIS.to_owned());
    let mut models = Vec::with_capacity(records.len());
    for record in records {
        let model = record.model(&prev);
        prev = model.hash.clone();
        models.push(model);
    }
    // One multi-row INSERT for the group (a round trip per event was most of a group's
    // statements). The database assigns `seq`: PostgreSQL and SQLite take a VALUES list's rows
    // in order, so `seq` follows the chain (`verify` walks it in `seq` order).
    let rows = models.into_iter().map(|model| {
        let mut active = audit_event::ActiveModel::from(model);
        active.seq = ActiveValue::NotSet;
        active
    });
    audit_event::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// A request's writes, audited in their own transactions: each event carries the request's
/// who (`template`) and the write's what.
pub struct TransactionalAudit {
    pub template: AuditRecord,
}

#[async_trait::async_trait]
impl schema::audit::WriteAudit for TransactionalAudit {
    async fn record(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        event: schema::audit::WriteEvent,
    ) -> Result<(), sea_orm::DbErr> {
        let mut record = self.template.clone();
        record.at = Utc::now();
        record.fields_written = event.fields;
        record.person_ids = event.person_id.into_iter().collect();
        record.row_count = 1;
        record.outcome = Outcome::Ok;
        append_in(txn, &[&record]).await
    }
}

/// Whether an audit event could be appended now: takes the chain's write lock in a
/// transaction that changes nothing and rolls back.
pub async fn probe_writable(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    let probe = "UPDATE audit_events SET seq = seq WHERE 1 = 0".to_owned();
    txn.execute_raw(Statement::from_string(backend, probe))
        .await?;
    txn.rollback().await
}

/// What `audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Intact { events: u64 },
    Broken { seq: i64, reason: String },
}

/// Walks the chain in `seq` order and reports the first event that does not fit.
pub async fn verify(db: &DatabaseConnection) -> Result<Verification, sea_orm::DbErr> {
    let mut prev = GENESIS.to_owned();
    let mut after = i64::MIN;
    let mut events = 0u64;
    loop {
        let page = audit_event::Entity::find()
            .filter(sea_orm::ColumnTrait::gt(&audit_event::Column::Seq, after))
            .order_by_asc(audit_event::Column::Seq)
            .limit(1000)
            .all(db)
            .await?;
        if page.is_empty() {
            return Ok(Verification::Intact { events });
        }
        for event in page {
            if event.prev_hash != prev {
                return Ok(Verification::Broken {
                    seq: event.seq,
                    reason: "its previous hash does not match the event before it: an event was deleted, inserted or altered before it".into(),
                });
            }
            if event_hash(&event) != event.hash {
                return Ok(Verification::Broken {
                    seq: event.seq,
                    reason: "its content does not match its hash: the event was altered".into(),
                });
            }
            prev = event.hash.clone();
            after = event.seq;
            events += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_does_not_change_the_document_hash() {
        let a = document_hash("{ persons(first: 2) { nodes { id } } }");
        let b = document_hash("# list\n{\n  persons(first: 2) {\n    nodes { id }\n  }\n}\n");
        assert_eq!(a, b);
        assert_ne!(a, document_hash("{ persons(first: 3) { nodes { id } } }"));
        assert_ne!(
            document_hash("{ a(s: \"x  y\") }"),
            document_hash("{ a(s: \"x y\") }")
        );
    }
}
