//! The walk over an RDB file: header, opcodes, values, trailer.

use std::collections::HashMap;
use std::io::Read;

use super::encodings::{self, Dedup, LzfCheck, DEDUP_CAP, EB_EXPIRE_TIME_MAX};
use super::input::Input;
use super::{dump_payload, Entry, FunctionLibrary, Magic, RdbError, Summary, Visitor};

/// Largest string held in memory (keys, packed blobs, aux values of interest).
pub(super) const BLOB_LIMIT: u64 = 1 << 30;

// Value types.
const T_STRING: u8 = 0;
const T_LIST: u8 = 1;
const T_SET: u8 = 2;
const T_ZSET: u8 = 3;
const T_HASH: u8 = 4;
const T_ZSET_2: u8 = 5;
const T_MODULE_PRE_GA: u8 = 6;
const T_MODULE_2: u8 = 7;
const T_HASH_ZIPMAP: u8 = 9;
const T_LIST_ZIPLIST: u8 = 10;
const T_SET_INTSET: u8 = 11;
const T_ZSET_ZIPLIST: u8 = 12;
const T_HASH_ZIPLIST: u8 = 13;
const T_LIST_QUICKLIST: u8 = 14;
const T_STREAM_LISTPACKS: u8 = 15;
const T_HASH_LISTPACK: u8 = 16;
const T_ZSET_LISTPACK: u8 = 17;
const T_LIST_QUICKLIST_2: u8 = 18;
const T_STREAM_LISTPACKS_2: u8 = 19;
const T_SET_LISTPACK: u8 = 20;
const T_STREAM_LISTPACKS_3: u8 = 21;
/// Redis 7.4: HASH_METADATA_PRE_GA; Valkey 9: HASH_2.
const T_22: u8 = 22;
const T_HASH_LISTPACK_EX_PRE_GA: u8 = 23;
const T_HASH_METADATA: u8 = 24;
const T_HASH_LISTPACK_EX: u8 = 25;

// Opcodes.
const OP_SLOT_IMPORT: u8 = 243;
const OP_SLOT_INFO: u8 = 244;
const OP_FUNCTION2: u8 = 245;
const OP_FUNCTION_PRE_GA: u8 = 246;
const OP_MODULE_AUX: u8 = 247;
const OP_IDLE: u8 = 248;
const OP_FREQ: u8 = 249;
const OP_AUX: u8 = 250;
const OP_RESIZEDB: u8 = 251;
const OP_EXPIRETIME_MS: u8 = 252;
const OP_EXPIRETIME: u8 = 253;
const OP_SELECTDB: u8 = 254;
const OP_EOF: u8 = 255;

/// A string's header.
enum Head {
    Int(i64),
    Raw(u64),
    Lzf { clen: u64, len: u64 },
}

struct Parser<'v, R, V> {
    input: Input<R>,
    visitor: &'v mut V,
    payloads: bool,
    valkey: bool,
    version: u32,
    dedup: Dedup,
    summary: Summary,
}

pub(super) fn run<R: Read, V: Visitor>(reader: R, visitor: &mut V) -> Result<Summary, RdbError> {
    let payloads = visitor.wants_payloads();
    let mut p = Parser {
        input: Input::new(reader),
        visitor,
        payloads,
        valkey: false,
        version: 0,
        dedup: Dedup::new(),
        summary: Summary::default(),
    };
    p.header()?;
    p.body()?;
    p.trailer()?;
    p.summary.bytes_read = p.input.offset();
    Ok(p.summary)
}

fn corrupt(offset: u64, what: impl Into<String>) -> RdbError {
    RdbError::Corrupt {
        offset,
        what: what.into(),
    }
}

