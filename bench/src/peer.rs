//! The benchmark's peer: PostGraphile v5 (`bench/postgraphile/`), run with Node 22 from npm
//! over the same database, so each query shape can be measured on both in one run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `bench/postgraphile` of this checkout.
pub fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("postgraphile")
}

/// A running PostGraphile v5; stopped (SIGKILL on drop, the server keeps nothing) when dropped.
pub struct PostGraphile {
    pub url: String,
    child: Child,
}

impl PostGraphile {
    /// Installs the npm packages if needed (`install.sh`), then starts the server on a free
    /// port over `database_url` with a pool of `pool` connections and waits for its ready line.
    pub async fn start(database_url: &str, pool: u32) -> Result<PostGraphile, BoxError> {
        let dir = folder();
        let install = Command::new("bash")
            .arg(dir.join("install.sh"))
            .stderr(Stdio::inherit())
            .output()
            .await
            .map_err(|e| format!("cannot run bench/postgraphile/install.sh: {e}"))?;
        if !install.status.success() {
            return Err(
                "bench/postgraphile/install.sh failed (needs npm and the npm registry)".into(),
            );
        }
        let node = String::from_utf8(install.stdout)?
            .lines()
            .last()
            .map(str::to_owned)
            .ok_or("install.sh printed no Node binary")?;
        let mut child = Command::new(node)
            .arg(dir.join("serve.mjs"))
            .args([
                "--database-url",
                database_url,
                "--port",
                "0",
                "--ensure-occupancy",
            ])
            .args(["--pool", &pool.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| "PostGraphile did not start within 60 s")??
            .ok_or("PostGraphile exited before it was ready")?;
        let url = ready
            .strip_prefix("postgraphile-v5 listening on ")
            .ok_or_else(|| format!("unexpected line from PostGraphile: {ready}"))?
            .to_owned();
        Ok(PostGraphile { url, child })
    }

    /// The server's process id (for its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// The PostGraphile v5 query of one shape (`bench/postgraphile/queries/NAME.graphql`).
pub fn query(name: &str) -> Result<String, BoxError> {
    let path = folder().join("queries").join(format!("{name}.graphql"));
    std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}
