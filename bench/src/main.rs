//! `pora-bench`: a load benchmark of the PORA Gateway at national scale on PostgreSQL.
//!
//! Creates a fresh database `pora_bench` on the given server, starts the gateway on it in this
//! process (demo data on: migrations plus the ~350-person demo set), bulk-inserts `--persons`
//! synthetic persons across DKI Jakarta with their cases, registrations, immigration records,
//! open placements and ten monthly reports each, then drives two read scenarios (`immigration`
//! and `iom`) over loopback HTTP and prints comparable figures. See `bench/README.md`.

// The allocator the gateway ships with, so the in-process gateway is measured as it runs.
gateway::use_jemalloc!();

use std::error::Error;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use clap::Parser;
use entities::{
    agency, case, immigration_record, monthly_report, person, placement, shelter,
    unhcr_registration,
};
use gateway::auth::{Authenticator, SigningKeys};
use gateway::{Application, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};

mod capture;
mod peer;
mod replay;

type BoxError = Box<dyn Error + Send + Sync>;

/// Name of the database the benchmark creates (and drops) on the server.
const BENCH_DATABASE: &str = "pora_bench";
/// Rows per multi-row `INSERT` (persons have 20 columns: 20,000 bind parameters, well under
/// PostgreSQL's 65,535).
const CHUNK_ROWS: usize = 1000;
/// Persons generated and inserted per transaction.
const BATCH_PERSONS: usize = 2000;
/// Connections inserting batches side by side.
const SEED_WORKERS: usize = 2;
/// Monthly reports per person.
const REPORTS_PER_PERSON: u32 = 10;
const WARM_UP: Duration = Duration::from_secs(2);

#[derive(Parser, Debug)]
#[command(
    name = "pora-bench",
    about = "Load benchmark of the PORA Gateway on PostgreSQL"
)]
struct Args {
    /// PostgreSQL server URL (any existing database on it); the benchmark creates `pora_bench`.
    #[arg(
        long,
        env = "PORA_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    database_url: String,
    /// Synthetic persons to insert on top of the demo data.
    #[arg(long, default_value_t = 100_000)]
    persons: usize,
    /// Measured seconds per scenario (after a 2-second warm-up).
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Concurrent HTTP clients per scenario.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// `first:` of the persons query.
    #[arg(long, default_value_t = 20)]
    page_size: u32,
    /// Keep `pora_bench` and skip seeding if it already holds at least `--persons` persons.
    #[arg(long)]
    reuse: bool,
    /// Interleaved rounds per shape; the figures printed are the medians.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Measure the gateway alone, without PostGraphile v5 beside it.
    #[arg(long)]
    no_postgraphile: bool,
    /// Skip the bare-SQL replay (pgbench running the statements the gateway sent).
    #[arg(long)]
    no_bare_sql: bool,
    /// The scale curve instead of the comparison: for each size (persons, comma-separated, e.g.
    /// `10000,100000,1000000`), a database `pora_bench_<N>` (reused when it holds N persons plus
    /// the demo set, seeded otherwise) and a gateway on it, every shape on each.
    #[arg(long, value_delimiter = ',')]
    scale: Vec<usize>,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if args.concurrency == 0 || args.page_size == 0 || args.rounds == 0 {
        return Err("--concurrency, --page-size and --rounds must be at least 1".into());
    }
    if !args.scale.is_empty() {
        return scale_curve(&args).await;
    }
    let bench_url = bench_database_url(&args.database_url, BENCH_DATABASE)?;

    let reused = args.reuse && existing_persons(&bench_url).await >= Some(args.persons as u64);
    if reused {
        println!(
            "reusing database {BENCH_DATABASE} (already holds >= {} persons)",
            args.persons
        );
    } else {
        recreate_database(&args.database_url, BENCH_DATABASE).await?;
        println!("created database {BENCH_DATABASE}");
    }

