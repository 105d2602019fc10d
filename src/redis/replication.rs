//! A snapshot through the replication protocol, as `redis-cli --rdb` takes one: on an
//! authenticated connection, `REPLCONF capa eof` (we can read the diskless form),
//! `REPLCONF rdb-only 1` (Redis 7+ / Valkey: send the RDB and no command stream after it;
//! an older server's refusal is ignored), then `SYNC`. The server answers with keep-alive
//! newlines while it prepares, then either `$<len>\r\n` and exactly that many bytes, or
//! (diskless sync) `$EOF:<40-byte mark>\r\n`, the RDB, and the mark again. The RDB comes
//! out as a sequence of byte chunks, never whole in memory. Sees neither Kubernetes nor
//! Terraform.
//!
//! `repl-diskless-sync-delay` (5 s by default) holds a diskless sync back in case more
//! replicas come, and so adds up to that much to every snapshot. We accept it rather than
//! change a deployment's replication behind its owner's back; a deployment that wants
//! quick small backups sets `config.extra = { "repl-diskless-sync-delay" = "0" }` (applied
//! live, see the README's backup section).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::{RedisConn, RedisError, Transport};

/// Bytes read from the stream at a time.
const READ_SIZE: usize = 256 * 1024;
/// The length of the diskless end mark.
pub const EOF_MARK_LEN: usize = 40;
/// The longest header line accepted.
const MAX_HEADER: usize = 128;

/// What can go wrong taking a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// A command before SYNC failed (REPLCONF, or the connection itself).
    #[error("preparing the replication stream")]
    Prepare(#[source] RedisError),
    /// The server refused SYNC (`-NOPERM ...`, `-ERR ...`).
    #[error("redis refused SYNC: {message}")]
    Refused {
        /// The server's message, code first.
        message: String,
    },
    /// The user may not run SYNC (a typed [`ReplicationError::Refused`] with code NOPERM).
    #[error("the backup user may not run SYNC: {message}")]
    NoPermission {
        /// The server's message.
        message: String,
    },
    /// Reading or writing the stream failed.
    #[error("i/o error on the replication stream after {received} bytes of the snapshot")]
    Io {
        /// Snapshot bytes received before the failure.
        received: u64,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The stream ended before the snapshot did.
    #[error("the replication stream ended after {received} bytes of the snapshot{}", match expected { Some(n) => format!(" (of {n})"), None => String::new() })]
    Truncated {
        /// Bytes received.
        received: u64,
        /// Bytes announced, when the server said.
        expected: Option<u64>,
    },
    /// Nothing arrived, not even a keep-alive newline, for too long.
    #[error(
        "the replication stream was silent for {after:?} after {received} bytes of the snapshot"
    )]
    Idle {
        /// How long.
        after: Duration,
        /// Bytes received.
        received: u64,
    },
    /// The server sent something that is not a snapshot header.
    #[error("unexpected answer to SYNC: {line:?}")]
    BadHeader {
        /// The line (at most [`MAX_HEADER`] bytes, lossily decoded).
        line: String,
    },
}

impl ReplicationError {
    /// True when the server refused the user's permissions.
    pub fn is_permission(&self) -> bool {
        matches!(self, ReplicationError::NoPermission { .. })
            || matches!(self, ReplicationError::Prepare(e) if e.server_code() == Some("NOPERM"))
    }
}

/// How the end of the snapshot is known.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Framing {
    /// `$<len>`: this many bytes are left.
    Length(u64),
    /// `$EOF:<mark>`: the snapshot ends with the mark.
    Mark([u8; EOF_MARK_LEN]),
}

/// The snapshot as it arrives: [`next`](Self::next) gives its bytes chunk by chunk.
pub struct RdbStream<S> {
    io: S,
    buf: BytesMut,
    framing: Framing,
    announced: Option<u64>,
    received: u64,
    idle: Duration,
    done: bool,
}

