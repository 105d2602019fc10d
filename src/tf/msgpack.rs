//! The msgpack form of Terraform values (DynamicValue.msgpack): nulls, unknowns (ext 0)
//! and refined unknowns (ext 12), read and written against a cty type.

use std::collections::BTreeMap;

use super::path::AttributePath;
use super::types::Type;
use super::value::{Number, Refinements, Value};

/// An error encoding or decoding a value, with where in the value it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_root() { String::new() } else { format!("{path}: ") })]
pub struct CodecError {
    /// Where in the value.
    pub path: AttributePath,
    /// What went wrong.
    pub message: String,
}

fn err<T>(path: &AttributePath, message: impl Into<String>) -> Result<T, CodecError> {
    Err(CodecError {
        path: path.clone(),
        message: message.into(),
    })
}

/// The msgpack extension code of a wholly unknown value.
const EXT_UNKNOWN: i8 = 0;
/// The msgpack extension code of an unknown value with refinements.
const EXT_REFINED_UNKNOWN: i8 = 12;
/// Refinement payloads larger than this are refused, as Terraform itself does.
const MAX_REFINEMENT_LEN: usize = 1024;
/// Nesting deeper than this is refused (types in dynamic values come from the input).
const MAX_DEPTH: usize = 128;
/// The most elements reserved for a collection before they have been read.
const PREALLOCATED_ELEMENTS: usize = 16;

const KEY_NULLNESS: i64 = 1;
const KEY_STRING_PREFIX: i64 = 2;
const KEY_NUMBER_MIN: i64 = 3;
const KEY_NUMBER_MAX: i64 = 4;
const KEY_LENGTH_MIN: i64 = 5;
const KEY_LENGTH_MAX: i64 = 6;

// ---------------------------------------------------------------------------
// Encoding

/// Encodes `value`, read as type `ty`, into msgpack.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(&mut out, value, ty, &AttributePath::root())?;
    Ok(out)
}

fn encode_into(
    out: &mut Vec<u8>,
    value: &Value,
    ty: &Type,
    path: &AttributePath,
) -> Result<(), CodecError> {
    match (value, ty) {
        (Value::Null, _) => out.push(0xc0),
        (Value::Unknown(refinements), _) => write_unknown(out, refinements, ty),
        (Value::Dynamic(inner_ty, inner), Type::Dynamic) => {
            if inner.is_null() {
                // A null in a dynamic position loses its type on the wire, as in Terraform.
                out.push(0xc0);
            } else {
                write_array_len(out, 2);
                write_bin(out, &inner_ty.to_json_bytes());
                encode_into(out, inner, inner_ty, path)?;
            }
        }
        (Value::Dynamic(inner_ty, inner), _) if inner_ty == ty => {
            encode_into(out, inner, ty, path)?;
        }
        (_, Type::Dynamic) => {
            return err(
                path,
                "a known value in a dynamic position needs its concrete type (Value::Dynamic)",
            )
        }
        (Value::Bool(b), Type::Bool) => out.push(if *b { 0xc3 } else { 0xc2 }),
        (Value::Number(n), Type::Number) => write_number(out, n),
        (Value::String(s), Type::String) => write_str(out, s),
        (Value::List(elems), Type::List(ety)) | (Value::Set(elems), Type::Set(ety)) => {
            write_array_len(out, elems.len());
            for (i, elem) in elems.iter().enumerate() {
                encode_into(out, elem, ety, &path.clone().index(i as i64))?;
            }
        }
        (Value::Map(entries), Type::Map(ety)) => {
            write_map_len(out, entries.len());
            for (k, v) in entries {
                write_str(out, k);
                encode_into(out, v, ety, &path.clone().key(k))?;
            }
        }
        (Value::Object(attrs), Type::Object { attributes, .. }) => {
            if let Some(extra) = attrs.keys().find(|k| !attributes.contains_key(*k)) {
                return err(path, format!("unsupported attribute {extra:?}"));
            }
            write_map_len(out, attributes.len());
            for (name, aty) in attributes {
                write_str(out, name);
                let v = attrs.get(name).unwrap_or(&Value::Null);
                encode_into(out, v, aty, &path.clone().attribute(name))?;
            }
        }
        (Value::Tuple(elems), Type::Tuple(etys)) => {
            if elems.len() != etys.len() {
                return err(
                    path,
                    format!(
                        "tuple of {} elements for a type of {}",
                        elems.len(),
                        etys.len()
                    ),
                );
            }
            write_array_len(out, elems.len());
            for (i, (elem, ety)) in elems.iter().zip(etys).enumerate() {
                encode_into(out, elem, ety, &path.clone().index(i as i64))?;
            }
        }
        (v, t) => {
            return err(
                path,
                format!("{} value where {t} was expected", kind_name(v)),
            )
        }
    }
    Ok(())
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Unknown(_) => "unknown",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Set(_) => "set",
        Value::Map(_) => "map",
        Value::Object(_) => "object",
        Value::Tuple(_) => "tuple",
        Value::Dynamic(..) => "dynamic",
    }
}

