//! Shared rate counters in Redis (`rate_limit_store = "redis://…"`), for deployments that
//! would rather not write them into the database. The same sliding window as the database's
//! (`schema::rate`): one counter per (key, minute), expiring after two minutes, hashed keys.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use schema::rate::{CounterStore, Verdict, hashed_key, verdict, window_of};

pub struct RedisCounters {
    connection: ConnectionManager,
}

impl RedisCounters {
    /// Connects to `url` within `timeout`; every later command has the same timeout, so a
    /// Redis that goes away is an error, never a hang.
    pub async fn connect(url: &str, timeout: Duration) -> Result<RedisCounters, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(1);
        let connection =
            tokio::time::timeout(timeout, client.get_connection_manager_with_config(config))
                .await
                .map_err(|_| format!("timed out after {:.1} s", timeout.as_secs_f64()))?
                .map_err(|e| e.to_string())?;
        Ok(RedisCounters { connection })
    }
}

#[async_trait::async_trait]
impl CounterStore for RedisCounters {
    async fn hit(&self, scope: &str, key: &str, per_minute: u32) -> Result<Verdict, String> {
        let now = chrono::Utc::now().timestamp();
        let window = window_of(now);
        let base = format!("pora:rate:{}", hashed_key(scope, key));
        let current_key = format!("{base}:{window}");
        let previous_key = format!("{base}:{}", window - 60);
        let mut connection = self.connection.clone();
        let (current, previous): (i64, Option<i64>) = redis::pipe()
            .atomic()
            .incr(&current_key, 1)
            .expire(&current_key, 120)
            .ignore()
            .get(&previous_key)
            .query_async(&mut connection)
            .await
            .map_err(|e| e.to_string())?;
        Ok(verdict(now, previous.unwrap_or(0), current, per_minute))
    }
}
