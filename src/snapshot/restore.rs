//! Restore: an RDB file verified whole (its sha256, its structure and its CRC64) while it
//! is spooled to a private temporary file, then loaded into a running server online, each
//! key as a pipelined `RESTORE key ttl payload REPLACE ABSTTL` and each function library
//! as `FUNCTION RESTORE payload REPLACE`. Never sees Terraform or Kubernetes types.
//!
//! Loading online rather than copying a file into the data directory works whatever the
//! server's persistence (with `appendonly yes` a copied dump.rdb is silently ignored), on
//! a live deployment, and through the provider's usual access path. Nothing is written to
//! Redis before the whole file is verified: the bytes loaded are the bytes verified.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Semaphore};

use crate::redis::rdb::{self, RdbError};
use crate::redis::resp::{self, ProtocolError, Reply};
use crate::redis::{RedisConn, RedisError, Transport};

/// What can go wrong restoring.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The spool file could not be written or read.
    #[error("temporary file {path}")]
    Spool {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading the object failed.
    #[error("reading {url}")]
    Read {
        /// The object.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The object's sha256 is not the one asked for.
    #[error("sha256 mismatch: {url} has sha256 {found}, not {expected}; nothing was loaded")]
    Sha256Mismatch {
        /// The object.
        url: String,
        /// The digest asked for.
        expected: String,
        /// The object's.
        found: String,
    },
    /// The object is not a valid RDB file.
    #[error("{url} is not a valid RDB file; nothing was loaded")]
    Corrupt {
        /// The object.
        url: String,
        /// What is wrong with it.
        #[source]
        source: RdbError,
    },
    /// The server cannot load this RDB version.
    #[error(
        "the file is RDB version {file}, and {server} loads RDB files up to version {loads} only; nothing was loaded"
    )]
    TooNew {
        /// The file's RDB version.
        file: u32,
        /// The server, as INFO names it.
        server: String,
        /// The newest version it loads.
        loads: u32,
    },
    /// The file has keys in a database the server does not have.
    #[error(
        "the file has keys in database {db}, and the server has databases 0 to {last} only (config.databases); nothing was loaded"
    )]
    NoSuchDatabase {
        /// The file's highest database.
        db: u32,
        /// The server's last database.
        last: u32,
    },
    /// A command of the load failed.
    #[error("redis failed during the load")]
    Redis(#[from] RedisError),
    /// The server refused a RESTORE or FUNCTION RESTORE; what came before it stays loaded.
    #[error("redis refused {what} after {loaded} keys were loaded: {message}")]
    Refused {
        /// The command and key (shortened).
        what: String,
        /// Keys loaded before it.
        loaded: u64,
        /// The server's error.
        message: String,
    },
    /// The connection failed mid-load; what was acknowledged before stays loaded.
    #[error("the connection failed after {loaded} keys were loaded")]
    Connection {
        /// Keys acknowledged before.
        loaded: u64,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server sent something that is not a reply.
    #[error("malformed reply from redis during the load")]
    Protocol(#[source] ProtocolError),
    /// The server stopped answering.
    #[error("redis did not answer for {0:?} during the load")]
    Stalled(Duration),
}

/// A verified RDB file in a private temporary file, deleted when this is dropped.
#[derive(Debug)]
pub struct Verified {
    spool: Spool,
    /// The file's sha256 (lowercase hex).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// What the verifier found: RDB version, keys per database, checksum.
    pub summary: rdb::Summary,
}

impl Verified {
    /// The temporary file.
    pub fn path(&self) -> &Path {
        &self.spool.path
    }
}

/// A temporary file only this process's user can read, removed on drop.
#[derive(Debug)]
struct Spool {
    path: PathBuf,
}

impl Spool {
    fn create() -> Result<(Spool, File), RestoreError> {
        let name = format!(
            "terraform-provider-redis-restore-{}-{:016x}.rdb",
            std::process::id(),
            rand::random::<u64>()
        );
        let path = std::env::temp_dir().join(name);
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|source| RestoreError::Spool {
            path: path.clone(),
            source,
        })?;
        Ok((Spool { path }, file))
    }

    fn error(&self, source: std::io::Error) -> RestoreError {
        RestoreError::Spool {
            path: self.path.clone(),
            source,
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "temporary file not removed");
        }
    }
}

