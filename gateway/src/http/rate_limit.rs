//! Per-caller rate limits of ordinary requests: requests per minute and estimated cost per
//! minute, per caller (issuer and subject, so fresh tokens buy no fresh allowance), with
//! per-role overrides. GCRA from `governor`, kept in this process: a caller spread over N
//! replicas gets N allowances (see docs/limits.md). The limits that are security boundaries
//! (`verifyDocument`, refusals per address) are counted in the database instead
//! (`schema::rate`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::RateLimitConfig;

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// What a caller has left of a limit (the `RateLimit-*` headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    pub limit: u32,
    pub remaining: u32,
    /// Until the allowance is whole again.
    pub reset: Duration,
}

/// A refusal: which limit, and when to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: u32,
    pub retry_after: Duration,
    /// `requests` or `cost`.
    pub what: &'static str,
}

struct Limit {
    per_minute: u32,
    limiter: Limiter,
}

impl Limit {
    fn new(per_minute: u32) -> Option<Limit> {
        let n = NonZeroU32::new(per_minute)?;
        Some(Limit {
            per_minute,
            limiter: RateLimiter::keyed(Quota::per_minute(n)).with_middleware(),
        })
    }

    fn check(&self, key: &str, n: u32, what: &'static str) -> Result<Allowance, Exceeded> {
        let Some(n) = NonZeroU32::new(n) else {
            return Ok(Allowance {
                limit: self.per_minute,
                remaining: self.per_minute,
                reset: Duration::ZERO,
            });
        };
        let exceeded = |retry_after| Exceeded {
            limit: self.per_minute,
            retry_after,
            what,
        };
        let key = key.to_owned();
        match self.limiter.check_key_n(&key, n) {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity();
                let per_unit = Duration::from_secs(60) / self.per_minute;
                Ok(Allowance {
                    limit: self.per_minute,
                    remaining,
                    reset: per_unit * (self.per_minute - remaining),
                })
            }
            Ok(Err(not_until)) => Err(exceeded(
                not_until.wait_time_from(DefaultClock::default().now()),
            )),
            // More than a whole minute's allowance at once: never allowed.
            Err(_) => Err(exceeded(Duration::from_secs(60))),
        }
    }
}

struct Limits {
    requests: Option<Limit>,
    cost: Option<Limit>,
}

/// Refused requests per client address in this process: in front of the shared count in the
/// database, so an address that keeps sending bad tokens costs the database nothing more once
/// it is over its allowance here.
pub struct RefusalGate {
    limit: Option<Limit>,
}

impl RefusalGate {
    pub fn new(per_minute: u32) -> RefusalGate {
        RefusalGate {
            limit: Limit::new(per_minute),
        }
    }

    /// Counts one refusal of `address`; `Err` once it is over its minute here.
    pub fn count(&self, address: &str) -> Result<(), Exceeded> {
        match &self.limit {
            Some(limit) => limit.check(address, 1, "refused requests").map(|_| ()),
            None => Ok(()),
        }
    }

    pub fn sweep(&self) {
        if let Some(limit) = &self.limit {
            limit.limiter.retain_recent();
            limit.limiter.shrink_to_fit();
        }
    }
}

/// The key of a client address for per-address limits: an IPv4 address, or the /64 of an IPv6
/// one (a client holds a whole /64, so rotating within it must not buy a fresh allowance).
pub fn address_key(address: std::net::IpAddr) -> String {
    match address {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Every caller's request and cost limits in this process.
pub struct RateLimits {
    default: Limits,
    roles: HashMap<String, Limits>,
    pub refusals: RefusalGate,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Arc<RateLimits> {
        let roles = config
            .roles
            .iter()
            .map(|(role, own)| {
                (
                    role.clone(),
                    Limits {
                        requests: Limit::new(
                            own.requests_per_minute
                                .unwrap_or(config.requests_per_minute),
                        ),
                        cost: Limit::new(own.cost_per_minute.unwrap_or(config.cost_per_minute)),
                    },
                )
            })
            .collect();
        Arc::new(RateLimits {
            default: Limits {
                requests: Limit::new(config.requests_per_minute),
                cost: Limit::new(config.cost_per_minute),
            },
            roles,
            refusals: RefusalGate::new(config.refusals_per_minute),
        })
    }

    fn of(&self, role: &str) -> &Limits {
        self.roles.get(role).unwrap_or(&self.default)
    }

    /// Counts one request of `caller` (of `role`).
    pub fn request(&self, role: &str, caller: &str) -> Result<Option<Allowance>, Exceeded> {
        self.of(role)
            .requests
            .as_ref()
            .map(|l| l.check(caller, 1, "requests"))
            .transpose()
    }

    /// Spends `cost` of `caller`'s cost budget.
    pub fn cost(&self, role: &str, caller: &str, cost: u64) -> Result<(), Exceeded> {
        match &self.of(role).cost {
            Some(limit) => limit
                .check(caller, u32::try_from(cost).unwrap_or(u32::MAX), "cost")
                .map(|_| ()),
            None => Ok(()),
        }
    }

    /// Forgets callers whose allowance is whole again, so the state stays bounded by the
    /// callers of the last minute.
    pub fn start_sweeper(self: &Arc<Self>) {
        let limits = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(limits) = limits.upgrade() else {
                    return;
                };
                limits.refusals.sweep();
                for l in std::iter::once(&limits.default).chain(limits.roles.values()) {
                    for limit in [&l.requests, &l.cost].into_iter().flatten() {
                        limit.limiter.retain_recent();
                        limit.limiter.shrink_to_fit();
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_past_its_minute_is_told_when_to_return() {
        let limits = RateLimits::new(&RateLimitConfig {
            requests_per_minute: 3,
            ..RateLimitConfig::default()
        });
        for left in [2, 1, 0] {
            let allowance = limits
                .request("police", "a")
                .expect("allowed")
                .expect("limited");
            assert_eq!(allowance.remaining, left);
        }
        let refused = limits
            .request("police", "a")
            .expect_err("fourth is refused");
        assert_eq!(refused.limit, 3);
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(20)
        );
        // Another caller is untouched.
        assert!(limits.request("police", "b").is_ok());
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: std::net::IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: std::net::IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let v4: std::net::IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(address_key(v4), "10.0.0.1");
    }
}