fn write_unknown(out: &mut Vec<u8>, r: &Refinements, ty: &Type) {
    let mut body = Vec::new();
    let mut entries = 0;
    if *ty != Type::Dynamic {
        if r.not_null {
            entries += 1;
            write_int(&mut body, KEY_NULLNESS);
            body.push(0xc2);
        }
        match ty {
            Type::String => {
                if let Some(prefix) = r.string_prefix.as_deref().filter(|p| !p.is_empty()) {
                    entries += 1;
                    write_int(&mut body, KEY_STRING_PREFIX);
                    write_str(&mut body, prefix);
                }
            }
            Type::Number => {
                for (key, bound) in [
                    (KEY_NUMBER_MIN, &r.number_lower),
                    (KEY_NUMBER_MAX, &r.number_upper),
                ] {
                    if let Some((n, inclusive)) = bound {
                        entries += 1;
                        write_int(&mut body, key);
                        write_array_len(&mut body, 2);
                        write_number(&mut body, n);
                        body.push(if *inclusive { 0xc3 } else { 0xc2 });
                    }
                }
            }
            t if t.is_collection() => {
                if let Some(n) = r.length_lower.filter(|n| *n > 0) {
                    entries += 1;
                    write_int(&mut body, KEY_LENGTH_MIN);
                    write_uint(&mut body, n);
                }
                if let Some(n) = r.length_upper {
                    entries += 1;
                    write_int(&mut body, KEY_LENGTH_MAX);
                    write_uint(&mut body, n);
                }
            }
            _ => {}
        }
    }
    if entries == 0 {
        out.extend_from_slice(&[0xd4, EXT_UNKNOWN as u8, 0]);
        return;
    }
    let mut payload = Vec::with_capacity(body.len() + 1);
    write_map_len(&mut payload, entries);
    payload.extend_from_slice(&body);
    write_ext_header(out, EXT_REFINED_UNKNOWN, payload.len());
    out.extend_from_slice(&payload);
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    match n {
        Number::Int(i) => write_int(out, *i),
        Number::Float(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Number::Big(s) => write_str(out, s),
    }
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    if (0..=0x7f).contains(&i) {
        out.push(i as u8);
    } else if (-32..0).contains(&i) {
        out.push(i as i8 as u8);
    } else if i >= 0 {
        if let Ok(v) = u8::try_from(i) {
            out.extend_from_slice(&[0xcc, v]);
        } else if let Ok(v) = u16::try_from(i) {
            out.push(0xcd);
            out.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = u32::try_from(i) {
            out.push(0xce);
            out.extend_from_slice(&v.to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(i as u64).to_be_bytes());
        }
    } else if let Ok(v) = i8::try_from(i) {
        out.extend_from_slice(&[0xd0, v as u8]);
    } else if let Ok(v) = i16::try_from(i) {
        out.push(0xd1);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i32::try_from(i) {
        out.push(0xd2);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

/// An unsigned integer: as [`write_int`] when it fits an `i64`, else `uint 64` (the
/// decoder reads both, so a bound beyond `i64::MAX` is not clamped on the way back).
fn write_uint(out: &mut Vec<u8>, u: u64) {
    match i64::try_from(u) {
        Ok(i) => write_int(out, i),
        Err(_) => {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    }
}

fn write_sized(
    out: &mut Vec<u8>,
    len: usize,
    fix: Option<(u8, usize)>,
    m8: Option<u8>,
    m16: u8,
    m32: u8,
) {
    match (fix, m8) {
        (Some((base, max)), _) if len <= max => out.push(base | len as u8),
        (_, Some(m8)) if len <= 0xff => out.extend_from_slice(&[m8, len as u8]),
        _ if len <= 0xffff => {
            out.push(m16);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(m32);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    write_sized(out, s.len(), Some((0xa0, 31)), Some(0xd9), 0xda, 0xdb);
    out.extend_from_slice(s.as_bytes());
}

fn write_bin(out: &mut Vec<u8>, b: &[u8]) {
    write_sized(out, b.len(), None, Some(0xc4), 0xc5, 0xc6);
    out.extend_from_slice(b);
}

fn write_array_len(out: &mut Vec<u8>, len: usize) {
    write_sized(out, len, Some((0x90, 15)), None, 0xdc, 0xdd);
}

fn write_map_len(out: &mut Vec<u8>, len: usize) {
    write_sized(out, len, Some((0x80, 15)), None, 0xde, 0xdf);
}

fn write_ext_header(out: &mut Vec<u8>, code: i8, len: usize) {
    let fixed = match len {
        1 => Some(0xd4),
        2 => Some(0xd5),
        4 => Some(0xd6),
        8 => Some(0xd7),
        16 => Some(0xd8),
        _ => None,
    };
    if let Some(marker) = fixed {
        out.push(marker);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xc7, len as u8]);
    } else if len <= 0xffff {
        out.push(0xc8);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xc9);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.push(code as u8);
}

// ---------------------------------------------------------------------------
// Decoding

/// Decodes msgpack `bytes` as a value of type `ty`. Malformed input is an error, never a panic.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let mut reader = Reader { buf: bytes, pos: 0 };
    let root = AttributePath::root();
    let value = reader.value(ty, &root, 0)?;
    if reader.pos != bytes.len() {
        return err(
            &root,
            format!(
                "{} trailing bytes after the value",
                bytes.len() - reader.pos
            ),
        );
    }
    Ok(value)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A msgpack header: what the next item is.
enum Head {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(usize),
    Bin(usize),
    Array(usize),
    Map(usize),
    Ext(i8, usize),
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, path: &AttributePath) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len());
        match end {
            Some(end) => {
                let slice = &self.buf[self.pos..end];
                self.pos = end;
                Ok(slice)
            }
            None => err(path, "unexpected end of msgpack data"),
        }
    }

    fn be<const N: usize>(&mut self, path: &AttributePath) -> Result<[u8; N], CodecError> {
        let mut arr = [0u8; N];
        arr.copy_from_slice(self.take(N, path)?);
        Ok(arr)
    }

    fn len8(&mut self, path: &AttributePath) -> Result<usize, CodecError> {
        Ok(usize::from(self.be::<1>(path)?[0]))
    }

    fn len16(&mut self, path: &AttributePath) -> Result<usize, CodecError> {
        Ok(usize::from(u16::from_be_bytes(self.be(path)?)))
    }

    fn len32(&mut self, path: &AttributePath) -> Result<usize, CodecError> {
        usize::try_from(u32::from_be_bytes(self.be(path)?))
            .or_else(|_| err(path, "length does not fit this platform"))
    }

    fn peek_is_nil(&self) -> bool {
        self.buf.get(self.pos) == Some(&0xc0)
    }

    fn peek_is_ext(&self) -> bool {
        matches!(self.buf.get(self.pos), Some(0xc7..=0xc9 | 0xd4..=0xd8))
    }

    fn head(&mut self, path: &AttributePath) -> Result<Head, CodecError> {
        let marker = self.be::<1>(path)?[0];
        Ok(match marker {
            0x00..=0x7f => Head::Int(i64::from(marker)),
            0x80..=0x8f => Head::Map(usize::from(marker & 0x0f)),
            0x90..=0x9f => Head::Array(usize::from(marker & 0x0f)),
            0xa0..=0xbf => Head::Str(usize::from(marker & 0x1f)),
            0xc0 => Head::Nil,
            0xc2 => Head::Bool(false),
            0xc3 => Head::Bool(true),
            0xc4 => Head::Bin(self.len8(path)?),
            0xc5 => Head::Bin(self.len16(path)?),
            0xc6 => Head::Bin(self.len32(path)?),
            0xc7 => {
                let len = self.len8(path)?;
                Head::Ext(self.be::<1>(path)?[0] as i8, len)
            }
            0xc8 => {
                let len = self.len16(path)?;
                Head::Ext(self.be::<1>(path)?[0] as i8, len)
            }
            0xc9 => {
                let len = self.len32(path)?;
                Head::Ext(self.be::<1>(path)?[0] as i8, len)
            }
            0xca => Head::Float(f64::from(f32::from_be_bytes(self.be(path)?))),
            0xcb => Head::Float(f64::from_be_bytes(self.be(path)?)),
            0xcc => Head::Int(i64::from(self.be::<1>(path)?[0])),
            0xcd => Head::Int(i64::from(u16::from_be_bytes(self.be(path)?))),
            0xce => Head::Int(i64::from(u32::from_be_bytes(self.be(path)?))),
            0xcf => {
                let v = u64::from_be_bytes(self.be(path)?);
                i64::try_from(v).map_or(Head::UInt(v), Head::Int)
            }
            0xd0 => Head::Int(i64::from(self.be::<1>(path)?[0] as i8)),
            0xd1 => Head::Int(i64::from(i16::from_be_bytes(self.be(path)?))),
            0xd2 => Head::Int(i64::from(i32::from_be_bytes(self.be(path)?))),
            0xd3 => Head::Int(i64::from_be_bytes(self.be(path)?)),
            0xd4..=0xd8 => {
                let len = 1usize << (marker - 0xd4);
                Head::Ext(self.be::<1>(path)?[0] as i8, len)
            }
            0xd9 => Head::Str(self.len8(path)?),
            0xda => Head::Str(self.len16(path)?),
            0xdb => Head::Str(self.len32(path)?),
            0xdc => Head::Array(self.len16(path)?),
            0xdd => Head::Array(self.len32(path)?),
            0xde => Head::Map(self.len16(path)?),
            0xdf => Head::Map(self.len32(path)?),
            0xe0..=0xff => Head::Int(i64::from(marker as i8)),
            0xc1 => return err(path, "invalid msgpack marker 0xc1"),
        })
    }

    fn text(&mut self, len: usize, path: &AttributePath) -> Result<String, CodecError> {
        let bytes = self.take(len, path)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => err(path, "string is not valid UTF-8"),
        }
    }

    fn string(&mut self, path: &AttributePath) -> Result<String, CodecError> {
        match self.head(path)? {
            Head::Str(len) | Head::Bin(len) => self.text(len, path),
            _ => err(path, "expected a string"),
        }
    }

    fn number(&mut self, path: &AttributePath) -> Result<Number, CodecError> {
        match self.head(path)? {
            Head::Int(i) => Ok(Number::Int(i)),
            Head::UInt(u) => Ok(Number::Big(u.to_string())),
            Head::Float(f) => Ok(Number::Float(f)),
            Head::Str(len) => {
                let text = self.text(len, path)?;
                match Number::parse(&text) {
                    Some(n) => Ok(n),
                    None => err(path, format!("{text:?} is not a number")),
                }
            }
            _ => err(path, "expected a number"),
        }
    }

    fn bool(&mut self, path: &AttributePath) -> Result<bool, CodecError> {
        match self.head(path)? {
            Head::Bool(b) => Ok(b),
            _ => err(path, "expected a bool"),
        }
    }

    /// Room to reserve for a collection that claims `claimed` elements: no more than the
    /// bytes left could hold, and never many, since nested collections would each reserve
    /// for the same bytes (a fuzzer found 29 MB reserved for 3 KB of nested headers). The
    /// vector grows as elements really arrive.
    fn capacity(&self, claimed: usize) -> usize {
        claimed
            .min(self.buf.len().saturating_sub(self.pos))
            .min(PREALLOCATED_ELEMENTS)
    }

    fn value(
        &mut self,
        ty: &Type,
        path: &AttributePath,
        depth: usize,
    ) -> Result<Value, CodecError> {
        if depth > MAX_DEPTH {
            return err(path, "value is nested too deeply");
        }
        if self.peek_is_nil() {
            self.pos += 1;
            return Ok(Value::Null);
        }
        if self.peek_is_ext() {
            return self.unknown(ty, path);
        }
        match ty {
            Type::Bool => Ok(Value::Bool(self.bool(path)?)),
            Type::Number => Ok(Value::Number(self.number(path)?)),
            Type::String => Ok(Value::String(self.string(path)?)),
            Type::List(ety) | Type::Set(ety) => {
                let len = match self.head(path)? {
                    Head::Array(len) => len,
                    _ => return err(path, format!("expected an array for {ty}")),
                };
                let mut elems = Vec::with_capacity(self.capacity(len));
                for i in 0..len {
                    elems.push(self.value(ety, &path.clone().index(i as i64), depth + 1)?);
                }
                Ok(if matches!(ty, Type::List(_)) {
                    Value::List(elems)
                } else {
                    Value::Set(elems)
                })
            }
            Type::Map(ety) => {
                let len = match self.head(path)? {
                    Head::Map(len) => len,
                    _ => return err(path, format!("expected a map for {ty}")),
                };
                let mut entries = BTreeMap::new();
                for _ in 0..len {
                    let key = self.string(path)?;
                    let v = self.value(ety, &path.clone().key(&key), depth + 1)?;
                    entries.insert(key, v);
                }
                Ok(Value::Map(entries))
            }
            Type::Object { attributes, .. } => {
                let len = match self.head(path)? {
                    Head::Map(len) => len,
                    _ => return err(path, "expected a map for an object"),
                };
                let mut attrs = BTreeMap::new();
                for _ in 0..len {
                    let name = self.string(path)?;
                    let Some(aty) = attributes.get(&name) else {
                        return err(path, format!("unsupported attribute {name:?}"));
                    };
                    let v = self.value(aty, &path.clone().attribute(&name), depth + 1)?;
                    attrs.insert(name, v);
                }
                for name in attributes.keys() {
                    attrs.entry(name.clone()).or_insert(Value::Null);
                }
                Ok(Value::Object(attrs))
            }
            Type::Tuple(etys) => {
                let len = match self.head(path)? {
                    Head::Array(len) => len,
                    _ => return err(path, "expected an array for a tuple"),
                };
                if len != etys.len() {
                    return err(
                        path,
                        format!("tuple of {len} elements for a type of {}", etys.len()),
                    );
                }
                let mut elems = Vec::with_capacity(len);
                for (i, ety) in etys.iter().enumerate() {
                    elems.push(self.value(ety, &path.clone().index(i as i64), depth + 1)?);
                }
                Ok(Value::Tuple(elems))
            }
            Type::Dynamic => {
                match self.head(path)? {
                    Head::Array(2) => {}
                    _ => return err(path, "expected a [type, value] pair for a dynamic value"),
                }
                let type_json = match self.head(path)? {
                    Head::Str(len) | Head::Bin(len) => self.take(len, path)?,
                    _ => return err(path, "expected the JSON type of a dynamic value"),
                };
                let inner_ty = match Type::from_json_bytes(type_json) {
                    Ok(t) => t,
                    Err(e) => return err(path, e.to_string()),
                };
                let inner = self.value(&inner_ty, path, depth + 1)?;
                Ok(Value::Dynamic(inner_ty, Box::new(inner)))
            }
        }
    }

    fn unknown(&mut self, ty: &Type, path: &AttributePath) -> Result<Value, CodecError> {
        let Head::Ext(code, len) = self.head(path)? else {
            return err(path, "expected an extension for an unknown value");
        };
        let body = self.take(len, path)?;
        if len <= 1 {
            return Ok(Value::unknown());
        }
        if code != EXT_REFINED_UNKNOWN {
            return err(
                path,
                format!("unsupported extension type {code} with length {len}"),
            );
        }
        if len > MAX_REFINEMENT_LEN {
            return err(path, "oversize unknown value refinement");
        }
        if *ty == Type::Dynamic {
            // Refinements of a dynamic value are not defined: ignored, as Terraform does.
            return Ok(Value::unknown());
        }
        let mut r = Reader { buf: body, pos: 0 };
        let Head::Map(entries) = r.head(path)? else {
            return err(path, "unknown value refinements are not a map");
        };
        let mut refinements = Refinements::default();
        let mut is_null = false;
        for _ in 0..entries {
            let key = match r.head(path)? {
                Head::Int(k) => k,
                _ => return err(path, "refinement key is not an integer"),
            };
            match key {
                KEY_NULLNESS => {
                    if r.bool(path)? {
                        is_null = true;
                    } else {
                        refinements.not_null = true;
                    }
                }
                KEY_STRING_PREFIX => {
                    if *ty != Type::String {
                        return err(path, "string prefix refinement for a non-string type");
                    }
                    // An empty prefix says nothing: no refinement (as the encoder writes it).
                    refinements.string_prefix = Some(r.string(path)?).filter(|p| !p.is_empty());
                }
                KEY_NUMBER_MIN | KEY_NUMBER_MAX => {
                    if *ty != Type::Number {
                        return err(path, "number bound refinement for a non-number type");
                    }
                    let Head::Array(2) = r.head(path)? else {
                        return err(path, "number bound refinement is not a [number, bool] pair");
                    };
                    let bound = (r.number(path)?, r.bool(path)?);
                    if key == KEY_NUMBER_MIN {
                        refinements.number_lower = Some(bound);
                    } else {
                        refinements.number_upper = Some(bound);
                    }
                }
                KEY_LENGTH_MIN | KEY_LENGTH_MAX => {
                    if !ty.is_collection() {
                        return err(path, "length refinement for a non-collection type");
                    }
                    let n = match r.head(path)? {
                        Head::Int(n) => u64::try_from(n).unwrap_or(0),
                        Head::UInt(n) => n,
                        _ => return err(path, "length refinement is not an integer"),
                    };
                    if key == KEY_LENGTH_MIN {
                        // At least 0 elements says nothing: no refinement.
                        refinements.length_lower = Some(n).filter(|n| *n > 0);
                    } else {
                        refinements.length_upper = Some(n);
                    }
                }
                _ => r.skip(path, 0)?, // refinements added after 6.8: ignored
            }
        }
        if is_null {
            return Ok(Value::Null);
        }
        // The path only: a string prefix may be part of a secret.
        tracing::trace!(%path, "refined unknown value");
        Ok(Value::Unknown(refinements))
    }

    fn skip(&mut self, path: &AttributePath, depth: usize) -> Result<(), CodecError> {
        if depth > MAX_DEPTH {
            return err(path, "value is nested too deeply");
        }
        match self.head(path)? {
            Head::Str(len) | Head::Bin(len) | Head::Ext(_, len) => {
                self.take(len, path)?;
            }
            Head::Array(len) => {
                for _ in 0..len {
                    self.skip(path, depth + 1)?;
                }
            }
            Head::Map(len) => {
                for _ in 0..len {
                    self.skip(path, depth + 1)?;
                    self.skip(path, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &Value, ty: &Type) -> Value {
        let bytes = encode(value, ty).expect("encodes");
        decode(&bytes, ty).expect("decodes")
    }

    fn everything_type() -> Type {
        Type::object([
            ("b", Type::Bool),
            ("n", Type::Number),
            ("s", Type::String),
            ("l", Type::list(Type::String)),
            ("set", Type::set(Type::Number)),
            ("m", Type::map(Type::Bool)),
            (
                "o",
                Type::object([("x", Type::String), ("y", Type::Number)]),
            ),
            (
                "t",
                Type::Tuple(vec![Type::String, Type::Number, Type::Bool]),
            ),
            ("d", Type::Dynamic),
        ])
    }

    fn everything_value() -> Value {
        Value::object([
            ("b", Value::Bool(true)),
            ("n", Value::int(-70000)),
            ("s", Value::string("héllo")),
            (
                "l",
                Value::List(vec!["a".into(), Value::Null, Value::unknown()]),
            ),
            (
                "set",
                Value::Set(vec![Value::int(1), Value::Number(Number::Float(2.5))]),
            ),
            (
                "m",
                Value::Map([("k".to_owned(), Value::Bool(false))].into_iter().collect()),
            ),
            (
                "o",
                Value::object([("x", Value::string("y")), ("y", Value::Null)]),
            ),
            (
                "t",
                Value::Tuple(vec![
                    "a".into(),
                    Value::int(u32::MAX as i64 + 1),
                    Value::Bool(false),
                ]),
            ),
            (
                "d",
                Value::Dynamic(
                    Type::list(Type::String),
                    Box::new(Value::List(vec!["z".into()])),
                ),
            ),
        ])
    }

    #[test]
    fn every_type_round_trips() {
        let ty = everything_type();
        let value = everything_value();
        assert_eq!(round_trip(&value, &ty), value);
    }

    #[test]
    fn every_integer_width_round_trips() {
        for i in [
            0,
            1,
            127,
            128,
            255,
            256,
            65535,
            65536,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32768,
            -32769,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(
                round_trip(&Value::int(i), &Type::Number),
                Value::int(i),
                "{i}"
            );
        }
    }

    #[test]
    fn long_strings_and_collections_round_trip() {
        for len in [31, 32, 255, 256, 70000] {
            let v = Value::string("x".repeat(len));
            assert_eq!(round_trip(&v, &Type::String), v);
        }
        let list = Value::List((0..20).map(Value::int).collect());
        assert_eq!(round_trip(&list, &Type::list(Type::Number)), list);
        let map = Value::Map((0..20).map(|i| (format!("k{i}"), Value::int(i))).collect());
        assert_eq!(round_trip(&map, &Type::map(Type::Number)), map);
    }

    #[test]
    fn big_numbers_travel_as_strings() {
        let big = Value::Number(Number::Big("123456789012345678901234567890".to_owned()));
        let bytes = encode(&big, &Type::Number).expect("encodes");
        assert_eq!(bytes[0] & 0xe0, 0xa0, "a fixstr");
        assert_eq!(decode(&bytes, &Type::Number).expect("decodes"), big);
        let huge = [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            decode(&huge, &Type::Number).expect("decodes"),
            Value::Number(Number::Big(u64::MAX.to_string()))
        );
    }

    #[test]
    fn null_and_unknown_are_allowed_at_every_type() {
        let ty = everything_type();
        for (name, aty) in match &ty {
            Type::Object { attributes, .. } => attributes.clone(),
            _ => unreachable!(),
        } {
            assert_eq!(round_trip(&Value::Null, &aty), Value::Null, "{name}");
            assert_eq!(
                round_trip(&Value::unknown(), &aty),
                Value::unknown(),
                "{name}"
            );
        }
        assert_eq!(round_trip(&Value::Null, &ty), Value::Null);
        assert_eq!(round_trip(&Value::unknown(), &ty), Value::unknown());
    }

    #[test]
    fn wholly_unknown_is_fixext1_of_type_zero() {
        assert_eq!(
            encode(&Value::unknown(), &Type::String).expect("encodes"),
            vec![0xd4, 0, 0]
        );
        // A zero-length extension (ext8 with length 0) is also a wholly unknown value.
        assert_eq!(
            decode(&[0xc7, 0, 0], &Type::String).expect("decodes"),
            Value::unknown()
        );
    }

    #[test]
    fn refined_unknowns_round_trip_for_strings_numbers_and_collections() {
        let s = Value::Unknown(Refinements {
            not_null: true,
            string_prefix: Some("redis://".to_owned()),
            ..Refinements::default()
        });
        assert_eq!(round_trip(&s, &Type::String), s);
        let n = Value::Unknown(Refinements {
            number_lower: Some((Number::Int(1), true)),
            number_upper: Some((Number::Float(9.5), false)),
            ..Refinements::default()
        });
        assert_eq!(round_trip(&n, &Type::Number), n);
        let l = Value::Unknown(Refinements {
            not_null: true,
            length_lower: Some(1),
            length_upper: Some(3),
            ..Refinements::default()
        });
        assert_eq!(round_trip(&l, &Type::list(Type::String)), l);
        let bytes = encode(&l, &Type::list(Type::String)).expect("encodes");
        assert_eq!((bytes[0], bytes[2]), (0xc7, 12), "ext8 of type 12");
    }

    #[test]
    fn a_length_bound_beyond_i64_round_trips_unclamped() {
        // Found by the fuzzer: the decoder reads a uint 64 bound, the encoder wrote it
        // clamped to i64::MAX, so the value changed on the way back.
        let l = Value::Unknown(Refinements {
            length_upper: Some(u64::MAX - 1),
            ..Refinements::default()
        });
        assert_eq!(round_trip(&l, &Type::set(Type::Bool)), l);
    }

    #[test]
    fn refinements_that_say_nothing_decode_as_no_refinement() {
        // Found by the fuzzer: a lower length bound of 0 (or an empty string prefix) was
        // kept on decoding but is never written, so the value changed on a round trip.
        let zero_length = [0xc7, 0x03, 0x0c, 0x81, 0x05, 0x00];
        assert_eq!(
            decode(&zero_length, &Type::list(Type::Bool)),
            Ok(Value::unknown())
        );
        let empty_prefix = [0xc7, 0x03, 0x0c, 0x81, 0x02, 0xa0];
        assert_eq!(decode(&empty_prefix, &Type::String), Ok(Value::unknown()));
    }

    #[test]
    fn refinements_that_do_not_fit_the_type_are_not_written() {
        let r = Value::Unknown(Refinements {
            string_prefix: Some("x".to_owned()),
            ..Refinements::default()
        });
        assert_eq!(
            encode(&r, &Type::Number).expect("encodes"),
            vec![0xd4, 0, 0]
        );
        assert_eq!(
            encode(&r, &Type::Dynamic).expect("encodes"),
            vec![0xd4, 0, 0]
        );
    }

    #[test]
    fn refinements_of_dynamic_values_and_unknown_keys_are_ignored() {
        // {1: false, 42: "future"} as ext 12
        let payload = [
            0x82, 0x01, 0xc2, 0x2a, 0xa6, b'f', b'u', b't', b'u', b'r', b'e',
        ];
        let mut bytes = vec![0xc7, payload.len() as u8, 12];
        bytes.extend_from_slice(&payload);
        assert_eq!(
            decode(&bytes, &Type::Dynamic).expect("decodes"),
            Value::unknown()
        );
        let expected = Value::Unknown(Refinements {
            not_null: true,
            ..Refinements::default()
        });
        assert_eq!(decode(&bytes, &Type::String).expect("decodes"), expected);
    }

    #[test]
    fn a_refinement_saying_null_decodes_as_null() {
        assert_eq!(
            decode(&[0xc7, 3, 12, 0x81, 0x01, 0xc3], &Type::Bool).expect("decodes"),
            Value::Null
        );
    }

    #[test]
    fn refinements_for_the_wrong_type_are_errors() {
        // {2: "x"} (string prefix) for a number
        let bytes = [0xd6, 12, 0x81, 0x02, 0xa1, b'x'];
        assert!(decode(&bytes, &Type::Number).is_err());
    }

    #[test]
    fn objects_with_missing_attributes_decode_them_as_null() {
        let ty = Type::object([("a", Type::String), ("b", Type::String)]);
        let bytes = [0x81, 0xa1, b'a', 0xa1, b'x'];
        let v = decode(&bytes, &ty).expect("decodes");
        assert_eq!(
            v,
            Value::object([("a", Value::string("x")), ("b", Value::Null)])
        );
    }

    #[test]
    fn wrong_input_is_an_error_not_a_panic() {
        let ty = everything_type();
        let good = encode(&everything_value(), &ty).expect("encodes");
        // Every truncation and every single-byte corruption must be handled.
        for cut in 0..good.len() {
            assert!(decode(&good[..cut], &ty).is_err(), "truncated at {cut}");
        }
        for i in 0..good.len() {
            for b in [0x00, 0x7f, 0xc1, 0xdd, 0xdf, 0xc9, 0xff] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = decode(&bad, &ty);
            }
        }
        let cases: &[(&[u8], Type)] = &[
            (&[0xa1, b'x'], Type::Number),
            (&[0x01], Type::String),
            (&[0xc3], Type::list(Type::String)),
            (&[0x92, 0x01, 0x02], Type::Tuple(vec![Type::Number])),
            (
                &[0x81, 0xa1, b'z', 0x01],
                Type::object([("a", Type::Number)]),
            ),
            (&[0xa2, 0xff, 0xfe], Type::String),
            (&[0xdd, 0xff, 0xff, 0xff, 0xff], Type::list(Type::String)),
            (&[0xd5, 7, 0, 0], Type::String),
            (&[0x92, 0xa4, b'n', b'o', b'p', b'e', 0x01], Type::Dynamic),
            (&[0x01, 0x02], Type::Number),
            (&[], Type::Bool),
        ];
        for (bytes, ty) in cases {
            assert!(decode(bytes, ty).is_err(), "{bytes:?} as {ty}");
        }
    }

    #[test]
    fn values_that_do_not_match_the_type_cannot_be_encoded() {
        assert!(encode(&Value::string("x"), &Type::Number).is_err());
        assert!(encode(&Value::string("x"), &Type::Dynamic).is_err());
        assert!(encode(
            &Value::object([("zz", Value::Null)]),
            &Type::object([("a", Type::String)])
        )
        .is_err());
        let e = encode(
            &Value::object([("a", Value::List(vec![Value::Bool(true)]))]),
            &Type::object([("a", Type::list(Type::String))]),
        )
        .expect_err("mismatch");
        assert_eq!(e.path.to_string(), "a[0]");
    }

    #[test]
    fn deeply_nested_dynamic_types_are_refused() {
        let mut type_json = String::from("\"string\"");
        for _ in 0..200 {
            type_json = format!("[\"list\",{type_json}]");
        }
        let mut bytes = vec![0x92, 0xc5];
        bytes.extend_from_slice(&(type_json.len() as u16).to_be_bytes());
        bytes.extend_from_slice(type_json.as_bytes());
        bytes.extend(std::iter::repeat_n(0x91, 200));
        bytes.push(0xa0);
        assert!(decode(&bytes, &Type::Dynamic).is_err());
    }

    // Random values of random types, and mutated bytes, are the fuzz engine's: tests/fuzz
    // (a fixed-seed run in `cargo test`, the long one in benches/fuzz.sh).
}