/// Where the object's (decompressed) bytes go as they arrive: the hash, the spool file,
/// and a buffer of what the verifier has not been fed yet.
struct Sink {
    hash: Sha256,
    size: u64,
    file: std::io::BufWriter<File>,
    unverified: Vec<u8>,
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        self.hash.update(bytes);
        self.unverified.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The spool's writer: the RDB file as it comes, or decompressed from zstd.
enum Out {
    Plain(Sink),
    Zstd(Box<zstd::stream::write::Decoder<'static, Sink>>),
}

impl Out {
    /// For `sink`, by the stream's first bytes.
    fn by_head(head: &[u8], sink: Sink) -> std::io::Result<Out> {
        Ok(if head.starts_with(&ZSTD_MAGIC) {
            Out::Zstd(Box::new(zstd::stream::write::Decoder::new(sink)?))
        } else {
            Out::Plain(sink)
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Out::Plain(s) => s.write_all(bytes),
            Out::Zstd(d) => d.write_all(bytes),
        }
    }

    fn sink(&mut self) -> &mut Sink {
        match self {
            Out::Plain(s) => s,
            Out::Zstd(d) => d.get_mut(),
        }
    }

    /// The sink, once a zstd stream has been decoded to its end.
    fn finish(self) -> std::io::Result<Sink> {
        match self {
            Out::Plain(s) => Ok(s),
            Out::Zstd(mut d) => {
                d.flush()?;
                Ok(d.into_inner())
            }
        }
    }
}

/// The RDB verifier, fed on its own thread while the file arrives; its first error.
struct Verifying {
    verifier: rdb::StreamVerifier,
    failed: Option<RdbError>,
}

impl Verifying {
    async fn feed(&mut self, sink: &mut Sink) {
        let bytes = std::mem::take(&mut sink.unverified);
        // A corrupt file is still read to its end: a wrong sha256 says more.
        if self.failed.is_none() && !bytes.is_empty() {
            if let Err(e) = self.verifier.feed(bytes::Bytes::from(bytes)).await {
                self.failed = Some(e);
            }
        }
    }

