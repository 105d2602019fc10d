//! What the benches share: reading a plugin's handshake line without hanging on a
//! silent plugin.

use std::io::{BufRead, BufReader};
use std::process::ChildStdout;
use std::time::{Duration, Instant};

/// How long a plugin may take to print its handshake line.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// The first line on `stdout`, when it arrived, and the reader (kept open: a plugin whose
/// stdout closes may exit); `Err(())` when nothing came within [`HANDSHAKE_TIMEOUT`].
/// Read on a thread, so a silent plugin cannot hang the bench.
#[allow(clippy::type_complexity)]
pub fn first_line(
    stdout: ChildStdout,
) -> Result<(std::io::Result<String>, Instant, BufReader<ChildStdout>), ()> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = reader.read_line(&mut line);
        let _ = tx.send((read.map(|_| line), Instant::now(), reader));
    });
    rx.recv_timeout(HANDSHAKE_TIMEOUT).map_err(drop)
}