    // The gateway, in this process: migrations and the demo set run in `build`.
    let temp = tempfile::tempdir()?;
    let config = gateway_config(temp.path(), Some(bench_url.clone()))?;
    let started = Instant::now();
    let app = Application::build(config.clone()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    println!(
        "gateway listening on {base} (started with demo data in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let db = Database::connect(&bench_url).await?;
    if !reused {
        seed_national(&db, args.persons).await?;
    }
    let total_persons = person::Entity::find().count(&db).await?;
    println!("persons in database: {total_persons}");

    let keys = SigningKeys::load_or_generate(&config.data_dir)?;
    let roles = schema::Policy::builtin()?.roles.into_keys().collect();
    let auth = Authenticator::new(keys, &config.issuer, &config.audience, roles);

    let page = args.page_size;
    let shapes = shapes(page);
    // The cost of the audit log: a second gateway on the same database with the audit log
    // switched off gets the bench shape too; the audited run is the baseline.
    let unaudited = Application::build(Config {
        audit_log: false,
        demo_data: Some(false),
        ..config.clone()
    })
    .await?;
    let base_off = format!("http://127.0.0.1:{}", unaudited.port());
    tokio::spawn(unaudited.run_until_stopped());
    // The bare-SQL replay's capture: two more gateways (audit log on, off) whose pool goes
    // through a recording proxy (bench/src/capture.rs); only their captured requests use them.
    let proxy = if args.no_bare_sql {
        None
    } else {
        let proxy = capture::Proxy::start(server_address(&bench_url)?).await?;
        let proxied = proxied_url(&bench_url, proxy.port)?;
        let mut bases = Vec::new();
        for audit_log in [true, false] {
            let app = Application::build(Config {
                audit_log,
                demo_data: Some(false),
                database_url: Some(proxied.clone()),
                ..config.clone()
            })
            .await?;
            bases.push(format!("http://127.0.0.1:{}", app.port()));
            tokio::spawn(app.run_until_stopped());
        }
        Some((proxy, bases))
    };
    let peer = if args.no_postgraphile {
        None
    } else {
        let peer = peer::PostGraphile::start(&bench_url, config.max_connections).await?;
        println!("postgraphile-v5 listening on {}", peer.url);
        Some(peer)
    };
    let token = |role: &str, agency: &str, jurisdiction: &str| {
        auth.issue(
            role,
            agency,
            jurisdiction,
            &format!("bench-{role}"),
            chrono::Duration::hours(1),
        )
    };
    let immigration = token("immigration", "KANIM-JKP", "31")?;
    let immigration_city = token("immigration", "KANIM-JKP", "31.71")?;
    let iom = token("iom", "IOM-JKT", "31")?;
    let duration = Duration::from_secs(args.duration_secs);
    println!(
        "load: {} clients, {} s warm-up + {} s measured per run, page size {page}, {} round(s), gateway and postgraphile-v5 interleaved",
        args.concurrency,
        WARM_UP.as_secs(),
        args.duration_secs,
        args.rounds
    );
    let load = Load {
        page,
        duration,
        concurrency: args.concurrency,
    };
    // Capture each shape's statements (audited gateway) and the bench shape's without the
    // audit log; write them as pgbench scripts.
    let replay_dir = std::env::temp_dir().join("pora-bench-replay");
    let mut scripts: Vec<(String, std::path::PathBuf, replay::Script)> = Vec::new();
    if let Some((proxy, bases)) = &proxy {
        let mut captures: Vec<(String, &str, &str)> = shapes
            .iter()
            .map(|(name, query, _)| (name.to_string(), bases[0].as_str(), query.as_str()))
            .collect();
        captures.push((
            "bench audit-off".to_owned(),
            bases[1].as_str(),
            shapes[0].1.as_str(),
        ));
        for (name, base, query) in captures {
            let statements = capture_request(proxy, base, &immigration, query).await?;
            let script = replay::script(&format!("shape {name}"), &statements)?;
            let path = replay::write(
                &replay_dir,
                &name.replace(' ', "-"),
                &script,
                &bench_url,
                args.concurrency,
                duration,
            )?;
            let audit = statements
                .iter()
                .filter(|s| replay::is_audit(&s.sql))
                .count();
            println!(
                "  bare-sql {name}: captured {} statements ({audit} of the audit log) over {} \
                 connection(s), replayed from {}",
                script.statements,
                script.connections,
                path.display()
            );
            scripts.push((name, path, script));
        }
    }
    let bare = |name: &str| scripts.iter().find(|(n, _, _)| n == name);
    let mut bare_rates: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut runs: std::collections::BTreeMap<String, Vec<Run>> = Default::default();
    let mut record = |key: &str, run: Run| runs.entry(key.to_owned()).or_default().push(run);
    for round in 0..args.rounds {
        for (name, query, peer_query) in &shapes {
            let gateway = load.run(&base, Some(&base), &immigration, query).await?;
            if round == 0 {
                println!(
                    "  {name}: gateway {} persons per page, {:.2} SQL statements per request",
                    gateway.nodes_per_page, gateway.statements_per_request
                );
            }
            record(&format!("gateway {name}"), gateway);
            if let Some((_, path, script)) = bare(name) {
                let tps = bare_sql(&bench_url, path, script, &load).await?;
                bare_rates.entry(name.to_string()).or_default().push(tps);
            }
            if let Some(peer) = &peer {
                let text = peer::query(peer_query)?.replacen(
                    "allPeople(first: 20)",
                    &format!("allPeople(first: {page})"),
                    1,
                );
                let run = load.run_cpu(&peer.url, None, "", &text, peer.pid()).await?;
                record(&format!("postgraphile {name}"), run);
            }
        }
        let bench_query = &shapes[0].1;
        record(
            "gateway bench immigration-31.71",
            load.run(&base, Some(&base), &immigration_city, bench_query)
                .await?,
        );
        record(
            "gateway bench iom",
            load.run(&base, Some(&base), &iom, bench_query).await?,
        );
        record(
            "gateway bench audit-off",
            load.run(&base_off, Some(&base_off), &immigration, bench_query)
                .await?,
        );
        if let Some((name, path, script)) = bare("bench audit-off") {
            let tps = bare_sql(&bench_url, path, script, &load).await?;
            bare_rates.entry(name.clone()).or_default().push(tps);
        }
    }
    let median = |key: &str| runs.get(key).map(|r| Run::median(r));
    println!("results (medians of {} round(s)):", args.rounds);
    for (name, _, _) in &shapes {
        let gateway = median(&format!("gateway {name}")).ok_or("no gateway run")?;
        match median(&format!("postgraphile {name}")) {
            Some(peer) => println!(
                "shape {name}: gateway {:.0} req/s p99 {:.1} ms, postgraphile-v5 {:.0} req/s p99 {:.1} ms, ratio {:.2}",
                gateway.rate,
                gateway.p99_ms,
                peer.rate,
                peer.p99_ms,
                gateway.rate / peer.rate.max(1e-9)
            ),
            None => println!(
                "shape {name}: gateway {:.0} req/s p99 {:.1} ms",
                gateway.rate, gateway.p99_ms
            ),
        }
    }
    for (name, rates) in &bare_rates {
        let mut rates = rates.clone();
        rates.sort_by(f64::total_cmp);
        let tps = rates[rates.len() / 2];
        let gateway = median(&format!("gateway {name}")).ok_or("no gateway run")?;
        let statements = bare(name).map_or(0, |(_, _, s)| s.statements);
        println!(
            "bare-sql {name}: pgbench {tps:.0} tx/s, gateway {:.0} req/s, gateway/bare {:.2} \
             ({statements} statements per request, c={}, -M prepared{})",
            gateway.rate,
            gateway.rate / tps.max(1e-9),
            args.concurrency,
            if name.ends_with("audit-off") {
                ""
            } else {
                "; the replay appends one audit event per transaction, the gateway groups \
                 concurrent requests' events in one"
            }
        );
    }
    let unfiltered = median("gateway bench").ok_or("no gateway run")?;
    let peer_bench = median("postgraphile bench");
    for (label, key) in [
        ("immigration 31.71", "gateway bench immigration-31.71"),
        ("iom", "gateway bench iom"),
    ] {
        let filtered = median(key).ok_or("no filtered run")?;
        let against_peer = peer_bench.as_ref().map_or(String::new(), |p| {
            format!(
                ", ratio {:.2} to postgraphile-v5 (which has no row filter)",
                filtered.rate / p.rate.max(1e-9)
            )
        });
        println!(
            "shape bench, filtered ({label}): gateway {:.0} req/s p99 {:.1} ms, {:.0} % of the unfiltered role{against_peer}",
            filtered.rate,
            filtered.p99_ms,
            100.0 * filtered.rate / unfiltered.rate.max(1e-9)
        );
    }
    let off = median("gateway bench audit-off").ok_or("no audit-off run")?;
    println!(
        "audit log (bench shape): on {:.0} req/s, off {:.0} req/s, overhead {:.1} %",
        unfiltered.rate,
        off.rate,
        100.0 * (1.0 - unfiltered.rate / off.rate.max(1e-9))
    );
    // The gateway shares this process with the load clients: their cost per request is what
    // this process spends while PostGraphile serves (the clients alone), subtracted.
    if let (Some(g), Some(p)) = (unfiltered.own_cpu_ms, peer_bench.as_ref()) {
        let clients = p.own_cpu_ms.unwrap_or(0.0);
        println!(
            "CPU per request (bench shape): gateway {:.3} ms (this process {g:.3} ms minus its load clients {clients:.3} ms), postgraphile-v5 {:.3} ms (its node process)",
            (g - clients).max(0.0),
            p.server_cpu_ms.unwrap_or(f64::NAN)
        );
    }

    match peak_rss_kib() {
        Some(kib) => println!(
            "peak resident memory (VmHWM, bench process incl. the in-process gateway, seeding and \
             clients): {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("peak resident memory: unavailable (/proc/self/status not readable)"),
    }
    drop(temp);
    Ok(())
}

/// The shapes of bench/README.md: (name, gateway query, PostGraphile query file). IOM reads
/// every field of them too (policy.toml), so the filtered roles send the same queries; only the
/// row rules differ.
fn shapes(page: u32) -> Vec<(&'static str, String, &'static str)> {
    let gateway_query = |placement: &str| {
        format!(
            "{{ persons(first: {page}) {{ nodes {{ id fullName registration {{ legalStatus documentValid }} \
             currentPlacement {{ kind{placement} }} }} }} }}"
        )
    };
    vec![
        (
            "bench",
            gateway_query(" shelter { name occupancy }"),
            "a-bench",
        ),
        (
            "shelter-name",
            gateway_query(" shelter { name }"),
            "b-no-occupancy",
        ),
        ("no-shelter", gateway_query(""), "c-no-shelter"),
    ]
}

/// `host:port` of a PostgreSQL URL (port 5432 when it names none).
fn server_address(url: &str) -> Result<String, BoxError> {
    let rest = url.split_once("://").map(|(_, r)| r).ok_or("not a URL")?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return Err("the database URL names no host".into());
    }
    Ok(if host.contains(':') && !host.ends_with(']') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    })
}

/// The URL with its host and port replaced by the capture proxy's, TLS off (the proxy reads
/// the plain protocol).
fn proxied_url(url: &str, port: u16) -> Result<String, BoxError> {
    let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let user = authority
        .rsplit_once('@')
        .map_or(String::new(), |(u, _)| format!("{u}@"));
    let separator = if tail.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{scheme}://{user}127.0.0.1:{port}{tail}{separator}sslmode=disable"
    ))
}