    async fn finish(self) -> Result<rdb::Summary, RdbError> {
        match self.failed {
            Some(e) => Err(e),
            None => self.verifier.finish().await,
        }
    }
}

/// Reads the object `url` from `chunks` to its end into a temporary file, hashing and
/// verifying the RDB file (structure and CRC64, on another thread) on the way; a
/// zstd-compressed object, as `redis_backup` with `compression = "zstd"` writes, is
/// decompressed first: its sha256 is the RDB file's. The file is kept only when its
/// sha256 is `expected` and it is a valid RDB file. Memory stays flat whatever its size.
pub async fn spool_verified<S, E>(
    url: &str,
    mut chunks: S,
    expected: &str,
) -> Result<Verified, RestoreError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    use futures::StreamExt;
    tracing::info!(%url, "restore: reading the file");
    let (spool, file) = Spool::create()?;
    let mut sink = Some(Sink {
        hash: Sha256::new(),
        size: 0,
        file: std::io::BufWriter::with_capacity(256 * 1024, file),
        unverified: Vec::new(),
    });
    let mut verifying = Verifying {
        verifier: rdb::StreamVerifier::start(),
        failed: None,
    };
    let read = |e: Box<dyn std::error::Error + Send + Sync>| RestoreError::Read {
        url: url.to_string(),
        source: e,
    };
    let mut out: Option<Out> = None;
    let mut head: Vec<u8> = Vec::new();
    loop {
        let chunk = chunks
            .next()
            .await
            .transpose()
            .map_err(|e| read(Box::new(e)))?;
        if out.is_none() {
            // The first bytes say whether the stream is zstd.
            let end = chunk.is_none();
            head.extend_from_slice(chunk.as_deref().unwrap_or_default());
            if head.len() < ZSTD_MAGIC.len() && !end {
                continue;
            }
            let s = sink
                .take()
                .ok_or_else(|| spool.error(std::io::Error::other("no sink")))?;
            let mut o = Out::by_head(&head, s).map_err(|e| spool.error(e))?;
            o.write_all(&std::mem::take(&mut head))
                .map_err(|e| spool.error(e))?;
            verifying.feed(o.sink()).await;
            out = Some(o);
            if end {
                break;
            }
            continue;
        }
        let (Some(o), Some(chunk)) = (out.as_mut(), chunk) else {
            break;
        };
        o.write_all(&chunk).map_err(|e| spool.error(e))?;
        verifying.feed(o.sink()).await;
    }
    let o = out.ok_or_else(|| spool.error(std::io::Error::other("no output")))?;
    // A truncated or damaged zstd stream fails here.
    let mut sink = o.finish().map_err(|e| read(Box::new(e)))?;
    verifying.feed(&mut sink).await;
    sink.flush().map_err(|e| spool.error(e))?;
    let found = crate::digest::hex(&sink.hash.finalize_reset());
    if found != expected.to_ascii_lowercase() {
        return Err(RestoreError::Sha256Mismatch {
            url: url.to_string(),
            expected: expected.to_string(),
            found,
        });
    }
    let summary = verifying
        .finish()
        .await
        .map_err(|source| RestoreError::Corrupt {
            url: url.to_string(),
            source,
        })?;
    let Sink { size, file, .. } = sink;
    file.into_inner()
        .map_err(|e| spool.error(e.into_error()))?
        .sync_all()
        .map_err(|e| spool.error(e))?;
    tracing::info!(%url, size, rdb_version = summary.rdb_version, "restore: file verified");
    Ok(Verified {
        spool,
        sha256: found,
        size,
        summary,
    })
}

/// The RDB version in an RDB file's first bytes (`REDIS0011`, `VALKEY080`), decompressed
/// first when they are a zstd frame; None when they are not an RDB header.
pub fn header_rdb_version(head: &[u8]) -> Option<u32> {
    let mut plain = Vec::new();
    let head = if head.starts_with(&ZSTD_MAGIC) {
        // Only the first bytes are needed: a truncated frame is fine.
        let mut d = zstd::stream::read::Decoder::new(head).ok()?;
        let mut buf = [0u8; 16];
        let mut n = 0;
        while n < buf.len() {
            match std::io::Read::read(&mut d, &mut buf[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        plain.extend_from_slice(&buf[..n]);
        &plain[..]
    } else {
        head
    };
    rdb::header_version(head)
}

/// What a load did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Keys written.
    pub keys: u64,
    /// Keys of the file already expired, not written.
    pub expired: u64,
    /// Function libraries restored (0 or the file's).
    pub function_libraries: u64,
}

/// How the load is pipelined.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Bytes of commands sent and not yet answered, at most (a larger single command
    /// goes alone).
    pub bytes: usize,
    /// Commands sent and not yet answered, at most.
    pub commands: usize,
    /// How long the server may stay silent while commands are in flight.
    pub stall: Duration,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            bytes: 8 * 1024 * 1024,
            commands: 4096,
            stall: Duration::from_secs(60),
        }
    }
}

/// One thing the loader sends.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A function library (FUNCTION RESTORE payload).
    Functions(Vec<u8>),
    /// A key.
    Key(rdb::Entry),
}