impl<S> std::fmt::Debug for RdbStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdbStream")
            .field("announced", &self.announced)
            .field("received", &self.received)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<S: Transport> RdbStream<S> {
    /// Asks the server `conn` is connected (and authenticated) to for a snapshot and
    /// waits for its header. `idle` bounds each wait for bytes; the server's keep-alive
    /// newlines (every second while it prepares) count as bytes.
    pub async fn start(mut conn: RedisConn<S>, idle: Duration) -> Result<Self, ReplicationError> {
        let ok = conn
            .command(&["REPLCONF", "capa", "eof"])
            .await
            .map_err(prepare_error)?;
        if !ok.is_ok() {
            return Err(ReplicationError::BadHeader {
                line: format!("REPLCONF capa eof answered {:?}", ok.kind()),
            });
        }
        match conn.command(&["REPLCONF", "rdb-only", "1"]).await {
            Ok(_) => {}
            // Redis before 7.0 does not know rdb-only: it sends the command stream after
            // the snapshot, which we never read.
            Err(e @ RedisError::Server { .. }) if e.server_code() != Some("NOPERM") => {
                tracing::debug!(error = %e, "server has no REPLCONF rdb-only");
            }
            Err(e) => return Err(prepare_error(e)),
        }
        let (mut io, rest) = conn.into_parts();
        io.write_all(b"SYNC\r\n")
            .await
            .map_err(|source| ReplicationError::Io {
                received: 0,
                source,
            })?;
        io.flush().await.map_err(|source| ReplicationError::Io {
            received: 0,
            source,
        })?;
        let mut s = RdbStream {
            io,
            buf: BytesMut::from(&rest[..]),
            framing: Framing::Length(0),
            announced: None,
            received: 0,
            idle,
            done: false,
        };
        s.framing = s.header().await?;
        if let Framing::Length(n) = s.framing {
            s.announced = Some(n);
        }
        tracing::debug!(announced = ?s.announced, "snapshot stream started");
        Ok(s)
    }

    /// The snapshot's size, when the server announced it (not in the diskless form).
    pub fn announced(&self) -> Option<u64> {
        self.announced
    }

    /// Snapshot bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Reads more bytes into the buffer; false at the end of the stream.
    async fn fill(&mut self) -> Result<bool, ReplicationError> {
        self.buf.reserve(READ_SIZE);
        let read = tokio::time::timeout(self.idle, self.io.read_buf(&mut self.buf)).await;
        match read {
            Err(_) => Err(ReplicationError::Idle {
                after: self.idle,
                received: self.received,
            }),
            Ok(Err(source)) => Err(ReplicationError::Io {
                received: self.received,
                source,
            }),
            Ok(Ok(n)) => Ok(n > 0),
        }
    }

    /// Skips keep-alive newlines and reads the header line.
    async fn header(&mut self) -> Result<Framing, ReplicationError> {
        loop {
            while self.buf.first() == Some(&b'\n') {
                let _ = self.buf.split_to(1);
            }
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(end + 2);
                return parse_header(&line[..end]);
            }
            if self.buf.len() > MAX_HEADER {
                return Err(ReplicationError::BadHeader {
                    line: String::from_utf8_lossy(&self.buf[..MAX_HEADER]).into_owned(),
                });
            }
            if !self.fill().await? {
                return Err(ReplicationError::Truncated {
                    received: 0,
                    expected: None,
                });
            }
        }
    }

    /// The next chunk of the snapshot; `None` once it is complete.
    pub async fn next(&mut self) -> Result<Option<Bytes>, ReplicationError> {
        if self.done {
            return Ok(None);
        }
        loop {
            match &self.framing {
                Framing::Length(left) => {
                    let left = *left;
                    if left == 0 {
                        self.done = true;
                        return Ok(None);
                    }
                    if !self.buf.is_empty() {
                        let n = (self.buf.len() as u64).min(left) as usize;
                        let chunk = self.buf.split_to(n).freeze();
                        self.framing = Framing::Length(left - n as u64);
                        self.received += n as u64;
                        return Ok(Some(chunk));
                    }
                    if !self.fill().await? {
                        return Err(ReplicationError::Truncated {
                            received: self.received,
                            expected: self.announced,
                        });
                    }
                }
                Framing::Mark(mark) => {
                    if self.buf.len() >= EOF_MARK_LEN && self.buf.ends_with(mark) {
                        let n = self.buf.len() - EOF_MARK_LEN;
                        self.done = true;
                        if n == 0 {
                            return Ok(None);
                        }
                        let chunk = self.buf.split_to(n).freeze();
                        self.buf.clear();
                        self.received += n as u64;
                        return Ok(Some(chunk));
                    }
                    // Keep the last bytes back: they may be the start of the mark.
                    if self.buf.len() > EOF_MARK_LEN + READ_SIZE / 2 {
                        let n = self.buf.len() - EOF_MARK_LEN;
                        let chunk = self.buf.split_to(n).freeze();
                        self.received += n as u64;
                        return Ok(Some(chunk));
                    }
                    if !self.fill().await? {
                        return Err(ReplicationError::Truncated {
                            received: self.received + self.buf.len() as u64,
                            expected: None,
                        });
                    }
                }
            }
        }
    }
}

fn prepare_error(e: RedisError) -> ReplicationError {
    if e.server_code() == Some("NOPERM") {
        ReplicationError::NoPermission {
            message: e.server_message().unwrap_or_default().to_string(),
        }
    } else {
        ReplicationError::Prepare(e)
    }
}

