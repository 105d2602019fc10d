//! Checks of the packed encodings an RDB value may carry as one string: listpack, ziplist,
//! intset, zipmap, the stream listpack layout, and LZF-compressed strings. Each check
//! accepts exactly what the server's own loader accepts with deep sanitisation on (the
//! mode `redis-check-rdb` runs in): header sizes, entry by entry bounds and back lengths,
//! terminators, element counts, duplicate members, ordered integers, TTL fields.
//!
//! They work on a byte slice already read from the RDB (these blobs are small in practice:
//! a listpack holds at most the server's `*-max-listpack-*` limits, a stream node
//! `stream-node-max-bytes`), never trust a length inside the blob without a bounds check,
//! and report a short reason on failure.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

/// Why a packed value was refused.
pub(super) type Bad = &'static str;

/// Most members (set members, hash fields, zset members, stream node keys, PEL ids)
/// remembered per key to find duplicates: a 128-bit fingerprint each, about 40 bytes with
/// the set's overhead, so at most ~10 MiB per key, released after it. Members beyond it
/// are not checked for duplicates (the servers check every one; nothing they write has
/// any): the price of flat memory on collections of millions of members.
pub(super) const DEDUP_CAP: usize = 1 << 18;

/// Duplicate detection by 128-bit keyed fingerprints.
pub(super) struct Dedup {
    seen: HashSet<u128>,
    k0: RandomState,
    k1: RandomState,
}

/// A fingerprint being computed over bytes that arrive in pieces.
pub(super) struct Fingerprint {
    a: std::collections::hash_map::DefaultHasher,
    b: std::collections::hash_map::DefaultHasher,
    len: u64,
}

impl Fingerprint {
    pub(super) fn write(&mut self, bytes: &[u8]) {
        self.a.write(bytes);
        self.b.write(bytes);
        self.len += bytes.len() as u64;
    }

    pub(super) fn finish(mut self) -> u128 {
        self.a.write_u64(self.len);
        self.b.write_u64(self.len);
        (u128::from(self.a.finish()) << 64) | u128::from(self.b.finish())
    }
}

impl Dedup {
    pub(super) fn new() -> Self {
        Dedup {
            seen: HashSet::new(),
            k0: RandomState::new(),
            k1: RandomState::new(),
        }
    }

    pub(super) fn clear(&mut self) {
        self.seen.clear();
        if self.seen.capacity() > 4096 {
            self.seen.shrink_to(4096);
        }
    }

    pub(super) fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            a: self.k0.build_hasher(),
            b: self.k1.build_hasher(),
            len: 0,
        }
    }

    /// Records a member by fingerprint; false when it was seen before.
    pub(super) fn insert_fp(&mut self, fp: u128) -> bool {
        if self.seen.len() >= DEDUP_CAP {
            return true;
        }
        self.seen.insert(fp)
    }

    /// Records a member; false when it was seen before.
    pub(super) fn insert(&mut self, bytes: &[u8]) -> bool {
        let mut fp = self.fingerprint();
        fp.write(bytes);
        self.insert_fp(fp.finish())
    }
}

/// Redis's `string2ll`: a canonical decimal 64-bit integer (no sign on zero, no leading
/// zeros, no spaces), the whole string.
pub(super) fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let first = *digits.first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

// ---------------------------------------------------------------- listpack

const LP_HDR: usize = 6;
const LP_EOF: u8 = 0xff;
const LP_NUMELE_UNKNOWN: u16 = u16::MAX;

/// An element's content.
pub(super) enum LpVal<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl LpVal<'_> {
    /// The element as the string the server compares (integers in decimal).
    pub(super) fn with_bytes<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
        match self {
            LpVal::Str(s) => f(s),
            LpVal::Int(v) => f(v.to_string().as_bytes()),
        }
    }
}

