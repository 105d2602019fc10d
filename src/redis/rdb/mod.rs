//! RDB files, read in one pass: a streaming parser and verifier for what Redis 7.0
//! (RDB 10), 7.2 and Valkey 8 (11), 7.4 (12) and Valkey 9 (80, `VALKEY` magic) write,
//! and for older files (RDB 1 to 9, e.g. a `dump.rdb` from a Redis 6 deployment).
//!
//! [`parse`] walks every opcode (AUX, SELECTDB, RESIZEDB, EXPIRETIME and EXPIRETIME_MS,
//! IDLE, FREQ, MODULE_AUX, FUNCTION2, Redis 7.4's and Valkey 9's SLOT_INFO, Valkey 9's
//! SLOT_IMPORT, EOF) and every value type (strings with their integer and LZF encodings;
//! lists, quicklists and their ziplist/listpack nodes; sets, intsets and set listpacks;
//! sorted sets; hashes, zipmaps, listpacks, and hashes with field TTLs in Redis 7.4's and
//! Valkey 9's forms; streams of all three layouts with consumer groups and PELs; module
//! values), validates the packed encodings inside them the way the server's own loader
//! does with deep sanitisation (`redis-check-rdb` runs that way), and checks the CRC-64
//! trailer ([`crc64()`]). Module values are checked for structure only (their module
//! reads them; we cannot), as `redis-check-rdb` does.
//!
//! It never buffers the file: strings are streamed (LZF data is checked without being
//! decompressed), only keys and packed blobs (listpacks, intsets: small by the servers'
//! own limits) are held, one at a time, and no allocation follows a length the input
//! announces before the bytes are really there. It never panics (fuzzed: `tests/fuzz`).
//!
//! A [`Visitor`] sees each key ([`Entry`]) and each function library
//! ([`FunctionLibrary`]). When it asks for payloads, each entry carries exactly the bytes
//! `DUMP` returns for that key on a server of the file's RDB version, and each library the
//! bytes `FUNCTION DUMP` returns for it, so `RESTORE` / `FUNCTION RESTORE` load them.
//!
//! [`StreamVerifier`] runs the same parser over chunks pushed from async code (the backup
//! pipeline), with bounded memory.
//!
//! Compared with `redis-check-rdb` (which `tests/rdb_check.rs` runs on mutated dumps), this
//! parser is stricter in these ways, each deliberate: bytes after the checksum trailer are
//! refused; a file may use only the value types and opcodes its own RDB version defines;
//! a module value's unknown opcodes are refused (the checker skips them).
//!
//! ```
//! use terraform_provider_redis::redis::rdb::{self, NoVisitor};
//!
//! // The smallest RDB 11 file: header, EOF, checksum.
//! let mut file = b"REDIS0011\xff".to_vec();
//! let crc = rdb::crc64(0, &file);
//! file.extend_from_slice(&crc.to_le_bytes());
//! let summary = rdb::parse(&file[..], &mut NoVisitor).unwrap();
//! assert_eq!((summary.rdb_version, summary.keys, summary.checksum), (11, 0, Some(crc)));
//! ```

pub mod crc64;
mod encodings;
mod input;
mod parser;
mod stream;
#[cfg(test)]
mod tests;
pub mod write;

use std::collections::BTreeMap;
use std::io::Read;

pub use crc64::crc64;
pub use stream::StreamVerifier;

/// Which magic string the file starts with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Magic {
    /// `REDIS` + 4 digits (Redis, and Valkey up to 8).
    #[default]
    Redis,
    /// `VALKEY` + 3 digits (Valkey 9 on).
    Valkey,
}

