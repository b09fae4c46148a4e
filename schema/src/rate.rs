//! Rate limits that are security boundaries, counted in the database so that every gateway
//! process sharing it counts into the same allowance (a second replica hands out no fresh one).
//!
//! A sliding window over two fixed one-minute windows (the estimate weighs the previous minute
//! by how much of it still overlaps the last 60 s), in `rate_counters`. Keys are hashed, so
//! the table holds no subject or address in clear.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbErr};
use sha2::{Digest, Sha256};

use crate::sql::Sql;

/// What a hit found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed {
        remaining: u32,
    },
    /// Over the limit: try again after this long.
    Limited {
        retry_after: Duration,
    },
}

/// Where shared counters live: the database (default) or a Redis server
/// (`rate_limit_store`). Either way every gateway process sharing it counts into one allowance.
#[async_trait::async_trait]
pub trait CounterStore: Send + Sync {
    /// Counts one hit of `key` in `scope` and says whether it is within `per_minute`.
    async fn hit(&self, scope: &str, key: &str, per_minute: u32) -> Result<Verdict, String>;
}

/// Counters in the database's `rate_counters` table.
pub struct DatabaseCounters(pub sea_orm::DatabaseConnection);

#[async_trait::async_trait]
impl CounterStore for DatabaseCounters {
    async fn hit(&self, scope: &str, key: &str, per_minute: u32) -> Result<Verdict, String> {
        hit(&self.0, scope, key, per_minute)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The stored key of `key` in `scope`: hashed, so no store holds a subject or address in clear.
pub fn hashed_key(scope: &str, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{scope}:{hex}")
}

/// The start of the minute `now` (Unix seconds) falls in.
pub fn window_of(now: i64) -> i64 {
    now - now.rem_euclid(60)
}

/// The sliding-window verdict from this minute's and the previous minute's hits.
pub fn verdict(now: i64, previous: i64, current: i64, per_minute: u32) -> Verdict {
    let window = window_of(now);
    let elapsed = (now - window) as f64 / 60.0;
    let estimate = previous as f64 * (1.0 - elapsed) + current as f64;
    let limit = f64::from(per_minute);
    if estimate > limit {
        Verdict::Limited {
            retry_after: Duration::from_secs((60 - (now - window)).clamp(1, 60) as u64),
        }
    } else {
        Verdict::Allowed {
            remaining: (limit - estimate).floor() as u32,
        }
    }
}

/// Counts one hit of `key` in `scope` in the database and says whether it is within
/// `per_minute`.
pub async fn hit(
    db: &impl ConnectionTrait,
    scope: &str,
    key: &str,
    per_minute: u32,
) -> Result<Verdict, DbErr> {
    let now = chrono::Utc::now().timestamp();
    let window = window_of(now);
    let hashed = hashed_key(scope, key);
    let backend = db.get_database_backend();
    let mut upsert = Sql::new("INSERT INTO rate_counters (key, window_start, hits) VALUES (");
    upsert.bind(hashed.clone()).push(", ").bind(window).push(
        ", 1) ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_counters.hits + 1 \
             RETURNING hits",
    );
    let current: i64 = match db.query_one_raw(upsert.statement(backend)).await? {
        Some(row) => row.try_get_by("hits")?,
        None => 1,
    };
    if current == 1 {
        // A new minute for this key: forget every window that no estimate reads any more.
        let mut sweep = Sql::new("DELETE FROM rate_counters WHERE window_start < ");
        sweep.bind(window - 60);
        db.execute_raw(sweep.statement(backend)).await?;
    }
    let mut previous = Sql::new("SELECT hits FROM rate_counters WHERE key = ");
    previous
        .bind(hashed)
        .push(" AND window_start = ")
        .bind(window - 60);
    let previous: i64 = match db.query_one_raw(previous.statement(backend)).await? {
        Some(row) => row.try_get_by("hits")?,
        None => 0,
    };
    Ok(verdict(now, previous, current, per_minute))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_minute_weighs_by_its_overlap() {
        // 30 s into a minute: half of the previous minute's 10 hits still count.
        let now = 1_800_000_030;
        assert_eq!(verdict(now, 10, 5, 10), Verdict::Allowed { remaining: 0 });
        assert_eq!(
            verdict(now, 10, 6, 10),
            Verdict::Limited {
                retry_after: Duration::from_secs(30)
            }
        );
        assert_eq!(verdict(now, 0, 1, 10), Verdict::Allowed { remaining: 9 });
    }
}
