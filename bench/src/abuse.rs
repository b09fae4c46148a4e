//! `pora-abuse`: heavy callers beside a light one, against a real `pora-gateway` process.
//!
//! Starts the given gateway binary (`serve`, embedded SQLite with the demo data, or
//! `--database-url`) in a temporary data folder, mints tokens with its `token dev`, then for
//! `--duration-secs` runs `--heavy` concurrent heavy callers (each its own subject, so per-caller
//! limits do not hide the cost) sending, in turn, the amplification requests of issue 9 and the
//! heaviest operation the default limits allow, beside one light caller asking a small page.
//! Prints the light caller's p50/p99, the heavy callers' answers by status and code, and the
//! gateway process's idle, peak (`VmHWM`) and after-load (`VmRSS` 10, 30 and 60 s later) memory.
//!
//! Works against older gateways too (only `/healthz`, `serve` and `token dev` are needed), so
//! one binary measures before and after: `--gateway path/to/old/pora-gateway`.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser, Debug)]
struct Args {
    /// The gateway binary to measure.
    #[arg(long, default_value = "target/release/pora-gateway")]
    gateway: String,
    /// Measured seconds.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Concurrent heavy callers.
    #[arg(long, default_value_t = 64)]
    heavy: usize,
    /// A PostgreSQL URL for the gateway (default: its embedded SQLite with demo data).
    #[arg(long)]
    database_url: Option<String>,
    /// A command run with the gateway's pid and the moment (`idle`, `60s-after`) as its
    /// arguments, waited for before the measurement goes on: e.g. a script that has gdb call
    /// `_rjem_malloc_stats_print` in a gateway built with jemalloc's `stats` feature.
    #[arg(long)]
    probe: Option<String>,
}

/// Runs `--probe` at one moment, if one was given.
fn probe(args: &Args, pid: u32, moment: &str) {
    if let Some(command) = &args.probe
        && let Err(e) = std::process::Command::new(command)
            .args([pid.to_string(), moment.to_owned()])
            .status()
    {
        eprintln!("probe {command}: {e}");
    }
}

/// The requests heavy callers send, in turn.
fn heavy_bodies() -> Vec<(&'static str, Value)> {
    let representations: Vec<Value> = (0..1000)
        .map(|i| json!({"__typename": "Person", "id": format!("p{i}")}))
        .collect();
    let entities: String = (0..100)
        .map(|i| format!("e{i}: _entities(representations: $r) {{ ... on Person {{ id }} }} "))
        .collect();
    let counts: String = (0..900)
        .map(|i| format!("c{i}: incidents {{ totalCount }} "))
        .collect();
    vec![
        (
            "entities-100x1000",
            json!({"query": format!("query($r: [_Any!]!) {{ {entities} }}"), "variables": {"r": representations}}),
        ),
        (
            "persons-500-nested",
            json!({"query": "{ persons(first: 500) { nodes { id fullName placements { id kind shelter { name placements { id } } } case { members { id fullName } } } } }"}),
        ),
        ("counts-900", json!({"query": format!("{{ {counts} }}")})),
        // The heaviest shape the default limits let through (cost 26,001 of 50,000).
        (
            "heaviest-allowed",
            json!({"query": "{ persons(first: 500) { nodes { id fullName nationality sex dateOfBirth residenceRegion case { id members { id fullName } } } } }"}),
        ),
    ]
}

const LIGHT: &str = "{ persons(first: 5) { nodes { id fullName } } }";

fn free_port() -> Result<u16, BoxError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `VmRSS` and `VmHWM` of a process, in MiB.
fn memory(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Where a process's resident memory is: anonymous (heap, stacks) and file-backed (the
/// binary's pages), in MiB, and its thread count.
fn breakdown(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().trim_end_matches("kB").trim().to_owned())
            .unwrap_or_default()
    };
    let mib = |name: &str| {
        field(name)
            .parse::<f64>()
            .map(|k| k / 1024.0)
            .unwrap_or(f64::NAN)
    };
    format!(
        "anonymous {:.1} MiB, file {:.1} MiB, {} threads",
        mib("RssAnon:"),
        mib("RssFile:"),
        field("Threads:")
    )
}

