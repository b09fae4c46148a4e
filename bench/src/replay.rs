//! The bare-SQL replay: the statements the gateway sent for one request (captured by
//! [`crate::capture`]) as a pgbench script, one pgbench transaction per request, run with
//! `pgbench -M prepared` against the same database.
//!
//! - Order: the gateway's pooled connections each send their statements in order; a statement
//!   outside a transaction block is one unit, a `BEGIN` … `COMMIT` block on one connection is one
//!   unit, and the units run one after another in the order their first statement reached the
//!   server. Statements the gateway sent side by side on two connections therefore run one
//!   after the other here, on one connection.
//! - Values: each bound parameter becomes a pgbench variable (`-D name=value`, the value in
//!   PostgreSQL's text form) written `(:name)::type` with the type OID the gateway declared in
//!   its `Parse`, so the server plans the same typed statement; a NULL is written `NULL::type`.
//! - The one value that cannot be repeated: the audit event's `id` (unique); it becomes
//!   `\set` random 63-bit number per transaction. The replayed audit rows do not extend the
//!   hash chain (the bench database's chain is not verified afterwards).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::capture::{self, Statement};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A pgbench script and the variables it needs.
pub struct Script {
    pub text: String,
    pub defines: Vec<(String, String)>,
    pub statements: usize,
    pub connections: usize,
}

fn starts_block(sql: &str) -> bool {
    let s = sql.trim_start().to_ascii_uppercase();
    s.starts_with("BEGIN") || s.starts_with("START TRANSACTION")
}

fn ends_block(sql: &str) -> bool {
    let s = sql.trim_start().to_ascii_uppercase();
    s.starts_with("COMMIT") || s.starts_with("ROLLBACK") || s.starts_with("END")
}

/// Whether a statement belongs to the audit log's append.
pub fn is_audit(sql: &str) -> bool {
    sql.contains("audit_events") || sql.contains("pg_advisory_xact_lock")
}

/// The statements in replay order (see the module's documentation).
pub fn units(statements: &[Statement]) -> Vec<Vec<Statement>> {
    let mut per_connection: BTreeMap<usize, Vec<&Statement>> = BTreeMap::new();
    for s in statements {
        per_connection.entry(s.connection).or_default().push(s);
    }
    let mut units: Vec<Vec<Statement>> = Vec::new();
    for list in per_connection.values() {
        let mut open: Option<Vec<Statement>> = None;
        for s in list {
            match open.as_mut() {
                Some(unit) => {
                    unit.push((*s).clone());
                    if ends_block(&s.sql) {
                        units.extend(open.take());
                    }
                }
                None if starts_block(&s.sql) => open = Some(vec![(*s).clone()]),
                None => units.push(vec![(*s).clone()]),
            }
        }
        units.extend(open);
    }
    units.sort_by_key(|u| u[0].seq);
    units
}

/// The parameter number (1-based) bound to column `column` of an `INSERT INTO … (cols) VALUES
/// ($a, $b, …)`, if the statement has that shape.
fn insert_param_of(sql: &str, column: &str) -> Option<usize> {
    let open = sql.find('(')?;
    let close = open + sql[open..].find(')')?;
    let columns: Vec<&str> = sql[open + 1..close].split(',').map(str::trim).collect();
    let index = columns.iter().position(|c| c.trim_matches('"') == column)?;
    let values = close + sql[close..].find("VALUES")?;
    let vopen = values + sql[values..].find('(')?;
    let vclose = vopen + sql[vopen..].find(')')?;
    let value = sql[vopen + 1..vclose].split(',').nth(index)?.trim();
    value.strip_prefix('$')?.parse().ok()
}

/// Rewrites `$n` placeholders (outside quotes) with `replace(n)`.
fn rewrite_placeholders(
    sql: &str,
    mut replace: impl FnMut(usize) -> Result<String, BoxError>,
) -> Result<String, BoxError> {
    let mut out = String::with_capacity(sql.len() + 64);
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
                i += 1;
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
                i += 1;
            }
            None if c == '$' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let mut j = i + 1;
                while chars.get(j).is_some_and(|d| d.is_ascii_digit()) {
                    j += 1;
                }
                let n: usize = chars[i + 1..j].iter().collect::<String>().parse()?;
                out.push_str(&replace(n)?);
                i = j;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// pgbench reads `:name` as a variable anywhere in a statement, `::` excepted: a statement
