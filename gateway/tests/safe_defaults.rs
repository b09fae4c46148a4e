//! Safe defaults of `pora-gateway serve`: live development tokens are printed only for the
//! embedded demo and never an administrator's; case data and keys are readable by their owner
//! only; the audit log cannot be switched off from a configuration file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pora-gateway");

struct Served {
    child: Child,
    /// Everything `serve` printed on stdout up to the end of its welcome.
    stdout: Vec<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` with `env` and reads its welcome (up to the last token, or the line saying
/// none is printed).
fn serve(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Served {
    let mut child: Child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .env("PORA_DATA_DIR", dir)
        .env("PORA_LISTEN", "127.0.0.1:0")
        .env("PORA_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pora-gateway");
    let stdout = child.stdout.take().expect("stdout");
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    // Owned by `Served` from here on, so the process is killed and waited for on every path.
    let mut served = Served {
        child,
        stdout: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = receive.recv_timeout(left) else {
            panic!("no complete welcome within 60 s: {:#?}", served.stdout);
        };
        let done = line.contains("No development tokens") || line.contains("TOKEN_UNHCR");
        served.stdout.push(line);
        if done {
            return served;
        }
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_embedded_demo_prints_every_role_but_admin_and_keeps_its_files_private() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("data");
    let served = serve(&dir, &[], &[]);
    let exported: Vec<&str> = served
        .stdout
        .iter()
        .filter_map(|l| l.trim().strip_prefix("export TOKEN_"))
        .filter_map(|l| l.split('=').next())
        .collect();
    assert_eq!(
        exported,
        [
            "IMMIGRATION",
            "IOM",
            "KESBANGPOL",
            "MUNICIPALITY",
            "POLICE",
            "UNHCR"
        ],
        "{:#?}",
        served.stdout
    );
    assert!(
        served
            .stdout
            .iter()
            .any(|l| l.contains("token dev --role admin")),
        "the welcome says how to mint an administrator's token"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700, "the data folder");
        assert_eq!(mode(&dir.join("pora.db")), 0o600, "the database");
        assert_eq!(mode(&dir.join("signing-key.pem")), 0o600, "the signing key");
    }
}

#[test]
fn without_the_demo_no_token_is_printed() {
    let temp = tempfile::tempdir().expect("temp dir");
    let served = serve(temp.path(), &[], &[("PORA_DEMO_DATA", "false")]);
    assert!(
        served.stdout.iter().all(|l| !l.contains("export TOKEN_")),
        "{:#?}",
        served.stdout
    );
}

#[test]
fn the_audit_log_is_no_configuration_key() {
    let temp = tempfile::tempdir().expect("temp dir");
    let file = temp.path().join("pora.toml");
    std::fs::write(&file, "audit_log = false\n").expect("write config");
    let output = Command::new(BIN)
        .args(["--config", file.to_str().expect("path"), "serve"])
        .env("PORA_DATA_DIR", temp.path())
        .env("PORA_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run pora-gateway");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `audit_log`"), "{stderr}");
}