/// The statements of one request of `query` to the gateway at `base`, as the proxy saw them.
/// One request is sent first (connections and prepared statements warm, as under load), then
/// five are recorded one at a time; the statement list most of them sent is kept (a cache
/// refresh, e.g. of the agency cut-offs, that one of them triggers is not part of every
/// request), and a note says when they differ.
async fn capture_request(
    proxy: &capture::Proxy,
    base: &str,
    token: &str,
    query: &str,
) -> Result<Vec<capture::Statement>, BoxError> {
    let client = reqwest::Client::new();
    let url = format!("{base}/graphql");
    let body = json!({ "query": query });
    send(&client, &url, token, &body)
        .await
        .ok_or("capture: the query fails")?;
    let mut captured: Vec<Vec<capture::Statement>> = Vec::new();
    for _ in 0..5 {
        proxy.record();
        let answered = send(&client, &url, token, &body).await;
        // The response waits for the audit commit; a little more for anything trailing.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let statements = proxy.stop()?;
        answered.ok_or("capture: the query fails")?;
        captured.push(statements);
    }
    let texts = |s: &[capture::Statement]| s.iter().map(|s| s.sql.clone()).collect::<Vec<_>>();
    let same = |a: &[capture::Statement]| captured.iter().filter(|b| texts(b) == texts(a)).count();
    let counts: Vec<usize> = captured.iter().map(Vec::len).collect();
    let kept = captured
        .iter()
        .max_by_key(|c| (same(c), std::cmp::Reverse(c.len())))
        .cloned()
        .ok_or("nothing captured")?;
    if same(&kept) < captured.len() {
        println!(
            "note: five captured requests sent {counts:?} statements; kept the {} sent by {} of them",
            kept.len(),
            same(&kept)
        );
    }
    Ok(kept)
}

