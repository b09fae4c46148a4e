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

/// Counts one hit of `key` in `scope` and says whether it is within `per_minute`.
pub async fn hit(
    db: &impl ConnectionTrait,
    scope: &str,
    key: &str,
    per_minute: u32,
) -> Result<Verdict, DbErr> {
    let now = chrono::Utc::now().timestamp();
    let window = now - now.rem_euclid(60);
    let digest = Sha256::digest(key.as_bytes());
    let hashed = format!(
        "{scope}:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
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
    let elapsed = (now - window) as f64 / 60.0;
    let estimate = previous as f64 * (1.0 - elapsed) + current as f64;
    let limit = f64::from(per_minute);
    Ok(if estimate > limit {
        Verdict::Limited {
            retry_after: Duration::from_secs((60 - (now - window)).clamp(1, 60) as u64),
        }
    } else {
        Verdict::Allowed {
            remaining: (limit - estimate).floor() as u32,
        }
    })
}
