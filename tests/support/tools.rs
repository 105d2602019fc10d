//! Where the integration tests find the servers the test bed builds: its pinned versions
//! (acceptance-tests/testbed/versions.env) and its tool cache, as
//! acceptance-tests/testbed/testbed finds them. Included by path (`#[path]`) in each test
//! that needs it.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `KEY=value` lines of acceptance-tests/testbed/versions.env.
pub fn versions() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("acceptance-tests/testbed/versions.env");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.trim().split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The test bed's tool cache, as acceptance-tests/testbed/testbed finds it.
pub fn tools() -> PathBuf {
    let cache = std::env::var_os("TESTBED_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(|d| PathBuf::from(d).join("terraform-provider-redis"))
        })
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/terraform-provider-redis")
        });
    cache.join("tools")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `redis-server` (or `valkey-server`) `bin` on a free loopback port with its data
/// and log in `dir` and the `extra` arguments, and waits until it listens; retries on
/// another port when the one picked was taken meanwhile. Returns the process and port.
pub fn spawn_server(bin: &Path, dir: &Path, extra: &[&str]) -> (Child, u16) {
    let log = dir.join("server.log");
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--daemonize", "no"])
            .args(extra)
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                if log.contains("Address already in use") {
                    break;
                }
                panic!("{} exited with {status}:\n{log}", bin.display());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (child, port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("{} did not listen after 5 attempts", bin.display());
}