/// What a parse found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The magic string.
    pub magic: Magic,
    /// The RDB version in the header.
    pub rdb_version: u32,
    /// AUX `redis-ver`: the server version that wrote the file.
    pub redis_ver: Option<String>,
    /// AUX `valkey-ver` (Valkey 8 on).
    pub valkey_ver: Option<String>,
    /// AUX `redis-bits` (32 or 64).
    pub redis_bits: Option<i64>,
    /// AUX `ctime`: when the file was written (Unix seconds).
    pub ctime: Option<i64>,
    /// AUX `used-mem`: the server's memory use when it wrote the file (bytes).
    pub used_mem: Option<i64>,
    /// Keys per database number.
    pub keys_per_db: BTreeMap<u32, u64>,
    /// Keys in all databases.
    pub keys: u64,
    /// Keys with an expiration time.
    pub expiring_keys: u64,
    /// Function libraries (FUNCTION2 records).
    pub function_libraries: u64,
    /// The CRC-64 trailer, verified; None when the file has none (RDB < 5) or it is
    /// zero, which is how a server with `rdbchecksum no` says checksums were off.
    pub checksum: Option<u64>,
    /// The trailer was zero: the writer had checksums off, so none was checked.
    pub checksum_disabled: bool,
    /// Bytes read: the whole file.
    pub bytes_read: u64,
}

/// One key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its database number.
    pub db: u32,
    /// The key.
    pub key: Vec<u8>,
    /// Absolute expiration time, Unix milliseconds.
    pub expire_at_ms: Option<i64>,
    /// LRU idle time in seconds, when the file carries it (`maxmemory-policy` *-lru).
    pub idle: Option<u64>,
    /// LFU frequency, when the file carries it (`maxmemory-policy` *-lfu).
    pub freq: Option<u8>,
    /// When [`Visitor::wants_payloads`]: what `DUMP` returns for this key on a server of
    /// the file's RDB version (value type, the value's encoding as stored, the RDB
    /// version as 2 bytes little-endian, the CRC-64 of all that little-endian), for
    /// `RESTORE key ttl payload REPLACE ABSTTL [IDLETIME s | FREQ f]`.
    pub restore_payload: Option<Vec<u8>>,
}

/// One function library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionLibrary {
    /// What `FUNCTION DUMP` returns for this library alone (empty unless
    /// [`Visitor::wants_payloads`]), for `FUNCTION RESTORE`.
    pub payload: Vec<u8>,
}

/// Sees what a parse finds, in file order. An error returned stops the parse with it.
pub trait Visitor {
    /// Whether entries and libraries should carry their payloads (costs a copy of each
    /// value while it is read).
    fn wants_payloads(&self) -> bool {
        false
    }

    /// A key.
    fn entry(&mut self, _entry: Entry) -> Result<(), RdbError> {
        Ok(())
    }

    /// A function library.
    fn function(&mut self, _library: FunctionLibrary) -> Result<(), RdbError> {
        Ok(())
    }
}

/// A visitor that wants nothing: verification only.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoVisitor;

impl Visitor for NoVisitor {}

impl Visitor for () {}

/// A visitor that keeps every entry, with its payload, and every library: for tests and
/// small files (it holds the whole dataset in memory).
#[derive(Clone, Debug, Default)]
pub struct Collect {
    /// The keys, in file order.
    pub entries: Vec<Entry>,
    /// The function libraries, in file order.
    pub libraries: Vec<FunctionLibrary>,
}

impl Visitor for Collect {
    fn wants_payloads(&self) -> bool {
        true
    }

    fn entry(&mut self, entry: Entry) -> Result<(), RdbError> {
        self.entries.push(entry);
        Ok(())
    }

    fn function(&mut self, library: FunctionLibrary) -> Result<(), RdbError> {
        self.libraries.push(library);
        Ok(())
    }
}