/// Bytes of the encoding byte(s) announcing an element's length; 0 if the byte is not
/// an encoding.
fn lp_size_bytes(b: u8) -> usize {
    match b {
        _ if b & 0x80 == 0 => 1,
        _ if b & 0xc0 == 0x80 => 1,
        _ if b & 0xe0 == 0xc0 => 1,
        0xf1..=0xf4 => 1,
        _ if b & 0xf0 == 0xe0 => 2,
        0xf0 => 5,
        LP_EOF => 1,
        _ => 0,
    }
}

/// Length of the element at `p` without its back length; needs `lp_size_bytes` bytes.
fn lp_entry_len(lp: &[u8], p: usize) -> u64 {
    let b = lp[p];
    match b {
        _ if b & 0x80 == 0 => 1,
        _ if b & 0xc0 == 0x80 => 1 + u64::from(b & 0x3f),
        _ if b & 0xe0 == 0xc0 => 2,
        0xf1 => 3,
        0xf2 => 4,
        0xf3 => 5,
        0xf4 => 9,
        _ if b & 0xf0 == 0xe0 => 2 + ((u64::from(b & 0x0f) << 8) | u64::from(lp[p + 1])),
        0xf0 => {
            5 + u64::from(u32::from_le_bytes([
                lp[p + 1],
                lp[p + 2],
                lp[p + 3],
                lp[p + 4],
            ]))
        }
        LP_EOF => 1,
        _ => 0,
    }
}

fn lp_backlen_size(l: u64) -> u64 {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Decodes a back length ending at `p` (reading backwards); None when over 5 bytes.
fn lp_decode_backlen(lp: &[u8], mut p: usize) -> Option<u64> {
    let mut val: u64 = 0;
    let mut shift = 0u32;
    loop {
        let b = *lp.get(p)?;
        val |= u64::from(b & 127) << shift;
        if b & 128 == 0 {
            return Some(val);
        }
        shift += 7;
        p = p.checked_sub(1)?;
        if shift > 28 {
            return None;
        }
    }
}

/// `lpValidateNext`: the element at `p` fits and its back length matches; returns the
/// next element, or None when `p` is the terminator.
fn lp_validate_next(lp: &[u8], p: usize) -> Result<Option<usize>, Bad> {
    const BAD: Bad = "listpack element out of range or with a wrong back length";
    let bytes = lp.len() as u64;
    let out_of_range = |x: u64| x < LP_HDR as u64 || x > bytes - 1;
    if out_of_range(p as u64) {
        return Err(BAD);
    }
    if lp[p] == LP_EOF {
        return Ok(None);
    }
    let lenbytes = lp_size_bytes(lp[p]) as u64;
    if lenbytes == 0 {
        return Err("listpack element with an invalid encoding");
    }
    if out_of_range(p as u64 + lenbytes) {
        return Err(BAD);
    }
    let entrylen = lp_entry_len(lp, p);
    let backlen = lp_backlen_size(entrylen);
    let total = entrylen + backlen;
    let next = p as u64 + total;
    if out_of_range(next) {
        return Err(BAD);
    }
    let prevlen = lp_decode_backlen(lp, next as usize - 1).ok_or(BAD)?;
    if prevlen.checked_add(backlen) != Some(total) {
        return Err(BAD);
    }
    Ok(Some(next as usize))
}

/// `lpGet`: the element at `p` (already validated). An invalid encoding byte reads as
/// the integer the server's decoder makes of it.
pub(super) fn lp_get(lp: &[u8], p: usize) -> LpVal<'_> {
    let b = lp[p];
    let at = |i: usize| u64::from(lp.get(p + i).copied().unwrap_or(0));
    let (uval, negstart, negmax): (u64, u64, u64) = match b {
        _ if b & 0x80 == 0 => (u64::from(b & 0x7f), u64::MAX, 0),
        _ if b & 0xc0 == 0x80 => {
            let len = usize::from(b & 0x3f);
            return LpVal::Str(lp.get(p + 1..p + 1 + len).unwrap_or(&[]));
        }
        _ if b & 0xe0 == 0xc0 => ((u64::from(b & 0x1f) << 8) | at(1), 1 << 12, 8191),
        0xf1 => (at(1) | at(2) << 8, 1 << 15, u64::from(u16::MAX)),
        0xf2 => (
            at(1) | at(2) << 8 | at(3) << 16,
            1 << 23,
            u64::from(u32::MAX >> 8),
        ),
        0xf3 => (
            at(1) | at(2) << 8 | at(3) << 16 | at(4) << 24,
            1 << 31,
            u64::from(u32::MAX),
        ),
        0xf4 => (
            (1..=8).fold(0u64, |v, i| v | at(i) << (8 * (i - 1))),
            1 << 63,
            u64::MAX,
        ),
        _ if b & 0xf0 == 0xe0 => {
            let len = ((usize::from(b) & 0x0f) << 8) | at(1) as usize;
            return LpVal::Str(lp.get(p + 2..p + 2 + len).unwrap_or(&[]));
        }
        0xf0 => {
            let len = (at(1) | at(2) << 8 | at(3) << 16 | at(4) << 24) as usize;
            return LpVal::Str(
                lp.get(p + 5..p.saturating_add(5).saturating_add(len))
                    .unwrap_or(&[]),
            );
        }
        _ => (12_345_678_900_000_000 + u64::from(b), u64::MAX, 0),
    };
    if uval >= negstart {
        LpVal::Int(-((negmax - uval) as i64) - 1)
    } else {
        LpVal::Int(uval as i64)
    }
}