/// The framing a header line announces.
fn parse_header(line: &[u8]) -> Result<Framing, ReplicationError> {
    let text = || String::from_utf8_lossy(&line[..line.len().min(MAX_HEADER)]).into_owned();
    match line.first() {
        Some(b'-') => {
            let message = String::from_utf8_lossy(&line[1..]).into_owned();
            if message.starts_with("NOPERM") {
                Err(ReplicationError::NoPermission { message })
            } else {
                Err(ReplicationError::Refused { message })
            }
        }
        Some(b'$') => {
            let rest = &line[1..];
            if let Some(mark) = rest.strip_prefix(b"EOF:") {
                let mark: [u8; EOF_MARK_LEN] = mark
                    .try_into()
                    .map_err(|_| ReplicationError::BadHeader { line: text() })?;
                return Ok(Framing::Mark(mark));
            }
            std::str::from_utf8(rest)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .map(Framing::Length)
                .ok_or_else(|| ReplicationError::BadHeader { line: text() })
        }
        _ => Err(ReplicationError::BadHeader { line: text() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncBufReadExt, BufReader};

    const MARK: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";

    /// A fake server: answers the handshake, REPLCONF (refusing rdb-only when `old`),
    /// then writes `after_sync` in pieces of `piece` bytes.
    async fn serve(
        after_sync: Vec<u8>,
        old: bool,
        piece: usize,
    ) -> RdbStream<tokio::io::DuplexStream> {
        let (client, server) = duplex(64 * 1024);
        tokio::spawn(async move {
            let (r, mut w) = tokio::io::split(server);
            let mut lines = BufReader::new(r).lines();
            let mut args = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with('*') || line.starts_with('$') {
                    continue;
                }
                if line == "SYNC" {
                    for c in after_sync.chunks(piece) {
                        w.write_all(c).await.unwrap();
                        tokio::task::yield_now().await;
                    }
                    return;
                }
                args.push(line.clone());
                let reply: &[u8] = match args.as_slice() {
                    [.., a, b] if a == "rdb-only" && b == "1" && old => {
                        b"-ERR Unrecognized REPLCONF option: rdb-only\r\n"
                    }
                    [.., p] if p == "PING" => b"+PONG\r\n",
                    [.., a, b, c]
                        if a == "REPLCONF" && (b == "capa" || b == "rdb-only") && !c.is_empty() =>
                    {
                        b"+OK\r\n"
                    }
                    _ => continue,
                };
                w.write_all(reply).await.unwrap();
            }
        });
        let conn = RedisConn::handshake(client, None, Duration::from_secs(5))
            .await
            .unwrap();
        RdbStream::start(conn, Duration::from_secs(5))
            .await
            .unwrap()
    }

    async fn drain<S: Transport>(s: &mut RdbStream<S>) -> Result<Vec<u8>, ReplicationError> {
        let mut out = Vec::new();
        while let Some(c) = s.next().await? {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }

    fn rdb(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_length_framed_snapshot_after_keepalive_newlines_is_read_exactly() {
        let body = rdb(300_000);
        let mut wire = b"\n\n\n".to_vec();
        wire.extend(format!("${}\r\n", body.len()).as_bytes());
        wire.extend(&body);
        // The command stream that follows on a server without rdb-only is never read.
        wire.extend(b"*1\r\n$4\r\nPING\r\n");
        let mut s = serve(wire, true, 7_000).await;
        assert_eq!(s.announced(), Some(300_000));
        assert_eq!(drain(&mut s).await.unwrap(), body);
        assert_eq!(s.received(), 300_000);
    }

    #[tokio::test]
    async fn a_diskless_snapshot_ends_at_its_mark_which_is_not_part_of_it() {
        for piece in [1, 39, 40, 41, 4096, 1 << 20] {
            let body = rdb(200_001);
            let mut wire = b"\n".to_vec();
            wire.extend(b"$EOF:");
            wire.extend(MARK);
            wire.extend(b"\r\n");
            wire.extend(&body);
            wire.extend(MARK);
            let mut s = serve(wire, false, piece).await;
            assert_eq!(s.announced(), None);
            assert_eq!(drain(&mut s).await.unwrap(), body, "pieces of {piece}");
        }
    }

    #[tokio::test]
    async fn a_stream_cut_short_is_an_error_in_both_forms() {
        let mut wire = b"$1000\r\n".to_vec();
        wire.extend(rdb(999));
        let mut s = serve(wire, false, 100).await;
        assert!(matches!(
            drain(&mut s).await,
            Err(ReplicationError::Truncated {
                received: 999,
                expected: Some(1000)
            })
        ));
        let mut wire = b"$EOF:".to_vec();
        wire.extend(MARK);
        wire.extend(b"\r\n");
        wire.extend(rdb(500));
        let mut s = serve(wire, false, 100).await;
        assert!(matches!(
            drain(&mut s).await,
            Err(ReplicationError::Truncated {
                received: 500,
                expected: None
            })
        ));
    }

    #[test]
    fn refusals_become_typed_errors() {
        assert!(matches!(
            parse_header(b"-NOPERM User backup has no permissions to run the 'sync' command"),
            Err(ReplicationError::NoPermission { .. })
        ));
        assert!(matches!(
            parse_header(b"-ERR Can't SYNC while not connected with my master"),
            Err(ReplicationError::Refused { message }) if message.starts_with("ERR Can't SYNC")
        ));
        assert!(matches!(
            parse_header(b"+FULLRESYNC abc 0"),
            Err(ReplicationError::BadHeader { .. })
        ));
        assert!(matches!(
            parse_header(b"$EOF:short"),
            Err(ReplicationError::BadHeader { .. })
        ));
        assert!(matches!(
            parse_header(b"$-5"),
            Err(ReplicationError::BadHeader { .. })
        ));
        assert_eq!(parse_header(b"$12").unwrap(), Framing::Length(12));
    }
}