/// A 2-second pgbench warm-up, then the measured run; its tx/s.
async fn bare_sql(
    database_url: &str,
    path: &std::path::Path,
    script: &replay::Script,
    load: &Load,
) -> Result<f64, BoxError> {
    replay::pgbench(database_url, path, script, load.concurrency, WARM_UP).await?;
    replay::pgbench(database_url, path, script, load.concurrency, load.duration).await
}

/// `--scale`: each shape on a gateway per database size.
async fn scale_curve(args: &Args) -> Result<(), BoxError> {
    let temp = tempfile::tempdir()?;
    let mut sizes = args.scale.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let mut config = gateway_config(temp.path(), None)?;
    // (size, gateway base URL, persons, lookup id)
    let mut targets = Vec::new();
    for &n in &sizes {
        let name = format!("{BENCH_DATABASE}_{n}");
        let url = bench_database_url(&args.database_url, &name)?;
        // The demo set adds a few hundred persons.
        let existing = existing_persons(&url).await;
        let reused = existing.is_some_and(|c| c >= n as u64 && c < n as u64 + 2_000);
        if reused {
            println!(
                "reusing database {name} ({} persons)",
                existing.unwrap_or(0)
            );
        } else {
            recreate_database(&args.database_url, &name).await?;
            println!("created database {name}");
        }
        config.database_url = Some(url.clone());
        let app = Application::build(config.clone()).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let db = Database::connect(&url).await?;
        if !reused {
            seed_national(&db, n).await?;
        }
        let persons = person::Entity::find().count(&db).await?;
        // The first synthetic person (the seeding is deterministic: the same one at every size).
        let lookup = person::Entity::find()
            .filter(person::Column::Phone.eq("+6281200000001"))
            .one(&db)
            .await?
            .map(|p| p.id)
            .ok_or("the first synthetic person is missing")?;
        db.close().await?;
        println!("  {name}: {persons} persons, gateway on {base}");
        targets.push((n, base, persons, lookup));
    }
    let keys = SigningKeys::load_or_generate(&config.data_dir)?;
    let roles = schema::Policy::builtin()?.roles.into_keys().collect();
    let auth = Authenticator::new(keys, &config.issuer, &config.audience, roles);
    let token = auth.issue(
        "immigration",
        "KANIM-JKP",
        "31",
        "bench-immigration",
        chrono::Duration::hours(1),
    )?;
    let page = args.page_size;
    let load = Load {
        page,
        duration: Duration::from_secs(args.duration_secs),
        concurrency: args.concurrency,
    };
    println!(
        "scale curve: {} clients, {} s warm-up + {} s measured per run, page size {page}, {} round(s), sizes interleaved per shape",
        args.concurrency,
        WARM_UP.as_secs(),
        args.duration_secs,
        args.rounds
    );
    let mut names: Vec<String> = shapes(page).iter().map(|s| s.0.to_owned()).collect();
    names.push("lookup".to_owned());
    names.push("lookup-shelter-name".to_owned());
    let query_of = |name: &str, lookup: &str| -> String {
        let shelter = if name == "lookup" {
            "name occupancy"
        } else {
            "name"
        };
        match shapes(page).into_iter().find(|s| s.0 == name) {
            Some((_, query, _)) => query,
            None => format!(
                "{{ person(id: \"{lookup}\") {{ id fullName registration {{ legalStatus documentValid }} \
                 currentPlacement {{ kind shelter {{ {shelter} }} }} }} }}"
            ),
        }
    };
    let mut runs: std::collections::BTreeMap<(String, usize), Vec<Run>> = Default::default();
    for _ in 0..args.rounds {
        for name in &names {
            for (n, base, _, lookup) in &targets {
                let query = query_of(name, lookup);
                let run = if name.starts_with("lookup") {
                    // One person, not a page: no page-size note.
                    Load { page: 0, ..load }
                        .run(base, Some(base), &token, &query)
                        .await?
                } else {
                    load.run(base, Some(base), &token, &query).await?
                };
                runs.entry((name.clone(), *n)).or_default().push(run);
            }
        }
    }
    let label = |n: usize| match n {
        1_000_000 => "1M".to_owned(),
        n if n % 1000 == 0 => format!("{}k", n / 1000),
        n => n.to_string(),
    };
    let (low, high) = if sizes.contains(&100_000) && sizes.contains(&1_000_000) {
        (100_000, 1_000_000)
    } else {
        (sizes[0], sizes[sizes.len() - 1])
    };
    println!("results (medians of {} round(s)):", args.rounds);
    for name in &names {
        let mut line = format!("scale {name}:");
        let mut rate = std::collections::BTreeMap::new();
        for (n, _, _, _) in &targets {
            let run = Run::median(&runs[&(name.clone(), *n)]);
            line.push_str(&format!(
                " {n} {:.0} req/s (p99 {:.1} ms, {:.2} statements),",
                run.rate, run.p99_ms, run.statements_per_request
            ));
            rate.insert(*n, run.rate);
        }
        println!(
            "{line} {}/{} {:.2}",
            label(high),
            label(low),
            rate[&high] / rate[&low].max(1e-9)
        );
    }
    // totalCount: sequential requests, median latency.
    let client = reqwest::Client::new();
    let body = json!({ "query": "{ persons(first: 1) { totalCount } }" });
    let mut line = "scale totalCount (one request at a time, median of 5):".to_owned();
    for (n, base, _, _) in &targets {
        let url = format!("{base}/graphql");
        let mut times = Vec::new();
        let mut count = Value::Null;
        for i in 0..6 {
            let started = Instant::now();
            let reply = send(&client, &url, &token, &body)
                .await
                .ok_or("totalCount fails")?;
            if i > 0 {
                times.push(started.elapsed());
            }
            count = reply["data"]["persons"]["totalCount"].clone();
        }
        times.sort_unstable();
        line.push_str(&format!(
            " {n} {:.1} ms (totalCount {count}),",
            times[times.len() / 2].as_secs_f64() * 1000.0
        ));
    }
    println!("{}", line.trim_end_matches(','));
    match peak_rss_kib() {
        Some(kib) => println!(
            "peak resident memory (VmHWM, bench process): {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("peak resident memory: unavailable"),
    }
    drop(temp);
    Ok(())
}

/// The server URL with its database name replaced by `database`.
fn bench_database_url(server_url: &str, database: &str) -> Result<String, BoxError> {
    let (without_query, query) = match server_url.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (server_url, None),
    };
    let (base, _) = without_query
        .rsplit_once('/')
        .filter(|(b, _)| b.contains("://"))
        .ok_or(
            "--database-url must name a database, e.g. postgres://postgres@127.0.0.1:5432/test",
        )?;
    Ok(match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    })
}