/// Why a file was refused. Offsets are byte offsets from the start of the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RdbError {
    /// Reading the source failed.
    #[error("i/o error at byte {offset}: {message}")]
    Io {
        /// Offset reached.
        offset: u64,
        /// The error's kind.
        kind: std::io::ErrorKind,
        /// The error.
        message: String,
    },
    /// The input ended inside the file.
    #[error("unexpected end of input at byte {offset} while reading {context}")]
    Truncated {
        /// Where it ended.
        offset: u64,
        /// What was being read.
        context: &'static str,
    },
    /// Not an RDB file.
    #[error("not an rdb file: the first bytes are {found:?}, not REDIS or VALKEY (at byte 0)")]
    BadMagic {
        /// The bytes found.
        found: String,
    },
    /// An RDB version this parser does not know: refused, never passed.
    #[error(
        "unsupported rdb version {version:?} at byte {offset} (known: REDIS 1 to 12, VALKEY 80)"
    )]
    UnsupportedVersion {
        /// Offset of the version digits.
        offset: u64,
        /// The version digits.
        version: String,
    },
    /// A byte that is neither an opcode nor a value type of the file's version.
    #[error("unknown opcode or value type {byte} at byte {offset} for rdb version {version}")]
    UnknownType {
        /// Its offset.
        offset: u64,
        /// The byte.
        byte: u8,
        /// The file's RDB version.
        version: u32,
    },
    /// A length prefix with an undefined encoding.
    #[error("invalid length encoding {byte:#04x} at byte {offset}")]
    BadLength {
        /// Its offset.
        offset: u64,
        /// The byte.
        byte: u8,
    },
    /// A structure that is not what its type requires.
    #[error("corrupt {what} at byte {offset}")]
    Corrupt {
        /// Offset of the structure (a value, a string, an opcode).
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A key whose value has no elements (servers never write one; they refuse it).
    #[error("empty {what} value at byte {offset}")]
    EmptyValue {
        /// Offset of the value.
        offset: u64,
        /// The value's type.
        what: &'static str,
    },
    /// A string or blob larger than this parser holds in memory.
    #[error("{what} of {len} bytes at byte {offset} is over the {limit} byte limit")]
    TooLarge {
        /// Its offset.
        offset: u64,
        /// What it is.
        what: &'static str,
        /// Its announced length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A construct the servers themselves refuse to load.
    #[error("{what} at byte {offset} is not supported")]
    Unsupported {
        /// Its offset.
        offset: u64,
        /// What it is.
        what: &'static str,
    },
    /// The CRC-64 trailer does not match the content.
    #[error("checksum mismatch at byte {offset}: the file says {stored:#018x}, its content hashes to {computed:#018x}")]
    ChecksumMismatch {
        /// Offset of the trailer.
        offset: u64,
        /// The trailer.
        stored: u64,
        /// The content's CRC-64.
        computed: u64,
    },
    /// Bytes after the checksum trailer.
    #[error("trailing bytes after the end of the rdb file at byte {offset}")]
    TrailingBytes {
        /// Offset of the first one.
        offset: u64,
    },
    /// The visitor stopped the parse.
    #[error("stopped by the visitor: {message}")]
    Visitor {
        /// Its reason.
        message: String,
    },
    /// The background parse of a [`StreamVerifier`] ended abnormally.
    #[error("the rdb verifier task ended abnormally: {message}")]
    Aborted {
        /// What happened.
        message: String,
    },
}

impl RdbError {
    /// A visitor's reason to stop.
    pub fn visitor(message: impl Into<String>) -> Self {
        RdbError::Visitor {
            message: message.into(),
        }
    }
}

/// Parses and verifies a whole RDB file from `reader`, calling `visitor` for each key and
/// function library, and returns what it found. Synchronous; see [`StreamVerifier`] for
/// async producers.
pub fn parse<R: Read>(reader: R, visitor: &mut impl Visitor) -> Result<Summary, RdbError> {
    parser::run(reader, visitor)
}

/// [`parse`] with no visitor: verification only.
pub fn verify<R: Read>(reader: R) -> Result<Summary, RdbError> {
    parse(reader, &mut NoVisitor)
}

/// The RDB version an uncompressed file's first bytes name (`REDIS` and 4 digits, or
/// `VALKEY` and 3), known to the parser or not; `None` when they name none.
pub fn header_version(head: &[u8]) -> Option<u32> {
    let digits = match head.strip_prefix(b"REDIS") {
        Some(rest) => rest.get(..4)?,
        None => head.strip_prefix(b"VALKEY")?.get(..3)?,
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0')))
}

/// The footer `DUMP` appends to a value: the RDB version (2 bytes little-endian), then the
/// CRC-64 of everything before (8 bytes little-endian). `body` is the value type byte and
/// the value's encoding.
pub fn dump_payload(mut body: Vec<u8>, rdb_version: u16) -> Vec<u8> {
    body.extend_from_slice(&rdb_version.to_le_bytes());
    let crc = crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}