/// holding one that is not ours cannot be replayed as it is.
fn check_colons(sql: &str, ours: &[String]) -> Result<(), BoxError> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b':' {
            let mut j = i + 1;
            if bytes.get(j) == Some(&b':') {
                while bytes.get(j) == Some(&b':') {
                    j += 1;
                }
                i = j;
                continue;
            }
            while bytes
                .get(j)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80)
            {
                j += 1;
            }
            if j > i + 1 {
                let name = &sql[i + 1..j];
                if !ours.iter().any(|o| o == name) {
                    return Err(format!(
                        "statement holds `:{name}`, which pgbench would read as a variable: {sql}"
                    )
                    .into());
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// The pgbench script of one request's statements.
pub fn script(title: &str, statements: &[Statement]) -> Result<Script, BoxError> {
    let units = units(statements);
    let mut text = String::new();
    let mut defines = Vec::new();
    let connections = statements
        .iter()
        .map(|s| s.connection)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    writeln!(
        text,
        "-- {title}: the {} statements the gateway sent for one request, over {connections} \
         pooled connection(s), captured on the wire (bench/src/capture.rs)",
        statements.len()
    )?;
    let mut audit_id = false;
    let mut n = 0;
    for unit in &units {
        for s in unit {
            n += 1;
            let params = s.params.as_deref().unwrap_or(&[]);
            let id_param = (s.sql.contains("INSERT INTO \"audit_events\""))
                .then(|| insert_param_of(&s.sql, "id"))
                .flatten();
            let mut ours = Vec::new();
            let sql = rewrite_placeholders(&s.sql, |k| {
                let p = params
                    .get(k - 1)
                    .ok_or_else(|| format!("${k} without a bound value in: {}", s.sql))?;
                let cast = capture::param_type(p)?
                    .map(|t| format!("::{t}"))
                    .unwrap_or_default();
                if id_param == Some(k) {
                    audit_id = true;
                    ours.push("audit_id".to_owned());
                    return Ok(format!("(:audit_id){cast}"));
                }
                match capture::param_text(p)? {
                    None => Ok(format!("NULL{cast}")),
                    Some(value) => {
                        let name = format!("s{n}p{k}");
                        ours.push(name.clone());
                        defines.push((name.clone(), value));
                        Ok(format!("(:{name}){cast}"))
                    }
                }
            })?;
            check_colons(&sql, &ours)?;
            let sql = sql.trim().trim_end_matches(';').trim_end();
            writeln!(text, "{sql};")?;
        }
    }
    if audit_id {
        text = text.replacen('\n', "\n\\set audit_id random(1, 9000000000000000000)\n", 1);
    }
    defines.sort();
    defines.dedup_by(|a, b| a.0 == b.0);
    Ok(Script {
        text,
        defines,
        statements: statements.len(),
        connections,
    })
}

/// pgbench's options for `clients` clients during `duration`.
fn pgbench_args(clients: usize, duration: Duration) -> Vec<String> {
    [
        "-n",
        "-M",
        "prepared",
        "-c",
        &clients.to_string(),
        "-j",
        "2",
        "-T",
        &duration.as_secs().max(1).to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Writes the script and a shell file with its pgbench command (measured run) into `dir`;
/// returns the script's path.
pub fn write(
    dir: &Path,
    name: &str,
    script: &Script,
    database_url: &str,
    clients: usize,
    duration: Duration,
) -> Result<PathBuf, BoxError> {
    let args = pgbench_args(clients, duration);
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.sql"));
    std::fs::write(&path, &script.text)?;
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut sh =
        String::from("#!/bin/sh\n# The bare-SQL replay of one shape, as pora-bench ran it.\n");
    sh.push_str("PGOPTIONS='-c jit=off' PGSSLMODE=disable pgbench");
    for a in &args {
        sh.push(' ');
        sh.push_str(&quote(a));
    }
    sh.push_str(&format!(" -f {}", quote(&path.display().to_string())));
    for (k, v) in &script.defines {
        sh.push_str(&format!(" -D {}", quote(&format!("{k}={v}"))));
    }
    sh.push_str(&format!(" {} \"$@\"\n", quote(database_url)));
    std::fs::write(dir.join(format!("{name}.sh")), sh)?;
    Ok(path)
}

/// Runs pgbench on `path` for `duration` with `clients` clients against `database_url` (the
/// gateway's session settings: `jit = off`, no TLS); returns its tps (without the initial
/// connection time).
pub async fn pgbench(
    database_url: &str,
    path: &Path,
    script: &Script,
    clients: usize,
    duration: Duration,
) -> Result<f64, BoxError> {
    let mut command = tokio::process::Command::new("pgbench");
    command
        .args(pgbench_args(clients, duration))
        .arg("-f")
        .arg(path);
    for (k, v) in &script.defines {
        command.arg("-D").arg(format!("{k}={v}"));
    }
    let output = command
        .arg(database_url)
        .env("PGOPTIONS", "-c jit=off")
        .env("PGSSLMODE", "disable")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run pgbench: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("pgbench failed ({}): {stderr}{stdout}", output.status).into());
    }
    if let Some(failed) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("number of failed transactions: "))
        && !failed.starts_with("0 ")
    {
        return Err(format!("pgbench: {failed} failed transactions: {stderr}").into());
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no tps in pgbench's output: {stdout}{stderr}").into())
}