/// Persons in an existing `pora_bench`, or None if it cannot be read.
async fn existing_persons(bench_url: &str) -> Option<u64> {
    let db = Database::connect(bench_url).await.ok()?;
    let count = person::Entity::find().count(&db).await.ok();
    let _ = db.close().await;
    count
}

async fn recreate_database(server_url: &str, database: &str) -> Result<(), BoxError> {
    let admin = Database::connect(server_url)
        .await
        .map_err(|e| format!("cannot reach PostgreSQL at {server_url}: {e}"))?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {database}"))
        .await?;
    admin.close().await?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Seeding

/// DKI Jakarta kelurahan codes `31.7c.kk.10nn`: five cities, eight kecamatan each, eight
/// kelurahan each (320 codes; plausible, not all real).
fn dki_kelurahan() -> Vec<String> {
    let mut codes = Vec::new();
    for city in 1..=5 {
        for district in 1..=8 {
            for village in 1..=8 {
                codes.push(format!("31.7{city}.0{district}.100{village}"));
            }
        }
    }
    codes
}

const NATIONALITIES: &[&str] = &[
    "AFG", "AFG", "AFG", "SOM", "MMR", "IRQ", "SDN", "YEM", "PAK",
];
const GIVEN: &[&str] = &[
    "Ahmad", "Fatima", "Ali", "Zahra", "Hassan", "Amina", "Mohammed", "Noor", "Omar", "Maryam",
    "Reza", "Hodan", "Yusuf", "Sara", "Farid", "Khadija",
];
const FAMILY: &[&str] = &[
    "Rahimi",
    "Hosseini",
    "Warsame",
    "Alam",
    "Al-Obaidi",
    "Adam",
    "Al-Hakimi",
    "Khan",
    "Jafari",
    "Farah",
    "Rahman",
    "Osman",
];
const LEGAL_STATUSES: &[&str] = &["REFUGEE", "ASYLUM_SEEKER", "REJECTED_FIRST_INSTANCE"];

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn at(date: NaiveDate, hour: u32) -> DateTime<Utc> {
    date.and_hms_opt(hour, 0, 0).expect("valid time").and_utc()
}

struct Seeder {
    rng: ChaCha8Rng,
    kelurahan: Vec<String>,
    iom_houses: Vec<String>,
    supervising_office: Option<String>,
    next_person: usize,
    next_case: usize,
}

#[derive(Default)]
struct Batch {
    persons: Vec<person::Model>,
    cases: Vec<case::Model>,
    registrations: Vec<unhcr_registration::Model>,
    immigration_records: Vec<immigration_record::Model>,
    placements: Vec<placement::Model>,
    monthly_reports: Vec<monthly_report::Model>,
}

impl Batch {
    fn rows(&self) -> usize {
        self.persons.len()
            + self.cases.len()
            + self.registrations.len()
            + self.immigration_records.len()
            + self.placements.len()
            + self.monthly_reports.len()
    }
}

impl Seeder {
    fn id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.rng.gen_range(0..items.len())]
    }

    fn date_between(&mut self, from: NaiveDate, to: NaiveDate) -> NaiveDate {
        let span = (to - from).num_days();
        from + chrono::Duration::days(self.rng.gen_range(0..=span))
    }

    /// Households (cases) of one to three persons, ~2 on average, until `persons` persons.
    fn batch(&mut self, persons: usize) -> Batch {
        let mut b = Batch::default();
        while b.persons.len() < persons {
            let size = self
                .rng
                .gen_range(1..=3usize)
                .min(persons - b.persons.len());
            self.household(&mut b, size);
        }
        b
    }

    fn household(&mut self, b: &mut Batch, size: usize) {
        self.next_case += 1;
        let case_id = self.id();
        let nationality = self.pick(NATIONALITIES);
        let family = self.pick(FAMILY);
        let region = self.kelurahan[self.rng.gen_range(0..self.kelurahan.len())].clone();
        let arrival = self.date_between(day(2015, 1, 1), day(2026, 6, 30));
        let registration =
            (arrival + chrono::Duration::days(self.rng.gen_range(7..=300))).min(day(2026, 9, 30));
        let created = at(registration, 3);
        let legal_status = self.pick(LEGAL_STATUSES);
        let in_iom_house = self.rng.gen_bool(0.4);
        let shelter_id = if in_iom_house && !self.iom_houses.is_empty() {
            Some(self.iom_houses[self.rng.gen_range(0..self.iom_houses.len())].clone())
        } else {
            None
        };
        let placement_start = self.date_between(registration, day(2026, 10, 20));
        let mut focal = None;
        for member in 0..size {
            self.next_person += 1;
            let n = self.next_person;
            let person_id = self.id();
            focal.get_or_insert_with(|| person_id.clone());
            let male = self.rng.gen_bool(0.5);
            let date_of_birth = if member == 0 {
                self.date_between(day(1960, 1, 1), day(2005, 12, 31))
            } else {
                self.date_between(day(1965, 1, 1), day(2024, 12, 31))
            };
            let given = self.pick(GIVEN);
            b.persons.push(person::Model {
                id: person_id.clone(),
                full_name: format!("{given} {family}"),
                aliases: "[]".to_owned(),
                sex: if male { "MALE" } else { "FEMALE" }.to_owned(),
                date_of_birth,
                nationality: nationality.to_owned(),
                languages: "[\"Arabic\"]".to_owned(),
                religion: None,
                ethnicity: None,
                phone: Some(format!("+62812{n:08}")),
                residence_region: region.clone(),
                residence_address: Some(format!("Jl. Bench No. {}, Kel. {region}", n % 200 + 1)),
                case_id: Some(case_id.clone()),
                relationship_to_focal: Some(if member == 0 { "FOCAL" } else { "CHILD" }.to_owned()),
                specific_needs: "[]".to_owned(),
                medical_notes: None,
                claim_narrative: None,
                created_at: created,
                updated_at: created,
            });
            let refugee = legal_status == "REFUGEE";
            let document_expiry = self.date_between(day(2025, 6, 1), day(2028, 6, 1));
            b.registrations.push(unhcr_registration::Model {
                id: self.id(),
                person_id: person_id.clone(),
                individual_number: format!("BEN-{n:08}"),
                legal_status: legal_status.to_owned(),
                file_status: "ACTIVE".to_owned(),
                solution: "NONE".to_owned(),
                document_type: if refugee {
                    "REFUGEE_CARD"
                } else {
                    "ASYLUM_SEEKER_CERTIFICATE"
                }
                .to_owned(),
                document_number: format!("{}-B{n:08}", if refugee { "RC" } else { "ASC" }),
                document_expiry,
                created_at: created,
                updated_at: created,
            });
            b.immigration_records.push(immigration_record::Model {
                id: self.id(),
                person_id: person_id.clone(),
                passport_number: None,
                passport_country: None,
                entry_mode: "AIR".to_owned(),
                visa_type: None,
                visa_expiry: None,
                special_id_card_number: Some(format!("KTP-R-B{n:08}")),
                supervising_office_id: self.supervising_office.clone(),
                created_at: created,
                updated_at: created,
            });
            b.placements.push(placement::Model {
                id: self.id(),
                person_id: person_id.clone(),
                shelter_id: shelter_id.clone(),
                kind: if shelter_id.is_some() {
                    "COMMUNITY_HOUSE"
                } else {
                    "INDEPENDENT"
                }
                .to_owned(),
                start_date: placement_start,
                end_date: None,
                decision_ref: Some(format!("W9.IMI.GR.01-B{n:08}")),
                reason: None,
                created_at: at(placement_start, 4),
                updated_at: at(placement_start, 4),
            });
            for month in 1..=REPORTS_PER_PERSON {
                let present = self.rng.gen_bool(0.9);
                let reported_at = present.then(|| at(day(2026, month, 10), 9));
                b.monthly_reports.push(monthly_report::Model {
                    id: self.id(),
                    person_id: person_id.clone(),
                    period: format!("2026-{month:02}"),
                    reported_at,
                    method: present.then(|| "OFFICE".to_owned()),
                    present,
                    created_at: reported_at.unwrap_or_else(|| at(day(2026, month + 1, 1), 1)),
                    updated_at: reported_at.unwrap_or_else(|| at(day(2026, month + 1, 1), 1)),
                });
            }
        }
        b.cases.push(case::Model {
            id: case_id,
            unhcr_case_number: format!("BEN-C-{:08}", self.next_case),
            focal_person_id: focal,
            arrival_date: Some(arrival),
            registration_date: registration,
            created_at: created,
            updated_at: created,
        });
    }
}