/// The header checks of `lpValidateIntegrity` (size, total bytes, terminator).
fn lp_header(lp: &[u8]) -> Result<(), Bad> {
    if lp.len() < LP_HDR + 1 {
        return Err("listpack shorter than its header");
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    if total != lp.len() {
        return Err("listpack total bytes differ from its string length");
    }
    if lp[lp.len() - 1] != LP_EOF {
        return Err("listpack without its terminator");
    }
    Ok(())
}

/// `lpValidateIntegrity` (deep) with a callback per element; returns the element count.
pub(super) fn listpack(
    lp: &[u8],
    mut each: impl FnMut(&[u8], usize) -> Result<(), Bad>,
) -> Result<u32, Bad> {
    lp_header(lp)?;
    let numele = u16::from_le_bytes([lp[4], lp[5]]);
    let mut count: u32 = 0;
    let mut p = LP_HDR;
    while lp[p] != LP_EOF {
        let prev = p;
        p = lp_validate_next(lp, p)?.ok_or("listpack element out of range")?;
        each(lp, prev)?;
        count = count.wrapping_add(1);
    }
    if p != lp.len() - 1 {
        return Err("listpack elements do not end at its terminator");
    }
    if numele != LP_NUMELE_UNKNOWN && u32::from(numele) != count {
        return Err("listpack element count differs from its header");
    }
    Ok(count)
}

/// `lpValidateIntegrityAndDups`: tuples of `tuple_len` elements whose first element is
/// unique; for 3-tuples (hash with field TTLs) the third is an ordered TTL. Returns the
/// number of tuples.
pub(super) fn listpack_tuples(lp: &[u8], tuple_len: u32, dedup: &mut Dedup) -> Result<u32, Bad> {
    dedup.clear();
    let mut n: u32 = 0;
    let mut last_expire: i64 = -1;
    let count = listpack(lp, |lp, p| {
        let v = lp_get(lp, p);
        if n.is_multiple_of(tuple_len) && !v.with_bytes(|b| dedup.insert(b)) {
            return Err("duplicate member in a listpack");
        }
        if n % tuple_len == 2 {
            let LpVal::Int(expire_at) = v else {
                return Err("hash field TTL in a listpack is not an integer");
            };
            if !(0..=EB_EXPIRE_TIME_MAX).contains(&expire_at) {
                return Err("hash field TTL in a listpack out of range");
            }
            if expire_at != 0 && (last_expire == 0 || expire_at < last_expire) {
                return Err("hash field TTLs in a listpack out of order");
            }
            last_expire = expire_at;
        }
        n = n.wrapping_add(1);
        Ok(())
    })?;
    if !n.is_multiple_of(tuple_len) {
        return Err("listpack element count is not a multiple of its tuple length");
    }
    Ok(count / tuple_len)
}

/// The largest hash field expiration time (ms) the server keeps: 2^48 - 1.
pub(super) const EB_EXPIRE_TIME_MAX: i64 = (1 << 48) - 1;

/// `streamValidateListpackIntegrity` (deep): the master entry, then every entry's
/// flags, ID, fields and values and its trailing element count, ending exactly at the
/// terminator.
pub(super) fn stream_listpack(lp: &[u8]) -> Result<(), Bad> {
    const BAD: Bad = "stream listpack entries do not match their layout";
    lp_header(lp)?;
    let int = |p: usize| -> Result<i64, Bad> {
        match lp_get(lp, p) {
            LpVal::Int(v) => Ok(v),
            LpVal::Str(s) => parse_i64(s).ok_or("stream listpack field is not an integer"),
        }
    };
    let first = if lp[LP_HDR] == LP_EOF {
        None
    } else {
        Some(LP_HDR)
    };
    let f = first.ok_or("empty listpack inside a stream")?;
    let mut next = lp_validate_next(lp, f)?;
    let step = |next: &mut Option<usize>| -> Result<usize, Bad> {
        let p = next.ok_or(BAD)?;
        *next = lp_validate_next(lp, p)?;
        Ok(p)
    };
    let mut p = f;
    let entry_count = int(p)?;
    p = step(&mut next)?;
    let deleted = int(p)?;
    p = step(&mut next)?;
    let master_fields = int(p)?;
    p = step(&mut next)?;
    let mut j = 0;
    while j < master_fields {
        p = step(&mut next)?;
        j += 1;
    }
    if int(p)? != 0 {
        return Err("stream listpack master entry without its zero terminator");
    }
    p = step(&mut next)?;
    let mut entries = entry_count.wrapping_add(deleted);
    while entries != 0 {
        entries = entries.wrapping_sub(1);
        let mut fields = master_fields;
        let mut extra: i64 = 3;
        let flags = int(p)?;
        p = step(&mut next)?;
        int(p)?;
        p = step(&mut next)?;
        int(p)?;
        p = step(&mut next)?;
        if flags & 2 == 0 {
            fields = int(p)?;
            p = step(&mut next)?;
            let mut j = 0;
            while j < fields {
                p = step(&mut next)?;
                j += 1;
            }
            extra = extra.wrapping_add(fields).wrapping_add(1);
        }
        let mut j = 0;
        while j < fields {
            p = step(&mut next)?;
            j += 1;
        }
        if int(p)? != fields.wrapping_add(extra) {
            return Err("stream listpack entry count field does not match the entry");
        }
        p = step(&mut next)?;
    }
    if next.is_some() {
        return Err("stream listpack has elements after its last entry");
    }
    Ok(())
}

// ---------------------------------------------------------------- ziplist

const ZL_HDR: usize = 10;
const ZIP_END: u8 = 0xff;

/// A ziplist element's header.
struct ZlEntry {
    prevrawlen: u64,
    /// Offset of the encoding byte.
    enc_at: usize,
    headersize: u64,
    len: u64,
}

/// `zipEntrySafe` with prevlen validation.
fn zl_entry(zl: &[u8], p: usize) -> Result<ZlEntry, Bad> {
    const BAD: Bad = "ziplist element out of range";
    let first = ZL_HDR as u64;
    let last = zl.len() as u64 - 1;
    let oor = |x: u64| x < first || x > last;
    let p64 = p as u64;
    if oor(p64) {
        return Err(BAD);
    }
    let prevlensize: u64 = if zl[p] < 254 { 1 } else { 5 };
    if oor(p64 + prevlensize) {
        return Err(BAD);
    }
    let ep = p + prevlensize as usize;
    let mut enc = zl[ep];
    if enc < 0xc0 {
        enc &= 0xc0;
    }
    let lensize: u64 = match enc {
        0x00 => 1,
        0x40 => 2,
        0x80 => 5,
        0xc0 | 0xd0 | 0xe0 | 0xf0 | 0xfe => 1,
        0xf1..=0xfd => 1,
        _ => return Err("ziplist element with an invalid encoding"),
    };
    if oor(p64 + prevlensize + lensize) {
        return Err(BAD);
    }
    let prevrawlen = if prevlensize == 1 {
        u64::from(zl[p])
    } else {
        u64::from(u32::from_le_bytes([
            zl[p + 1],
            zl[p + 2],
            zl[p + 3],
            zl[p + 4],
        ]))
    };
    let len: u64 = match enc {
        0x00 => u64::from(zl[ep] & 0x3f),
        0x40 => (u64::from(zl[ep] & 0x3f) << 8) | u64::from(zl[ep + 1]),
        0x80 => u64::from(u32::from_be_bytes([
            zl[ep + 1],
            zl[ep + 2],
            zl[ep + 3],
            zl[ep + 4],
        ])),
        0xc0 => 2,
        0xd0 => 4,
        0xe0 => 8,
        0xf0 => 3,
        0xfe => 1,
        _ => 0,
    };
    let headersize = prevlensize + lensize;
    if oor(p64 + headersize + len) {
        return Err(BAD);
    }
    if p64 < prevrawlen || oor(p64 - prevrawlen) {
        return Err(BAD);
    }
    Ok(ZlEntry {
        prevrawlen,
        enc_at: ep,
        headersize,
        len,
    })
}

/// The element at `p` as the server compares it (integers in decimal).
fn zl_value(zl: &[u8], p: usize, e: &ZlEntry) -> Vec<u8> {
    let enc_at = e.enc_at;
    let data = p + e.headersize as usize;
    let enc = zl[enc_at];
    let b = |i: usize| zl[data + i];
    let v: i64 = match enc {
        _ if enc < 0xc0 => return zl[data..data + e.len as usize].to_vec(),
        0xc0 => i64::from(i16::from_le_bytes([b(0), b(1)])),
        0xd0 => i64::from(i32::from_le_bytes([b(0), b(1), b(2), b(3)])),
        0xe0 => i64::from_le_bytes([b(0), b(1), b(2), b(3), b(4), b(5), b(6), b(7)]),
        0xf0 => i64::from(i32::from_le_bytes([0, b(0), b(1), b(2)]) >> 8),
        0xfe => i64::from(b(0) as i8),
        _ => i64::from(enc & 0x0f) - 1,
    };
    v.to_string().into_bytes()
}

/// `ziplistValidateIntegrity` (deep); with `pairs`, also `ziplistPairsConvertAndValidate`
/// (unique first elements of each pair, an even count). Returns the element count.
pub(super) fn ziplist(zl: &[u8], pairs: bool, dedup: &mut Dedup) -> Result<u32, Bad> {
    dedup.clear();
    if zl.len() < ZL_HDR + 1 {
        return Err("ziplist shorter than its header");
    }
    let bytes = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    if bytes != zl.len() {
        return Err("ziplist total bytes differ from its string length");
    }
    if zl[zl.len() - 1] != ZIP_END {
        return Err("ziplist without its terminator");
    }
    let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    if tail > zl.len() - 1 {
        return Err("ziplist tail offset out of range");
    }
    let header_count = u16::from_le_bytes([zl[8], zl[9]]);
    let mut count: u32 = 0;
    let mut p = ZL_HDR;
    let mut prev: Option<usize> = None;
    let mut prev_raw: u64 = 0;
    while zl[p] != ZIP_END {
        let e = zl_entry(zl, p)?;
        if e.prevrawlen != prev_raw {
            return Err("ziplist element with a wrong previous length");
        }
        if pairs && count.is_multiple_of(2) && !dedup.insert(&zl_value(zl, p, &e)) {
            return Err("duplicate member in a ziplist");
        }
        prev_raw = e.headersize + e.len;
        prev = Some(p);
        p += prev_raw as usize;
        count = count.wrapping_add(1);
    }
    if p != zl.len() - 1 {
        return Err("ziplist elements do not end at its terminator");
    }
    if prev.is_some_and(|prev| prev != tail) {
        return Err("ziplist tail offset does not point at its last element");
    }
    if header_count != u16::MAX && u32::from(header_count) != count {
        return Err("ziplist element count differs from its header");
    }
    if pairs && !count.is_multiple_of(2) {
        return Err("ziplist of pairs with an odd element count");
    }
    Ok(count)
}

// ---------------------------------------------------------------- intset

/// `intsetValidateIntegrity` (deep): a known width, the size its count implies, not
/// empty, strictly increasing. Returns the count.
pub(super) fn intset(is: &[u8]) -> Result<u32, Bad> {
    if is.len() < 8 {
        return Err("intset shorter than its header");
    }
    let width = u32::from_le_bytes([is[0], is[1], is[2], is[3]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err("intset with an unknown integer width");
    }
    let count = u32::from_le_bytes([is[4], is[5], is[6], is[7]]);
    if 8 + count as u64 * width as u64 != is.len() as u64 {
        return Err("intset size differs from its count");
    }
    if count == 0 {
        return Err("empty intset");
    }
    let get = |i: usize| -> i64 {
        let b = &is[8 + i * width..8 + (i + 1) * width];
        match width {
            2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    };
    let mut prev = get(0);
    for i in 1..count as usize {
        let cur = get(i);
        if cur <= prev {
            return Err("intset members not strictly increasing");
        }
        prev = cur;
    }
    Ok(count)
}

// ---------------------------------------------------------------- zipmap

/// `zipmapValidateIntegrity` (deep) plus the loader's duplicate-field check. Returns the
/// number of fields.
pub(super) fn zipmap(zm: &[u8], dedup: &mut Dedup) -> Result<u32, Bad> {
    const BAD: Bad = "zipmap element out of range";
    dedup.clear();
    if zm.len() < 2 {
        return Err("zipmap shorter than its header");
    }
    if zm[zm.len() - 1] != 0xff {
        return Err("zipmap without its terminator");
    }
    let size = zm.len() as u64;
    let oor = |x: u64| x < 2 || x > size - 1;
    let len_at = |p: u64| -> (u64, u64) {
        let p = p as usize;
        if zm[p] < 254 {
            (1, u64::from(zm[p]))
        } else {
            (
                5,
                u64::from(u32::from_le_bytes([
                    zm[p + 1],
                    zm[p + 2],
                    zm[p + 3],
                    zm[p + 4],
                ])),
            )
        }
    };
    let mut count: u32 = 0;
    let mut p: u64 = 1;
    while zm[p as usize] != 0xff {
        let s = if zm[p as usize] < 254 { 1 } else { 5 };
        if oor(p + s) {
            return Err(BAD);
        }
        let (_, l) = len_at(p);
        let field_start = p + s;
        p = field_start + l;
        if oor(p) {
            return Err(BAD);
        }
        if !dedup.insert(&zm[field_start as usize..p as usize]) {
            return Err("duplicate field in a zipmap");
        }
        let s = if zm[p as usize] < 254 { 1 } else { 5 };
        if oor(p + s) {
            return Err(BAD);
        }
        let (_, l) = len_at(p);
        p += s;
        let free = u64::from(zm[p as usize]);
        p += 1 + l + free;
        count = count.wrapping_add(1);
        if oor(p) {
            return Err(BAD);
        }
    }
    if count == 0 {
        return Err("empty zipmap");
    }
    if zm[0] != 254 && u32::from(zm[0]) != count {
        return Err("zipmap field count differs from its header");
    }
    Ok(count)
}

// ---------------------------------------------------------------- LZF

/// Checks an LZF stream as `lzf_decompress` reads it, without producing the output:
/// every literal run and back reference must fit the announced length, a back
/// reference must point into what was already produced, and the total must be exactly
/// the announced length.
pub(super) struct LzfCheck {
    produced: u64,
    out_len: u64,
    state: LzfState,
}

#[derive(Clone, Copy)]
enum LzfState {
    Ctrl,
    Literal(u32),
    /// A back reference's control byte read: (length code, high offset bits).
    RefLen(u32, u64),
    /// Length known: (copy length - 2, high offset bits).
    RefOff(u32, u64),
}

impl LzfCheck {
    pub(super) fn new(out_len: u64) -> Self {
        LzfCheck {
            produced: 0,
            out_len,
            state: LzfState::Ctrl,
        }
    }

    pub(super) fn feed(&mut self, input: &[u8]) -> Result<(), Bad> {
        const BIG: Bad = "lzf data decompresses past its announced length";
        let mut i = 0;
        while i < input.len() {
            match self.state {
                LzfState::Ctrl => {
                    let ctrl = u32::from(input[i]);
                    i += 1;
                    if ctrl < 32 {
                        let run = ctrl + 1;
                        if self.produced + u64::from(run) > self.out_len {
                            return Err(BIG);
                        }
                        self.state = LzfState::Literal(run);
                    } else {
                        self.state = LzfState::RefLen(ctrl >> 5, u64::from(ctrl & 0x1f) << 8);
                    }
                }
                LzfState::Literal(run) => {
                    let take = (input.len() - i).min(run as usize);
                    i += take;
                    self.produced += take as u64;
                    let left = run - take as u32;
                    self.state = if left == 0 {
                        LzfState::Ctrl
                    } else {
                        LzfState::Literal(left)
                    };
                }
                LzfState::RefLen(len, hi) => {
                    if len == 7 {
                        self.state = LzfState::RefOff(7 + u32::from(input[i]), hi);
                        i += 1;
                    } else {
                        self.state = LzfState::RefOff(len, hi);
                    }
                }
                LzfState::RefOff(len, hi) => {
                    let back = hi + u64::from(input[i]) + 1;
                    i += 1;
                    if self.produced + u64::from(len) + 2 > self.out_len {
                        return Err(BIG);
                    }
                    if back > self.produced {
                        return Err("lzf back reference before the start of the output");
                    }
                    self.produced += u64::from(len) + 2;
                    self.state = LzfState::Ctrl;
                }
            }
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Result<(), Bad> {
        match self.state {
            LzfState::Ctrl => {}
            LzfState::Literal(_) => return Err("lzf literal run past the end of its data"),
            _ => return Err("lzf back reference past the end of its data"),
        }
        if self.produced != self.out_len {
            return Err("lzf data decompresses to another length than announced");
        }
        Ok(())
    }
}

/// Decompresses LZF data whose decompressed length is `out_len` (checked as
/// [`LzfCheck`] does); the output grows only as the input produces it.
pub(super) fn lzf_decompress(input: &[u8], out_len: u64) -> Result<Vec<u8>, Bad> {
    let mut check = LzfCheck::new(out_len);
    check.feed(input)?;
    check.finish()?;
    // Valid: now produce it without further checks failing.
    let mut out: Vec<u8> = Vec::with_capacity(input.len().min(out_len as usize));
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            out.extend_from_slice(&input[i..i + run]);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(input[i]);
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(input[i]) + 1;
            i += 1;
            let start = out.len() - back;
            for k in 0..len + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    Ok(out)
}