fn token(
    args: &Args,
    data_dir: &std::path::Path,
    role: &str,
    subject: &str,
) -> Result<String, BoxError> {
    let out = std::process::Command::new(&args.gateway)
        .args([
            "token",
            "dev",
            "--role",
            role,
            "--subject",
            subject,
            "--jurisdiction",
            "31",
        ])
        .env("PORA_DATA_DIR", data_dir)
        .envs(args.database_url.iter().map(|u| ("PORA_DATABASE_URL", u)))
        .output()?;
    if !out.status.success() {
        return Err(format!("token dev: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let text = String::from_utf8(out.stdout)?;
    text.split_whitespace()
        .find(|w| w.starts_with("ey") && w.matches('.').count() == 2)
        .map(str::to_owned)
        .ok_or_else(|| format!("no token in: {text}").into())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let data = tempfile::tempdir()?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(&args.gateway)
        .arg("serve")
        .env("PORA_DATA_DIR", data.path())
        .env("PORA_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORA_DEMO_DATA", "true")
        .env("PORA_LOG", "error")
        .envs(args.database_url.iter().map(|u| ("PORA_DATABASE_URL", u)))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("no pid")?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the gateway did not become healthy within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let light_token = token(&args, data.path(), "immigration", "light-caller")?;
    let heavy_tokens: Vec<String> = (0..args.heavy)
        .map(|i| token(&args, data.path(), "immigration", &format!("heavy-{i}")))
        .collect::<Result<_, _>>()?;
    // Warm up (concurrently, so the whole connection pool opens), then the idle figure.
    for _ in 0..5 {
        let round: Vec<_> = (0..16)
            .map(|_| {
                client
                    .post(format!("{base}/graphql"))
                    .bearer_auth(&light_token)
                    .json(&json!({ "query": LIGHT }))
                    .send()
            })
            .collect();
        for r in futures::future::join_all(round).await {
            r?;
        }
    }
    // Each heavy shape once, so one-time allocations (caches, lazily built state) are in the
    // idle figure rather than counted as kept from the load.
    for (_, body) in heavy_bodies() {
        client
            .post(format!("{base}/graphql"))
            .bearer_auth(&light_token)
            .json(&body)
            .send()
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle, _) = memory(pid).ok_or("cannot read the gateway's memory")?;
    let idle_breakdown = breakdown(pid);
    probe(&args, pid, "idle");

    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let answers: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let bodies = Arc::new(heavy_bodies());
    let mut tasks = Vec::new();
    for (i, token) in heavy_tokens.into_iter().enumerate() {
        let (client, base, answers, bodies) = (
            reqwest::Client::new(),
            base.clone(),
            answers.clone(),
            bodies.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = i;
            while Instant::now() < deadline {
                let (name, body) = &bodies[n % bodies.len()];
                n += 1;
                let key = match client
                    .post(format!("{base}/graphql"))
                    .bearer_auth(&token)
                    .json(body)
                    .timeout(Duration::from_secs(60))
                    .send()
                    .await
                {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        let code = body["errors"][0]["extensions"]["code"]
                            .as_str()
                            .unwrap_or("-")
                            .to_owned();
                        format!("{name}: {status} {code}")
                    }
                    Err(e) => format!(
                        "{name}: transport error ({})",
                        if e.is_timeout() { "timeout" } else { "other" }
                    ),
                };
                *answers.lock().expect("lock").entry(key).or_default() += 1;
            }
        }));
    }
    let peak = Arc::new(Mutex::new(idle));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                if let Some((rss, _)) = memory(pid) {
                    let mut p = peak.lock().expect("lock");
                    *p = p.max(rss);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut light = Vec::new();
    let mut light_errors = 0u64;
    while Instant::now() < deadline {
        let t = Instant::now();
        let ok = client
            .post(format!("{base}/graphql"))
            .bearer_auth(&light_token)
            .json(&json!({ "query": LIGHT }))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        light.push(t.elapsed());
        if !ok {
            light_errors += 1;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let _ = sampler.await;
    let hwm = memory(pid).map(|(_, h)| h).unwrap_or(f64::NAN);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = memory(pid).map(|(r, _)| r).unwrap_or(f64::NAN);
    let after_breakdown = breakdown(pid);
    // Idle database connections close after 10 s, and with them their grown buffers.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let later = memory(pid).map(|(r, _)| r).unwrap_or(f64::NAN);
    let later_breakdown = breakdown(pid);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let settled = memory(pid).map(|(r, _)| r).unwrap_or(f64::NAN);
    let settled_breakdown = breakdown(pid);
    probe(&args, pid, "60s-after");
    light.sort();
    println!("gateway: {}", args.gateway);
    println!(
        "light caller: {} requests, {} failed, p50 {:.1} ms, p99 {:.1} ms",
        light.len(),
        light_errors,
        percentile(&light, 0.5),
        percentile(&light, 0.99)
    );
    println!("heavy callers ({}), answers:", args.heavy);
    for (key, n) in answers.lock().expect("lock").iter() {
        println!("  {key}: {n}");
    }
    println!(
        "memory: idle {idle:.0} MiB, peak {:.0} MiB (sampled {:.0}), 10 s after load {after:.0} MiB, 30 s after {later:.0} MiB ({:+.0} % of idle), 60 s after {settled:.0} MiB ({:+.0} %)",
        hwm,
        *peak.lock().expect("lock"),
        (later / idle - 1.0) * 100.0,
        (settled / idle - 1.0) * 100.0
    );
    println!("  idle: {idle_breakdown}");
    println!("  10 s after: {after_breakdown}");
    println!("  30 s after: {later_breakdown}");
    println!("  60 s after: {settled_breakdown}");
    // A graceful stop, so an allocator asked to report at exit (e.g.
    // `_RJEM_MALLOC_CONF=stats_print:true`) can.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    Ok(())
}