/// Bulk-inserts `persons` persons with their rows, one transaction per batch.
async fn seed_national(db: &DatabaseConnection, persons: usize) -> Result<(), BoxError> {
    let iom_houses: Vec<String> = shelter::Entity::find()
        .filter(shelter::Column::Kind.eq("IOM_COMMUNITY_HOUSE"))
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let supervising_office = agency::Entity::find()
        .filter(agency::Column::Code.eq("KANIM-JKP"))
        .one(db)
        .await?
        .map(|a| a.id);
    println!(
        "seeding {persons} persons (+ cases, registrations, immigration records, placements, \
         {REPORTS_PER_PERSON} monthly reports each); {} IOM community houses",
        iom_houses.len()
    );
    let mut seeder = Seeder {
        rng: ChaCha8Rng::seed_from_u64(1),
        kelurahan: dki_kelurahan(),
        iom_houses,
        supervising_office,
        next_person: 0,
        next_case: 0,
    };
    let started = Instant::now();
    // Batches are generated here, in order, and inserted by `SEED_WORKERS` connections side by
    // side, each batch in its own transaction (a batch holds its cases with their persons, so
    // batches do not depend on each other).
    let (sender, receiver) = tokio::sync::mpsc::channel::<Batch>(SEED_WORKERS);
    let receiver = std::sync::Arc::new(tokio::sync::Mutex::new(receiver));
    let workers: Vec<_> = (0..SEED_WORKERS)
        .map(|_| {
            let db = db.clone();
            let receiver = receiver.clone();
            tokio::spawn(async move {
                loop {
                    let batch = receiver.lock().await.recv().await;
                    let Some(batch) = batch else {
                        return Ok::<(), sea_orm::DbErr>(());
                    };
                    insert_batch(&db, batch).await?;
                }
            })
        })
        .collect();
    let mut done = 0;
    let mut rows = 0;
    let mut last_report = Instant::now();
    while done < persons {
        let n = BATCH_PERSONS.min(persons - done);
        let batch = seeder.batch(n);
        rows += batch.rows();
        if sender.send(batch).await.is_err() {
            break;
        }
        done += n;
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "  {done}/{persons} persons generated, {secs:.1} s ({:.0} rows/s)",
                rows as f64 / secs.max(1e-9)
            );
        }
    }
    drop(sender);
    for worker in workers {
        worker.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeding: {rows} rows in {secs:.1} s ({:.0} rows/s, {SEED_WORKERS} connections)",
        rows as f64 / secs.max(1e-9)
    );
    // Visibility map and fresh statistics for the planner after the bulk load.
    let started = Instant::now();
    db.execute_unprepared("VACUUM (ANALYZE)").await?;
    println!("VACUUM (ANALYZE): {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// One batch in one transaction.
///
/// The placements go last, after their shelters are locked in id order: each open placement's
/// trigger adds one to its shelter's `occupancy` (migration 000011) and holds that row until the
/// commit, so two workers taking the same rows in their data's order could deadlock.
async fn insert_batch(db: &DatabaseConnection, batch: Batch) -> Result<(), sea_orm::DbErr> {
    let mut filled: Vec<String> = batch
        .placements
        .iter()
        .filter(|p| p.end_date.is_none())
        .filter_map(|p| p.shelter_id.clone())
        .collect();
    filled.sort();
    filled.dedup();
    let txn = db.begin().await?;
    gateway::seed::insert_all::<person::ActiveModel>(&txn, batch.persons, CHUNK_ROWS).await?;
    gateway::seed::insert_all::<case::ActiveModel>(&txn, batch.cases, CHUNK_ROWS).await?;
    gateway::seed::insert_all::<unhcr_registration::ActiveModel>(
        &txn,
        batch.registrations,
        CHUNK_ROWS,
    )
    .await?;
    gateway::seed::insert_all::<immigration_record::ActiveModel>(
        &txn,
        batch.immigration_records,
        CHUNK_ROWS,
    )
    .await?;
    gateway::seed::insert_all::<monthly_report::ActiveModel>(
        &txn,
        batch.monthly_reports,
        CHUNK_ROWS,
    )
    .await?;
    if !filled.is_empty() {
        shelter::Entity::find()
            .select_only()
            .column(shelter::Column::Id)
            .filter(shelter::Column::Id.is_in(filled))
            .order_by_asc(shelter::Column::Id)
            .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
            .into_tuple::<String>()
            .all(&txn)
            .await?;
    }
    gateway::seed::insert_all::<placement::ActiveModel>(&txn, batch.placements, CHUNK_ROWS).await?;
    txn.commit().await
}

// ------------------------------------------------------------------------------------------
// Load

/// How each run loads its target.
struct Load {
    page: u32,
    duration: Duration,
    concurrency: usize,
}

/// The figures of one measured run.
#[derive(Clone, Debug)]
struct Run {
    rate: f64,
    p99_ms: f64,
    nodes_per_page: usize,
    statements_per_request: f64,
    /// CPU time of this process per request: the in-process gateway and the load clients.
    own_cpu_ms: Option<f64>,
    /// CPU time of the server's process per request, when the server is another process.
    server_cpu_ms: Option<f64>,
}

impl Run {
    /// The run with the median rate.
    fn median(runs: &[Run]) -> Run {
        let mut sorted = runs.to_vec();
        sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        sorted[sorted.len() / 2].clone()
    }
}

impl Load {
    /// A run against the gateway at `base`, its statements counted from `metrics`' `/metrics`.
    async fn run(
        &self,
        base: &str,
        metrics: Option<&str>,
        token: &str,
        query: &str,
    ) -> Result<Run, BoxError> {
        self.run_cpu(&format!("{base}/graphql"), metrics, token, query, None)
            .await
    }

    /// A run against the GraphQL endpoint `url`; `server` is the server's process, when it is
    /// not this one.
    async fn run_cpu(
        &self,
        url: &str,
        metrics: Option<&str>,
        token: &str,
        query: &str,
        server: Option<u32>,
    ) -> Result<Run, BoxError> {
        let body = json!({ "query": query });
        let client = reqwest::Client::new();
        // Pre-flight: one request, so that a wrong query or token fails loudly instead of
        // being measured as fast errors.
        let mut request = client.post(url).json(&body);
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        let reply: Value = request.send().await?.json().await?;
        if let Some(errors) = reply.get("errors") {
            return Err(format!("{url}: the query fails: {errors}").into());
        }
        let nodes_per_page = reply["data"]
            .as_object()
            .and_then(|d| d.values().next())
            .and_then(|list| list["nodes"].as_array())
            .map_or(0, Vec::len);
        if nodes_per_page < self.page as usize {
            println!("note: only {nodes_per_page} persons on the first page from {url}");
        }
        run_phase(url, token, &body, WARM_UP, self.concurrency).await?;
        let before = match metrics {
            Some(base) => sql_statements(&client, base).await?,
            None => 0,
        };
        let own_before = peer::cpu_time(std::process::id());
        let server_before = server.and_then(peer::cpu_time);
        let (mut latencies, errors, elapsed) =
            run_phase(url, token, &body, self.duration, self.concurrency).await?;
        let own_after = peer::cpu_time(std::process::id());
        let server_after = server.and_then(peer::cpu_time);
        let after = match metrics {
            Some(base) => sql_statements(&client, base).await?,
            None => 0,
        };
        if errors * 100 > latencies.len() {
            return Err(format!(
                "{errors} of {} requests to {url} failed: the figures would measure failures",
                latencies.len()
            )
            .into());
        }
        if errors > 0 {
            println!("note: {errors} failed requests to {url}");
        }
        latencies.sort_unstable();
        let requests = latencies.len().max(1) as f64;
        let per_request = |before: Option<Duration>, after: Option<Duration>| {
            Some((after? - before?).as_secs_f64() * 1000.0 / requests)
        };
        let rank =
            ((0.99 * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len().max(1));
        Ok(Run {
            rate: latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
            p99_ms: latencies
                .get(rank - 1)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            nodes_per_page,
            statements_per_request: after.saturating_sub(before) as f64 / requests,
            own_cpu_ms: per_request(own_before, own_after),
            server_cpu_ms: per_request(server_before, server_after),
        })
    }
}

/// Whether a reply is a success: HTTP 200 and no GraphQL `errors`.
async fn send(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Option<Value> {
    let mut request = client.post(url).json(body);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.ok()?;
    if response.status() != reqwest::StatusCode::OK {
        return None;
    }
    let value: Value = response.json().await.ok()?;
    value.get("errors").is_none().then_some(value)
}

/// `pora_sql_statements_total` from `/metrics`.
async fn sql_statements(client: &reqwest::Client, base: &str) -> Result<u64, BoxError> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix("pora_sql_statements_total "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "pora_sql_statements_total missing from /metrics".into())
}

/// Sends requests back to back until `until`; returns (latencies, errors).
async fn client_loop(
    url: String,
    token: String,
    body: Value,
    until: Instant,
) -> (Vec<Duration>, usize) {
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    let mut errors = 0;
    while Instant::now() < until {
        let start = Instant::now();
        let ok = send(&client, &url, &token, &body).await.is_some();
        latencies.push(start.elapsed());
        if !ok {
            errors += 1;
        }
    }
    (latencies, errors)
}

async fn run_phase(
    url: &str,
    token: &str,
    body: &Value,
    duration: Duration,
    concurrency: usize,
) -> Result<(Vec<Duration>, usize, Duration), BoxError> {
    let start = Instant::now();
    let until = start + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(client_loop(
                url.to_owned(),
                token.to_owned(),
                body.clone(),
                until,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    Ok((latencies, errors, start.elapsed()))
}

/// VmHWM of this process, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The in-process gateway's configuration: demo data, two workers, and per-caller limits off
/// (a few callers send tens of thousands of requests, so the figures are the gateway's
/// throughput, not its rate limit; pora-abuse measures those).
fn gateway_config(
    data_dir: &std::path::Path,
    database_url: Option<String>,
) -> Result<Config, BoxError> {
    Ok(Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: data_dir.to_owned(),
        database_url,
        demo_data: Some(true),
        workers: 2,
        max_connections: 20,
        rate_limits: gateway::config::RateLimitConfig {
            requests_per_minute: 0,
            cost_per_minute: 0,
            ..Default::default()
        },
        ..Config::default()
    })
}