/// The checks before anything is written: the server loads this RDB version and has
/// every database the file uses. `server` is INFO's name and version
/// (`redis 7.2.4`, `valkey 8.0.1`).
pub async fn check_target<S: Transport>(
    conn: &mut RedisConn<S>,
    summary: &rdb::Summary,
) -> Result<(), RestoreError> {
    let info = conn.info("server").await?;
    let valkey = info.get("valkey_version").is_some();
    if let Some(version) = info.server_version() {
        let server = crate::redis::versions::of_version(valkey, version);
        if let Some(loads) = server.and_then(|s| s.rdb_version()) {
            if summary.rdb_version > loads {
                return Err(RestoreError::TooNew {
                    file: summary.rdb_version,
                    server: format!("{} {version}", if valkey { "Valkey" } else { "Redis" }),
                    loads,
                });
            }
        }
    }
    if let Some(db) = summary.keys_per_db.keys().max().copied() {
        let databases = conn
            .config_get("databases")
            .await?
            .get("databases")
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(16);
        if db >= databases {
            return Err(RestoreError::NoSuchDatabase {
                db,
                last: databases.saturating_sub(1),
            });
        }
    }
    Ok(())
}

/// Loads the verified file into the server behind `conn` (the primary, as a user allowed
/// RESTORE, FUNCTION RESTORE and SELECT), after [`check_target`].
pub async fn load<S: Transport + 'static>(
    mut conn: RedisConn<S>,
    verified: &Verified,
    window: Window,
) -> Result<Loaded, RestoreError> {
    check_target(&mut conn, &verified.summary).await?;
    let path = verified.path().to_path_buf();
    let (tx, rx) = mpsc::channel::<Vec<Item>>(16);
    let parser = tokio::task::spawn_blocking(move || -> Result<(), RestoreError> {
        let file = File::open(&path).map_err(|source| RestoreError::Spool {
            path: path.clone(),
            source,
        })?;
        let mut visitor = Forward {
            tx,
            stopped: false,
            batch: Vec::new(),
            batch_bytes: 0,
        };
        rdb::parse(BufReader::with_capacity(256 * 1024, file), &mut visitor).map_err(|source| {
            RestoreError::Corrupt {
                url: path.display().to_string(),
                source,
            }
        })?;
        visitor
            .send_batch()
            .map_err(|source| RestoreError::Corrupt {
                url: path.display().to_string(),
                source,
            })?;
        Ok(())
    });
    let loaded = pipeline(conn, rx, window).await;
    let parsed = parser.await.map_err(|e| RestoreError::Spool {
        path: verified.path().to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    let loaded = loaded?;
    parsed?;
    Ok(loaded)
}

/// Payload bytes the parser gathers before handing a batch to the loader: the loader
/// then writes large buffers (a write per small key costs a frame each on a
/// port-forward).
const BATCH_BYTES: usize = 128 * 1024;

/// The parser's visitor: every key and function library, with its payload, to the
/// loader, in batches.
struct Forward {
    tx: mpsc::Sender<Vec<Item>>,
    /// The loader stopped (an error): the parse stops too.
    stopped: bool,
    batch: Vec<Item>,
    batch_bytes: usize,
}

impl Forward {
    fn send(&mut self, item: Item, bytes: usize) -> Result<(), RdbError> {
        self.batch.push(item);
        self.batch_bytes += bytes + 64;
        if self.batch_bytes >= BATCH_BYTES {
            self.send_batch()?;
        }
        Ok(())
    }

    fn send_batch(&mut self) -> Result<(), RdbError> {
        self.batch_bytes = 0;
        let batch = std::mem::take(&mut self.batch);
        if !batch.is_empty() && self.tx.blocking_send(batch).is_err() {
            self.stopped = true;
            return Err(RdbError::visitor("the load stopped"));
        }
        Ok(())
    }
}

impl rdb::Visitor for Forward {
    fn wants_payloads(&self) -> bool {
        !self.stopped
    }

    fn entry(&mut self, entry: rdb::Entry) -> Result<(), RdbError> {
        let bytes = entry.key.len() + entry.restore_payload.as_ref().map_or(0, Vec::len);
        self.send(Item::Key(entry), bytes)
    }

    fn function(&mut self, library: rdb::FunctionLibrary) -> Result<(), RdbError> {
        let bytes = library.payload.len();
        self.send(Item::Functions(library.payload), bytes)
    }
}

/// What a reply answers.
#[derive(Debug)]
enum Sent {
    Select,
    Functions,
    Key(String),
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A key as an error shows it: lossy UTF-8, at most 64 characters.
fn shown(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(key);
    let mut s: String = text.chars().take(64).collect();
    if text.chars().count() > 64 {
        s.push('…');
    }
    s
}

/// Encodes `item` (switching to its database first) into `out`; what each command is.
fn encode(item: Item, db: &mut Option<u32>, out: &mut Vec<u8>) -> Vec<Sent> {
    let mut sent = Vec::with_capacity(2);
    match item {
        Item::Functions(payload) => {
            resp::encode_command(&[&b"FUNCTION"[..], b"RESTORE", &payload, b"REPLACE"], out);
            sent.push(Sent::Functions);
        }
        Item::Key(e) => {
            if *db != Some(e.db) {
                resp::encode_command(&["SELECT", &e.db.to_string()], out);
                sent.push(Sent::Select);
                *db = Some(e.db);
            }
            let ttl = e.expire_at_ms.unwrap_or(0).to_string();
            let payload = e.restore_payload.as_deref().unwrap_or_default();
            let mut args: Vec<&[u8]> =
                vec![b"RESTORE", &e.key, ttl.as_bytes(), payload, b"REPLACE"];
            if e.expire_at_ms.is_some() {
                args.push(b"ABSTTL");
            }
            let idle = e.idle.map(|s| s.to_string());
            let freq = e.freq.map(|f| f.to_string());
            if let Some(idle) = &idle {
                args.extend([&b"IDLETIME"[..], idle.as_bytes()]);
            } else if let Some(freq) = &freq {
                args.extend([&b"FREQ"[..], freq.as_bytes()]);
            }
            resp::encode_command(&args, out);
            sent.push(Sent::Key(shown(&e.key)));
        }
    }
    sent
}

/// Sends what `items` brings (in batches) over the connection with a bounded window of
/// commands in flight, and reads the replies at the same time.
pub async fn pipeline<S: Transport + 'static>(
    conn: RedisConn<S>,
    mut items: mpsc::Receiver<Vec<Item>>,
    window: Window,
) -> Result<Loaded, RestoreError> {
    let (stream, leftover) = conn.into_parts();
    let (mut reader, mut writer) = tokio::io::split(stream);
    // Window permits are KiB of commands in flight, and one per command.
    let kib = (window.bytes / 1024).max(1) as u32;
    let bytes = Arc::new(Semaphore::new(kib as usize));
    let most = window.commands.max(1) as u32;
    let commands = Arc::new(Semaphore::new(most as usize));
    // What each reply answers, and the permits it gives back (bytes, commands).
    let (queue_tx, mut queue_rx) = mpsc::unbounded_channel::<(Sent, u32, u32)>();
    let mut loaded = Loaded::default();

    let send = {
        let (bytes, commands) = (bytes.clone(), commands.clone());
        async move {
            let mut db = None;
            let mut out = Vec::with_capacity(512 * 1024);
            let mut expired = 0u64;
            let now = now_ms();
            'batches: while let Some(batch) = items.recv().await {
                for item in batch {
                    if let Item::Key(e) = &item {
                        if e.expire_at_ms.is_some_and(|at| at <= now) {
                            expired += 1;
                            continue;
                        }
                    }
                    let start = out.len();
                    let sent = encode(item, &mut db, &mut out);
                    let cost = (((out.len() - start) / 1024) as u32 + 1).min(kib);
                    let n = (sent.len() as u32).min(most);
                    // Commands encoded but not sent yet go out before waiting for room.
                    let room = |b: &Arc<Semaphore>, c: &Arc<Semaphore>| {
                        b.available_permits() >= cost as usize
                            && c.available_permits() >= n as usize
                    };
                    if !room(&bytes, &commands) && out.len() > start {
                        writer.write_all(&out[..start]).await?;
                        writer.flush().await?;
                        out.drain(..start);
                    }
                    let (Ok(b), Ok(c)) = (
                        bytes.clone().acquire_many_owned(cost).await,
                        commands.clone().acquire_many_owned(n).await,
                    ) else {
                        break 'batches; // the reader failed
                    };
                    b.forget();
                    c.forget();
                    let mut first = true;
                    for s in sent {
                        let back = if first { (cost, n) } else { (0, 0) };
                        let _ = queue_tx.send((s, back.0, back.1));
                        first = false;
                    }
                    if out.len() >= 256 * 1024 {
                        writer.write_all(&out).await?;
                        writer.flush().await?;
                        out.clear();
                    }
                }
                // Send when nothing else is ready.
                if !out.is_empty() && items.is_empty() {
                    writer.write_all(&out).await?;
                    writer.flush().await?;
                    out.clear();
                }
            }
            if !out.is_empty() {
                writer.write_all(&out).await?;
                writer.flush().await?;
            }
            Ok::<_, std::io::Error>(expired)
        }
    };

    let receive = async {
        let mut buf = leftover;
        let mut pos = 0usize;
        let mut chunk = vec![0u8; 64 * 1024];
        let outcome: Result<(), RestoreError> = 'read: loop {
            let Some((sent, cost, n)) = queue_rx.recv().await else {
                break 'read Ok(());
            };
            let reply = loop {
                match resp::parse_reply(&buf[pos..]) {
                    Err(e) => break 'read Err(RestoreError::Protocol(e)),
                    Ok(Some((reply, used))) => {
                        pos += used;
                        break reply;
                    }
                    Ok(None) => {}
                }
                if pos > 0 {
                    buf.drain(..pos);
                    pos = 0;
                }
                let read = tokio::time::timeout(window.stall, reader.read(&mut chunk)).await;
                match read {
                    Err(_) => break 'read Err(RestoreError::Stalled(window.stall)),
                    Ok(Err(source)) => {
                        break 'read Err(RestoreError::Connection {
                            loaded: loaded.keys,
                            source,
                        })
                    }
                    Ok(Ok(0)) => {
                        break 'read Err(RestoreError::Connection {
                            loaded: loaded.keys,
                            source: std::io::ErrorKind::UnexpectedEof.into(),
                        })
                    }
                    Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            bytes.add_permits(cost as usize);
            commands.add_permits(n as usize);
            match (sent, reply) {
                (Sent::Key(_), Reply::Simple(s)) if s == "OK" => loaded.keys += 1,
                (Sent::Functions, Reply::Simple(s)) if s == "OK" => loaded.function_libraries += 1,
                (Sent::Select, Reply::Simple(s)) if s == "OK" => {}
                (sent, reply) => {
                    let what = match sent {
                        Sent::Select => "SELECT".to_string(),
                        Sent::Functions => "FUNCTION RESTORE".to_string(),
                        Sent::Key(k) => format!("RESTORE of key {k:?}"),
                    };
                    let message = match reply {
                        Reply::Error(m) => m,
                        other => format!("unexpected reply {}", other.kind()),
                    };
                    break 'read Err(RestoreError::Refused {
                        what,
                        loaded: loaded.keys,
                        message,
                    });
                }
            }
        };
        // The sender must not wait for permits that will never come back.
        bytes.close();
        commands.close();
        outcome
    };

    let (sent, received) = tokio::join!(send, receive);
    received?;
    loaded.expired = sent.map_err(|source| RestoreError::Connection {
        loaded: loaded.keys,
        source,
    })?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::Auth;
    use tokio::io::duplex;

    /// A server that records every command and answers `+OK` (`+PONG` to PING), or an
    /// error to a RESTORE of the key `bad`.
    fn fake_server(stream: tokio::io::DuplexStream) -> tokio::task::JoinHandle<Vec<Vec<String>>> {
        tokio::spawn(async move {
            let (mut rd, mut wr) = tokio::io::split(stream);
            let mut seen = Vec::new();
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 4096];
            loop {
                while let Ok(Some((Reply::Array(args), used))) = resp::parse_reply(&buf) {
                    buf.drain(..used);
                    let args: Vec<String> = args
                        .iter()
                        .map(|a| a.as_text().unwrap_or_default())
                        .collect();
                    let answer: &[u8] = match (args[0].as_str(), args.get(1).map(String::as_str)) {
                        ("PING", _) => b"+PONG\r\n",
                        ("INFO", _) => b"$21\r\nredis_version:7.2.4\r\n\r\n",
                        ("CONFIG", _) => b"*2\r\n$9\r\ndatabases\r\n$1\r\n4\r\n",
                        ("RESTORE", Some("bad")) => b"-ERR Bad data format\r\n",
                        _ => b"+OK\r\n",
                    };
                    seen.push(args);
                    if wr.write_all(answer).await.is_err() {
                        return seen;
                    }
                }
                match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => return seen,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        })
    }

    fn key(db: u32, name: &str, expire_at_ms: Option<i64>) -> Item {
        Item::Key(rdb::Entry {
            db,
            key: name.as_bytes().to_vec(),
            expire_at_ms,
            idle: None,
            freq: None,
            restore_payload: Some(b"payload".to_vec()),
        })
    }

    async fn run(
        items: Vec<Item>,
        window: Window,
    ) -> (Result<Loaded, RestoreError>, Vec<Vec<String>>) {
        let (client, server) = duplex(64 * 1024);
        let server = fake_server(server);
        let conn = RedisConn::handshake(client, None::<Auth>, Duration::from_secs(5))
            .await
            .unwrap();
        let (tx, rx) = mpsc::channel(4);
        let feed = tokio::spawn(async move {
            for item in items {
                if tx.send(vec![item]).await.is_err() {
                    break;
                }
            }
        });
        let loaded = pipeline(conn, rx, window).await;
        feed.await.unwrap();
        (loaded, server.await.unwrap())
    }

    #[tokio::test]
    async fn a_load_selects_each_database_once_restores_with_absolute_ttls_and_skips_expired_keys()
    {
        let later = now_ms() + 3_600_000;
        let mut lru = key(2, "idle", None);
        if let Item::Key(e) = &mut lru {
            e.idle = Some(5);
        }
        let items = vec![
            Item::Functions(b"lib".to_vec()),
            key(0, "a", None),
            key(0, "b", Some(later)),
            key(0, "gone", Some(1_000)),
            lru,
        ];
        let (loaded, seen) = run(items, Window::default()).await;
        assert_eq!(
            loaded.unwrap(),
            Loaded {
                keys: 3,
                expired: 1,
                function_libraries: 1
            }
        );
        let later = later.to_string();
        let want: Vec<Vec<&str>> = vec![
            vec!["PING"],
            vec!["FUNCTION", "RESTORE", "lib", "REPLACE"],
            vec!["SELECT", "0"],
            vec!["RESTORE", "a", "0", "payload", "REPLACE"],
            vec!["RESTORE", "b", &later, "payload", "REPLACE", "ABSTTL"],
            vec!["SELECT", "2"],
            vec![
                "RESTORE", "idle", "0", "payload", "REPLACE", "IDLETIME", "5",
            ],
        ];
        assert_eq!(seen, want);
    }

    #[tokio::test]
    async fn a_window_of_one_command_still_loads_everything() {
        let items: Vec<Item> = (0..2000)
            .map(|i| key(i % 3, &format!("k{i}"), None))
            .collect();
        let window = Window {
            bytes: 1024,
            commands: 1,
            stall: Duration::from_secs(5),
        };
        let (loaded, seen) = run(items, window).await;
        assert_eq!(loaded.unwrap().keys, 2000);
        assert_eq!(seen.iter().filter(|c| c[0] == "RESTORE").count(), 2000);
    }

    #[tokio::test]
    async fn a_refused_key_stops_the_load_and_says_how_many_were_loaded_before() {
        let mut items: Vec<Item> = (0..10).map(|i| key(0, &format!("k{i}"), None)).collect();
        items.push(key(0, "bad", None));
        items.extend((0..10).map(|i| key(0, &format!("after{i}"), None)));
        let (loaded, _) = run(items, Window::default()).await;
        match loaded {
            Err(RestoreError::Refused {
                what,
                loaded,
                message,
            }) => {
                assert_eq!(what, "RESTORE of key \"bad\"");
                assert_eq!(loaded, 10);
                assert_eq!(message, "ERR Bad data format");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_file_newer_than_the_server_or_with_a_database_it_lacks_is_refused_before_any_write()
    {
        let check = |rdb_version: u32, db: u32| async move {
            let (client, server) = duplex(64 * 1024);
            let server = fake_server(server);
            let mut conn = RedisConn::handshake(client, None::<Auth>, Duration::from_secs(5))
                .await
                .unwrap();
            let summary = rdb::Summary {
                rdb_version,
                keys_per_db: [(db, 1)].into_iter().collect(),
                ..rdb::Summary::default()
            };
            let checked = check_target(&mut conn, &summary).await;
            drop(conn);
            let seen = server.await.unwrap();
            assert!(
                seen.iter().all(|c| c[0] != "RESTORE" && c[0] != "SELECT"),
                "{seen:?}"
            );
            checked
        };
        match check(12, 0).await {
            Err(RestoreError::TooNew {
                file: 12,
                loads: 11,
                server,
            }) => assert_eq!(server, "Redis 7.2.4"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check(11, 4).await,
            Err(RestoreError::NoSuchDatabase { db: 4, last: 3 })
        ));
        assert!(check(11, 3).await.is_ok());
        assert!(check(9, 0).await.is_ok(), "older files load");
    }

    #[test]
    fn the_rdb_version_comes_from_the_first_bytes_plain_or_zstd() {
        assert_eq!(header_rdb_version(b"REDIS0012\xfa\x09redis-ver"), Some(12));
        assert_eq!(header_rdb_version(b"VALKEY080\xfa"), Some(80));
        assert_eq!(header_rdb_version(b"REDIS"), None);
        assert_eq!(header_rdb_version(b"PK\x03\x04"), None);
        let packed = zstd::encode_all(&b"REDIS0011\xfa\x09redis-ver\x057.2.4"[..], 3).unwrap();
        assert_eq!(
            header_rdb_version(&packed[..packed.len() / 2 + 8]),
            Some(11)
        );
    }

    #[tokio::test]
    async fn a_wrong_sha256_or_a_corrupt_file_is_refused_and_leaves_no_temporary_file() {
        let mut file = b"REDIS0011\xff".to_vec();
        let crc = rdb::crc64(0, &file);
        file.extend_from_slice(&crc.to_le_bytes());
        let chunks = |bytes: Vec<u8>| {
            futures::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))])
        };
        let good = crate::digest::sha256_hex(&file);
        let ok = spool_verified("file:///ok.rdb", chunks(file.clone()), &good)
            .await
            .unwrap();
        assert_eq!((ok.summary.rdb_version, ok.size), (11, 18));
        let path = ok.path().to_path_buf();
        assert!(path.exists());
        drop(ok);
        assert!(!path.exists(), "the spool goes with the value");

        let wrong = "0".repeat(64);
        let e = spool_verified("file:///ok.rdb", chunks(file.clone()), &wrong)
            .await
            .unwrap_err();
        assert!(
            matches!(e, RestoreError::Sha256Mismatch { ref found, .. } if *found == good),
            "{e}"
        );

        let mut bad = file.clone();
        bad[17] ^= 1; // the CRC
        let e = spool_verified(
            "file:///bad.rdb",
            chunks(bad.clone()),
            &crate::digest::sha256_hex(&bad),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, RestoreError::Corrupt { .. }), "{e}");

        let packed = zstd::encode_all(&file[..], 3).unwrap();
        let ok = spool_verified("file:///ok.rdb.zst", chunks(packed), &good)
            .await
            .unwrap();
        assert_eq!(
            ok.sha256, good,
            "the sha256 of the RDB file, not of its compressed form"
        );
    }
}