impl<R: Read, V: Visitor> Parser<'_, R, V> {
    fn at(&self) -> u64 {
        self.input.offset()
    }

    // ------------------------------------------------------------ header, body, trailer

    fn header(&mut self) -> Result<(), RdbError> {
        let first = self.input.array::<5>("the magic string")?;
        let digits: Vec<u8> = match &first {
            b"REDIS" => self.input.array::<4>("the rdb version")?.to_vec(),
            b"VALKE" => {
                let rest = self.input.array::<4>("the rdb version")?;
                if rest[0] != b'Y' {
                    return Err(RdbError::BadMagic {
                        found: format!("{}", [&first[..], &rest[..1]].concat().escape_ascii()),
                    });
                }
                self.valkey = true;
                self.summary.magic = Magic::Valkey;
                rest[1..].to_vec()
            }
            _ => {
                return Err(RdbError::BadMagic {
                    found: format!("{}", first.escape_ascii()),
                })
            }
        };
        let offset = if self.valkey { 6 } else { 5 };
        let unsupported = || RdbError::UnsupportedVersion {
            offset,
            version: format!("{}", digits.escape_ascii()),
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(unsupported());
        }
        let version: u32 = digits.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0'));
        let known = if self.valkey {
            version == 80
        } else {
            (1..=12).contains(&version)
        };
        if !known {
            return Err(unsupported());
        }
        self.version = version;
        self.summary.rdb_version = version;
        Ok(())
    }

    /// Whether `t` is a value type of this file's version.
    fn is_value_type(&self, t: u8) -> bool {
        let max = if self.valkey {
            T_22
        } else if self.version >= 12 {
            T_HASH_LISTPACK_EX
        } else if self.version >= 11 {
            T_STREAM_LISTPACKS_3
        } else if self.version >= 10 {
            T_STREAM_LISTPACKS_2
        } else {
            T_STREAM_LISTPACKS
        };
        t != 8 && t <= max
    }

    fn body(&mut self) -> Result<(), RdbError> {
        let mut db: u32 = 0;
        let mut expire: Option<i64> = None;
        let mut idle: Option<u64> = None;
        let mut freq: Option<u8> = None;
        let functions = self.valkey || self.version >= 10;
        loop {
            let at = self.at();
            let t = self.input.byte("an opcode or value type")?;
            match t {
                OP_EOF => return Ok(()),
                OP_SELECTDB => {
                    let n = self.len("a database number")?;
                    db = u32::try_from(n)
                        .map_err(|_| corrupt(at, format!("database number {n}")))?;
                }
                OP_EXPIRETIME => {
                    let secs = i32::from_le_bytes(self.input.array::<4>("an expire time")?);
                    expire = Some(i64::from(secs) * 1000);
                }
                OP_EXPIRETIME_MS => {
                    expire = Some(i64::from_le_bytes(self.input.array::<8>("an expire time")?));
                }
                OP_RESIZEDB => {
                    self.len("a database size hint")?;
                    self.len("an expires size hint")?;
                }
                OP_AUX => self.aux()?,
                OP_FREQ => freq = Some(self.input.byte("an lfu frequency")?),
                OP_IDLE => idle = Some(self.len("an lru idle time")?),
                OP_MODULE_AUX => {
                    self.len("a module id")?;
                    let when_at = self.at();
                    let when_opcode = self.len("a module aux when opcode")?;
                    self.len("a module aux when")?;
                    if when_opcode != 2 {
                        return Err(corrupt(when_at, "module aux: bad when opcode"));
                    }
                    self.module_value()?;
                }
                OP_FUNCTION_PRE_GA if functions => {
                    return Err(RdbError::Unsupported {
                        offset: at,
                        what: "a pre-release (7.0 rc) function library",
                    })
                }
                OP_FUNCTION2 if functions => self.function(at)?,
                OP_SLOT_INFO if self.valkey || self.version >= 12 => {
                    self.len("a slot id")?;
                    self.len("a slot size")?;
                    self.len("a slot expires size")?;
                }
                OP_SLOT_IMPORT if self.valkey => {
                    self.skip_string("a slot import job name")?;
                    let ranges = self.len("a slot import range count")?;
                    for _ in 0..ranges {
                        self.len("a slot range start")?;
                        self.len("a slot range end")?;
                    }
                }
                t if self.is_value_type(t) => {
                    self.key_value(t, db, expire.take(), idle.take(), freq.take())?;
                }
                byte => {
                    return Err(RdbError::UnknownType {
                        offset: at,
                        byte,
                        version: self.version,
                    })
                }
            }
        }
    }

    fn trailer(&mut self) -> Result<(), RdbError> {
        if self.version >= 5 {
            let computed = self.input.crc();
            let offset = self.at();
            let stored = u64::from_le_bytes(self.input.array::<8>("the checksum")?);
            if stored == 0 {
                self.summary.checksum_disabled = true;
            } else if stored != computed {
                return Err(RdbError::ChecksumMismatch {
                    offset,
                    stored,
                    computed,
                });
            } else {
                self.summary.checksum = Some(stored);
            }
        }
        if !self.input.at_end()? {
            return Err(RdbError::TrailingBytes { offset: self.at() });
        }
        Ok(())
    }

    fn aux(&mut self) -> Result<(), RdbError> {
        let key = self.string_buf(1 << 20, "an aux field name")?;
        let interesting = matches!(
            &key[..],
            b"redis-ver" | b"valkey-ver" | b"redis-bits" | b"ctime" | b"used-mem"
        );
        if !interesting {
            return self.skip_string("an aux field value").map(|_| ());
        }
        let value = self.string_buf(1 << 20, "an aux field value")?;
        let text = String::from_utf8_lossy(&value).into_owned();
        let int = encodings::parse_i64(&value);
        match &key[..] {
            b"redis-ver" => self.summary.redis_ver = Some(text),
            b"valkey-ver" => self.summary.valkey_ver = Some(text),
            b"redis-bits" => self.summary.redis_bits = int,
            b"ctime" => self.summary.ctime = int,
            _ => self.summary.used_mem = int,
        }
        Ok(())
    }

    fn function(&mut self, at: u64) -> Result<(), RdbError> {
        if self.payloads {
            self.input.start_capture(&[OP_FUNCTION2]);
        }
        let res = self.skip_string("a function library");
        let body = if self.payloads {
            self.input.take_capture()
        } else {
            Vec::new()
        };
        res?;
        let _ = at;
        self.summary.function_libraries += 1;
        let payload = if self.payloads {
            dump_payload(body, self.version as u16)
        } else {
            Vec::new()
        };
        self.visitor.function(FunctionLibrary { payload })
    }

    fn key_value(
        &mut self,
        t: u8,
        db: u32,
        expire_at_ms: Option<i64>,
        idle: Option<u64>,
        freq: Option<u8>,
    ) -> Result<(), RdbError> {
        let key = self.string_buf(BLOB_LIMIT, "a key")?;
        if self.payloads {
            self.input.start_capture(&[t]);
        }
        let res = self.value(t);
        let body = if self.payloads {
            self.input.take_capture()
        } else {
            Vec::new()
        };
        res?;
        *self.summary.keys_per_db.entry(db).or_insert(0) += 1;
        self.summary.keys += 1;
        if expire_at_ms.is_some() {
            self.summary.expiring_keys += 1;
        }
        let restore_payload = if self.payloads {
            Some(dump_payload(body, self.version as u16))
        } else {
            None
        };
        self.visitor.entry(Entry {
            db,
            key,
            expire_at_ms,
            idle,
            freq,
            restore_payload,
        })
    }

    // ------------------------------------------------------------ lengths and strings

    /// A length where a string header may not be: the "encoded" form reads as its low 6
    /// bits, as the servers' `rdbLoadLen` does.
    fn len(&mut self, context: &'static str) -> Result<u64, RdbError> {
        match self.head_inner(context, false)? {
            Head::Raw(n) => Ok(n),
            Head::Int(v) => Ok(v as u64),
            Head::Lzf { .. } => Ok(3),
        }
    }

    fn head(&mut self, context: &'static str) -> Result<Head, RdbError> {
        self.head_inner(context, true)
    }

    fn head_inner(&mut self, context: &'static str, string: bool) -> Result<Head, RdbError> {
        let at = self.at();
        let b = self.input.byte(context)?;
        match b >> 6 {
            0 => Ok(Head::Raw(u64::from(b & 0x3f))),
            1 => {
                let low = self.input.byte(context)?;
                Ok(Head::Raw((u64::from(b & 0x3f) << 8) | u64::from(low)))
            }
            2 => match b {
                0x80 => Ok(Head::Raw(u64::from(u32::from_be_bytes(
                    self.input.array::<4>(context)?,
                )))),
                0x81 => Ok(Head::Raw(u64::from_be_bytes(
                    self.input.array::<8>(context)?,
                ))),
                byte => Err(RdbError::BadLength { offset: at, byte }),
            },
            _ if !string => Ok(Head::Raw(u64::from(b & 0x3f))),
            _ => match b & 0x3f {
                0 => Ok(Head::Int(i64::from(self.input.byte(context)? as i8))),
                1 => Ok(Head::Int(i64::from(i16::from_le_bytes(
                    self.input.array::<2>(context)?,
                )))),
                2 => Ok(Head::Int(i64::from(i32::from_le_bytes(
                    self.input.array::<4>(context)?,
                )))),
                3 => {
                    let clen = self.len(context)?;
                    let len = self.len(context)?;
                    Ok(Head::Lzf { clen, len })
                }
                _ => Err(corrupt(
                    at,
                    format!("string encoding {b:#04x} in {context}"),
                )),
            },
        }
    }

    /// Reads a string without keeping it; returns its (decompressed) length.
    fn skip_string(&mut self, context: &'static str) -> Result<u64, RdbError> {
        let at = self.at();
        match self.head(context)? {
            Head::Int(v) => Ok(v.to_string().len() as u64),
            Head::Raw(n) => {
                self.input.chunks(n, context, |_| Ok(()))?;
                Ok(n)
            }
            Head::Lzf { clen, len } => {
                let mut check = LzfCheck::new(len);
                self.input.chunks(clen, context, |c| {
                    check
                        .feed(c)
                        .map_err(|why| corrupt(at, format!("{why} in {context}")))
                })?;
                check
                    .finish()
                    .map_err(|why| corrupt(at, format!("{why} in {context}")))?;
                Ok(len)
            }
        }
    }

    /// Reads a string into memory (at most `limit` bytes, decompressed).
    fn string_buf(&mut self, limit: u64, context: &'static str) -> Result<Vec<u8>, RdbError> {
        let at = self.at();
        match self.head(context)? {
            Head::Int(v) => Ok(v.to_string().into_bytes()),
            Head::Raw(n) => {
                if n > limit {
                    return Err(RdbError::TooLarge {
                        offset: at,
                        what: context,
                        len: n,
                        limit,
                    });
                }
                let mut out = Vec::new();
                self.input.append(&mut out, n, context)?;
                Ok(out)
            }
            Head::Lzf { clen, len } => {
                if clen > limit || len > limit {
                    return Err(RdbError::TooLarge {
                        offset: at,
                        what: context,
                        len: len.max(clen),
                        limit,
                    });
                }
                let mut compressed = Vec::new();
                self.input.append(&mut compressed, clen, context)?;
                encodings::lzf_decompress(&compressed, len)
                    .map_err(|why| corrupt(at, format!("{why} in {context}")))
            }
        }
    }

    /// Reads a member and records it in the key's duplicate set; a duplicate is an error.
    fn member(&mut self, context: &'static str) -> Result<(), RdbError> {
        let at = self.at();
        let fp = match self.head(context)? {
            Head::Int(v) => {
                let mut fp = self.dedup.fingerprint();
                fp.write(v.to_string().as_bytes());
                fp.finish()
            }
            Head::Raw(n) => {
                let mut fp = self.dedup.fingerprint();
                self.input.chunks(n, context, |c| {
                    fp.write(c);
                    Ok(())
                })?;
                fp.finish()
            }
            Head::Lzf { clen, len } => {
                if clen > BLOB_LIMIT || len > BLOB_LIMIT {
                    return Err(RdbError::TooLarge {
                        offset: at,
                        what: context,
                        len: len.max(clen),
                        limit: BLOB_LIMIT,
                    });
                }
                let mut compressed = Vec::new();
                self.input.append(&mut compressed, clen, context)?;
                let plain = encodings::lzf_decompress(&compressed, len)
                    .map_err(|why| corrupt(at, format!("{why} in {context}")))?;
                let mut fp = self.dedup.fingerprint();
                fp.write(&plain);
                fp.finish()
            }
        };
        if !self.dedup.insert_fp(fp) {
            return Err(corrupt(at, format!("duplicate {context}")));
        }
        Ok(())
    }

    /// A collection's element count, which may not be zero; starts its duplicate set.
    fn collection_len(
        &mut self,
        context: &'static str,
        what: &'static str,
    ) -> Result<u64, RdbError> {
        let at = self.at();
        let n = self.len(context)?;
        if n == 0 {
            return Err(RdbError::EmptyValue { offset: at, what });
        }
        self.dedup.clear();
        Ok(n)
    }

    /// Reads a name that must not be in `seen` yet, and records it.
    fn unique(&mut self, seen: &mut Dedup, context: &'static str) -> Result<(), RdbError> {
        let at = self.at();
        let name = self.string_buf(BLOB_LIMIT, context)?;
        if !seen.insert(&name) {
            return Err(corrupt(at, format!("duplicate {context}")));
        }
        Ok(())
    }

    fn blob(&mut self, context: &'static str) -> Result<Vec<u8>, RdbError> {
        self.string_buf(BLOB_LIMIT, context)
    }

    fn time_ms(&mut self, context: &'static str) -> Result<i64, RdbError> {
        Ok(i64::from_le_bytes(self.input.array::<8>(context)?))
    }

    // ------------------------------------------------------------ values

    fn value(&mut self, t: u8) -> Result<(), RdbError> {
        let at = self.at();
        let bad =
            |what: &'static str| move |why: &'static str| corrupt(at, format!("{what}: {why}"));
        let empty = |what: &'static str| RdbError::EmptyValue { offset: at, what };
        match t {
            T_STRING => {
                self.skip_string("a string value")?;
            }
            T_LIST => {
                let n = self.collection_len("a list length", "list")?;
                for _ in 0..n {
                    self.skip_string("a list element")?;
                }
            }
            T_SET => {
                let n = self.collection_len("a set length", "set")?;
                for _ in 0..n {
                    self.member("set member")?;
                }
            }
            T_ZSET | T_ZSET_2 => {
                let n = self.collection_len("a sorted set length", "sorted set")?;
                for _ in 0..n {
                    self.member("sorted set member")?;
                    let score_at = self.at();
                    let score = if t == T_ZSET_2 {
                        f64::from_le_bytes(self.input.array::<8>("a score")?)
                    } else {
                        self.text_double()?
                    };
                    if score.is_nan() {
                        return Err(corrupt(score_at, "sorted set score: NaN"));
                    }
                }
            }
            T_HASH => {
                let n = self.collection_len("a hash length", "hash")?;
                for _ in 0..n {
                    self.member("hash field")?;
                    self.skip_string("a hash value")?;
                }
            }
            T_MODULE_PRE_GA => {
                return Err(RdbError::Unsupported {
                    offset: at,
                    what: "a pre-release (4.0 rc) module value",
                })
            }
            T_MODULE_2 => {
                self.len("a module id")?;
                self.module_value()?;
            }
            T_HASH_ZIPMAP => {
                let zm = self.blob("a zipmap")?;
                encodings::zipmap(&zm, &mut self.dedup).map_err(bad("hash zipmap"))?;
            }
            T_LIST_ZIPLIST => {
                let zl = self.blob("a ziplist")?;
                let n =
                    encodings::ziplist(&zl, false, &mut self.dedup).map_err(bad("list ziplist"))?;
                if n == 0 {
                    return Err(empty("list"));
                }
            }
            T_SET_INTSET => {
                let is = self.blob("an intset")?;
                encodings::intset(&is).map_err(bad("set intset"))?;
            }
            T_ZSET_ZIPLIST | T_HASH_ZIPLIST => {
                let what = if t == T_ZSET_ZIPLIST {
                    "sorted set ziplist"
                } else {
                    "hash ziplist"
                };
                let zl = self.blob("a ziplist")?;
                let n = encodings::ziplist(&zl, true, &mut self.dedup).map_err(bad(what))?;
                if n == 0 {
                    return Err(empty(if t == T_ZSET_ZIPLIST {
                        "sorted set"
                    } else {
                        "hash"
                    }));
                }
            }
            T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => {
                let nodes = self.collection_len("a quicklist node count", "list")?;
                let mut elements: u64 = 0;
                for _ in 0..nodes {
                    let node_at = self.at();
                    let mut plain = false;
                    if t == T_LIST_QUICKLIST_2 {
                        let container = self.len("a quicklist container")?;
                        match container {
                            1 => plain = true,
                            2 => {}
                            _ => {
                                return Err(corrupt(
                                    node_at,
                                    format!("quicklist container {container}"),
                                ))
                            }
                        }
                    }
                    if plain {
                        if self.skip_string("a quicklist plain node")? == 0 {
                            return Err(corrupt(node_at, "empty quicklist plain node"));
                        }
                        elements += 1;
                        continue;
                    }
                    let data_at = self.at();
                    let node = self.blob("a quicklist node")?;
                    if node.is_empty() {
                        return Err(corrupt(data_at, "empty quicklist node"));
                    }
                    let n = if t == T_LIST_QUICKLIST_2 {
                        encodings::listpack(&node, |_, _| Ok(()))
                            .map_err(|why| corrupt(data_at, format!("quicklist listpack: {why}")))?
                    } else {
                        encodings::ziplist(&node, false, &mut self.dedup)
                            .map_err(|why| corrupt(data_at, format!("quicklist ziplist: {why}")))?
                    };
                    elements += u64::from(n);
                }
                if elements == 0 {
                    return Err(empty("list"));
                }
            }
            T_STREAM_LISTPACKS | T_STREAM_LISTPACKS_2 | T_STREAM_LISTPACKS_3 => self.stream(t)?,
            T_HASH_LISTPACK
            | T_ZSET_LISTPACK
            | T_SET_LISTPACK
            | T_HASH_LISTPACK_EX_PRE_GA
            | T_HASH_LISTPACK_EX
                if !(self.valkey && t > T_22) =>
            {
                if t == T_HASH_LISTPACK_EX {
                    self.time_ms("a hash minimum field expiration")?;
                }
                let (what, tuple) = match t {
                    T_HASH_LISTPACK => ("hash", 2),
                    T_ZSET_LISTPACK => ("sorted set", 2),
                    T_SET_LISTPACK => ("set", 1),
                    _ => ("hash", 3),
                };
                let lp = self.blob("a listpack")?;
                let n = encodings::listpack_tuples(&lp, tuple, &mut self.dedup)
                    .map_err(|why| corrupt(at, format!("{what} listpack: {why}")))?;
                if n == 0 {
                    return Err(empty(what));
                }
            }
            T_22 if self.valkey => self.valkey_hash2()?,
            T_22 | T_HASH_METADATA => self.hash_metadata(t)?,
            _ => {
                return Err(RdbError::UnknownType {
                    offset: at.saturating_sub(1),
                    byte: t,
                    version: self.version,
                })
            }
        }
        Ok(())
    }

    /// A score in the old text form (`ZSET`, RDB < 8): a length byte (253 NaN, 254 +inf,
    /// 255 -inf), then that many characters read as `%lg`.
    fn text_double(&mut self) -> Result<f64, RdbError> {
        let at = self.at();
        let len = self.input.byte("a score")?;
        match len {
            255 => return Ok(f64::NEG_INFINITY),
            254 => return Ok(f64::INFINITY),
            253 => return Ok(f64::NAN),
            _ => {}
        }
        let mut buf = Vec::new();
        self.input.append(&mut buf, u64::from(len), "a score")?;
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_start();
        (1..=text.len())
            .rev()
            .filter(|&n| text.is_char_boundary(n))
            .find_map(|n| text[..n].parse::<f64>().ok())
            .ok_or_else(|| corrupt(at, "sorted set score: not a number"))
    }

    /// Redis 7.4 hash with field TTLs in hash-table form (24; 22 is its release
    /// candidates' form with absolute TTLs and no minimum).
    fn hash_metadata(&mut self, t: u8) -> Result<(), RdbError> {
        let at = self.at();
        let mut min_expire: u64 = 0;
        if t == T_HASH_METADATA {
            min_expire = self.time_ms("a hash minimum field expiration")? as u64;
            if min_expire > EB_EXPIRE_TIME_MAX as u64 + 1 {
                return Err(corrupt(at, "hash minimum field expiration out of range"));
            }
        }
        let n = self.collection_len("a hash length", "hash")?;
        for _ in 0..n {
            let ttl_at = self.at();
            let ttl = self.len("a hash field ttl")?;
            let expire_at = if t == T_HASH_METADATA {
                if ttl != 0 {
                    ttl.wrapping_add(min_expire).wrapping_sub(1)
                } else {
                    0
                }
            } else {
                ttl
            };
            if expire_at > EB_EXPIRE_TIME_MAX as u64 {
                return Err(corrupt(
                    ttl_at,
                    format!("hash field expiration {expire_at} out of range"),
                ));
            }
            self.member("hash field")?;
            self.skip_string("a hash value")?;
        }
        Ok(())
    }

    /// Valkey 9 hash with field TTLs (HASH_2): field, value, expiration (ms, -1 none).
    fn valkey_hash2(&mut self) -> Result<(), RdbError> {
        let n = self.collection_len("a hash length", "hash")?;
        for _ in 0..n {
            self.member("hash field")?;
            self.skip_string("a hash value")?;
            self.time_ms("a hash field expiration")?;
        }
        Ok(())
    }

    /// A module value as `redis-check-rdb` walks it: typed opcodes until the EOF opcode.
    fn module_value(&mut self) -> Result<(), RdbError> {
        loop {
            let at = self.at();
            match self.len("a module value opcode")? {
                0 => return Ok(()),
                1 | 2 => {
                    self.len("a module integer")?;
                }
                3 => {
                    self.input.array::<4>("a module float")?;
                }
                4 => {
                    self.input.array::<8>("a module double")?;
                }
                5 => {
                    self.skip_string("a module string")?;
                }
                op => return Err(corrupt(at, format!("module value opcode {op}"))),
            }
        }
    }

    fn stream(&mut self, t: u8) -> Result<(), RdbError> {
        let at = self.at();
        let nodes = self.len("a stream listpack count")?;
        let mut node_keys = Dedup::new();
        for _ in 0..nodes {
            let key_at = self.at();
            let key = self.string_buf(64, "a stream node key")?;
            if key.len() != 16 {
                return Err(corrupt(key_at, "stream node key is not a stream id"));
            }
            let lp_at = self.at();
            let lp = self.blob("a stream listpack")?;
            encodings::stream_listpack(&lp)
                .map_err(|why| corrupt(lp_at, format!("stream listpack: {why}")))?;
            if !node_keys.insert(&key) {
                return Err(corrupt(key_at, "stream listpack added twice"));
            }
        }
        drop(node_keys);
        let length = self.len("a stream length")?;
        self.len("a stream last id")?;
        self.len("a stream last id")?;
        if t >= T_STREAM_LISTPACKS_2 {
            for _ in 0..5 {
                self.len("a stream first id, max deleted id or entries added")?;
            }
        }
        if length != 0 && nodes == 0 {
            return Err(corrupt(at, "stream length without listpacks"));
        }
        let groups = self.len("a stream consumer group count")?;
        let mut group_names = Dedup::new();
        for _ in 0..groups {
            let name_at = self.at();
            self.unique(&mut group_names, "consumer group name")?;
            self.len("a consumer group last id")?;
            self.len("a consumer group last id")?;
            if t >= T_STREAM_LISTPACKS_2 {
                self.len("a consumer group offset")?;
            }
            // The group's PEL: id -> claimed by a consumer.
            let mut pel: HashMap<[u8; 16], bool> = HashMap::new();
            let mut pel_complete = true;
            let pel_size = self.len("a consumer group pel size")?;
            for _ in 0..pel_size {
                let id_at = self.at();
                let id = self.input.array::<16>("a pel entry id")?;
                self.time_ms("a pel delivery time")?;
                self.len("a pel delivery count")?;
                if pel.len() >= DEDUP_CAP {
                    pel_complete = false;
                } else if pel.insert(id, false).is_some() {
                    return Err(corrupt(id_at, "duplicate consumer group pel entry"));
                }
            }
            let consumers = self.len("a consumer count")?;
            let mut consumer_names = Dedup::new();
            for _ in 0..consumers {
                self.unique(&mut consumer_names, "consumer name")?;
                self.time_ms("a consumer seen time")?;
                if t >= T_STREAM_LISTPACKS_3 {
                    self.time_ms("a consumer active time")?;
                }
                let own = self.len("a consumer pel size")?;
                let mut mine = Dedup::new();
                for _ in 0..own {
                    let id_at = self.at();
                    let id = self.input.array::<16>("a consumer pel id")?;
                    if pel_complete {
                        match pel.get_mut(&id) {
                            Some(owned) => *owned = true,
                            None => {
                                return Err(corrupt(
                                    id_at,
                                    "consumer pel entry not in its group's pel",
                                ))
                            }
                        }
                    }
                    if !mine.insert(&id) {
                        return Err(corrupt(id_at, "duplicate consumer pel entry"));
                    }
                }
            }
            if pel_complete && pel.values().any(|owned| !owned) {
                return Err(corrupt(
                    name_at,
                    "consumer group pel entry without a consumer",
                ));
            }
        }
        Ok(())
    }
}
