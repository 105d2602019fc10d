//! The fuzz engine shared by the smoke test (`tests/fuzz/main.rs`) and the long run
//! (`benches/fuzz.rs`): for each case a seeded generator builds a structured input (a
//! random value of a random or real schema type, or a random RESP reply), encodes it, and
//! mostly mutates the bytes (bit flips, interesting bytes, format tokens such as huge
//! length headers, deleted / repeated / spliced ranges, truncation). Every case checks:
//!
//! - no panic (caught and reported with the input);
//! - the bytes allocated while decoding stay under a bound linear in the input's length,
//!   so that no announced length drives an allocation;
//! - structured inputs round-trip: `decode(encode(v)) == v`, every strict prefix of a
//!   RESP reply is "incomplete" and trailing bytes are not consumed;
//! - whatever a decoder accepts encodes again and decodes to the same value.
//!
//! A case is determined by (target, seed, case number) alone, so a failure reproduces with
//! `FUZZ_SEED` / `FUZZ_CASE` (see `benches/fuzz.rs`).

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use terraform_provider_redis::redis::rdb::{self, write, Collect, RdbError, Summary};
use terraform_provider_redis::redis::resp::{self, Reply};
use terraform_provider_redis::tf::json::{self, JsonOptions};
use terraform_provider_redis::tf::msgpack::{self, CodecError};
use terraform_provider_redis::tf::types::Type;
use terraform_provider_redis::tf::value::{Number, Refinements, Value};

use crate::alloc::peak_during;

/// What is fuzzed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `tf::msgpack::decode` (DynamicValue.msgpack from Terraform).
    Msgpack,
    /// `tf::json::decode` (DynamicValue.json, stored state).
    Json,
    /// `redis::resp::parse_reply` (bytes from a Redis server).
    Resp,
    /// `redis::rdb::parse` (RDB files from a server, a store or a user).
    Rdb,
}

impl Target {
    /// All targets, in report order.
    #[allow(dead_code)] // the long run's; the smoke test names each
    pub const ALL: [Target; 4] = [Target::Msgpack, Target::Json, Target::Resp, Target::Rdb];

    /// Its name in reports and in `FUZZ_TARGETS`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Msgpack => "msgpack",
            Target::Json => "json",
            Target::Resp => "resp",
            Target::Rdb => "rdb",
        }
    }
}

/// Bytes a decoder may allocate for any input, whatever its length (error messages with
/// paths, a first collection's capacity, serde_json's scratch space).
pub const ALLOC_BASE: usize = 64 * 1024;

/// Bytes a decoder may allocate per input byte: one decoded element per input byte at most,
/// each a `Value` (or a serde_json node) in a collection that may have doubled its capacity
/// once. An allocation driven by an announced length instead of present bytes breaks it.
pub fn alloc_per_byte(target: Target) -> usize {
    match target {
        Target::Msgpack | Target::Json => 4 * std::mem::size_of::<Value>(),
        Target::Resp => 4 * std::mem::size_of::<Reply>(),
        // LZF expands at most 132-fold and a compressed member or packed blob is held
        // decompressed; payload capture copies the input once more.
        Target::Rdb => 160,
    }
}

/// Bytes a decoder may allocate for any input of `target`: [`ALLOC_BASE`], and for the RDB
/// parser its 64 KiB read buffer on top.
pub fn alloc_base(target: Target) -> usize {
    match target {
        Target::Rdb => ALLOC_BASE + 64 * 1024,
        _ => ALLOC_BASE,
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Inputs decoded.
    pub inputs: u64,
    /// Inputs the decoder accepted (a value, or a complete reply).
    pub accepted: u64,
    /// Round-trip checks that ran (structured inputs and re-encoded accepted ones).
    pub round_trips: u64,
    /// Total bytes of input.
    pub bytes: u64,
    /// The longest input.
    pub longest: usize,
    /// The most bytes one decode allocated at its peak.
    pub peak_alloc: usize,
    /// The input length of that decode.
    pub peak_alloc_input: usize,
    /// The highest peak allocation per input byte seen for inputs of 64 bytes or more.
    pub worst_ratio: f64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Report {
    /// Inputs per second.
    pub fn rate(&self) -> f64 {
        self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A property that did not hold, with everything needed to reproduce it.
#[derive(Debug)]
pub struct Failure {
    /// The target.
    pub target: Target,
    /// The run's seed.
    pub seed: u64,
    /// The case number.
    pub case: u64,
    /// The type the input was decoded against (msgpack/JSON).
    pub ty: Option<String>,
    /// The input.
    pub input: Vec<u8>,
    /// What went wrong.
    pub what: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} fuzz case failed: {}\n  reproduce: FUZZ_TARGETS={} FUZZ_SEED={:#x} FUZZ_CASE={}",
            self.target.name(),
            self.what,
            self.target.name(),
            self.seed,
            self.case
        )?;
        if let Some(ty) = &self.ty {
            writeln!(f, "  type: {ty}")?;
        }
        let shown = &self.input[..self.input.len().min(512)];
        write!(
            f,
            "  input ({} bytes{}): {}",
            self.input.len(),
            if shown.len() < self.input.len() {
                ", first 512 shown"
            } else {
                ""
            },
            shown.escape_ascii()
        )
    }
}

/// Runs `cases` cases of `target` from `first_case` on, or until `deadline`.
pub fn run(
    target: Target,
    seed: u64,
    first_case: u64,
    cases: u64,
    deadline: Option<Instant>,
) -> Result<Report, Box<Failure>> {
    let types = schema_types();
    let start = Instant::now();
    let mut report = Report::default();
    for case in first_case..first_case.saturating_add(cases) {
        if deadline.is_some_and(|d| case % 256 == 0 && Instant::now() >= d) {
            break;
        }
        let mut rng = Rng::for_case(seed, target, case);
        let fail = |ty: Option<&Type>, input: &[u8], what: String| {
            Box::new(Failure {
                target,
                seed,
                case,
                ty: ty.map(Type::to_string),
                input: input.to_vec(),
                what,
            })
        };
        let outcome = match target {
            Target::Msgpack => value_case(&MSGPACK, &mut rng, &types, &mut report),
            Target::Json => value_case(&JSON, &mut rng, &types, &mut report),
            Target::Resp => resp_case(&mut rng, &mut report),
            Target::Rdb => rdb_case(&mut rng, &mut report),
        };
        if let Err(CaseError { ty, input, what }) = outcome {
            return Err(fail(ty.as_ref(), &input, what));
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

/// A failed property inside one case.
struct CaseError {
    ty: Option<Type>,
    input: Vec<u8>,
    what: String,
}

type CaseResult = Result<(), CaseError>;

/// Runs `decode` on `input` with panics caught and its allocations measured, and checks
/// the allocation bound.
fn guarded<T>(
    target: Target,
    ty: Option<&Type>,
    input: &[u8],
    report: &mut Report,
    decode: impl FnOnce() -> T,
) -> Result<T, CaseError> {
    let fail = |what: String| CaseError {
        ty: ty.cloned(),
        input: input.to_vec(),
        what,
    };
    let (out, peak) = peak_during(|| catch_unwind(AssertUnwindSafe(decode)));
    let out = out.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a non-string panic".to_owned());
        fail(format!("the decoder panicked: {message}"))
    })?;
    report.inputs += 1;
    report.bytes += input.len() as u64;
    report.longest = report.longest.max(input.len());
    if peak > report.peak_alloc {
        report.peak_alloc = peak;
        report.peak_alloc_input = input.len();
    }
    if input.len() >= 64 {
        report.worst_ratio = report.worst_ratio.max(peak as f64 / input.len() as f64);
    }
    let bound = alloc_base(target) + alloc_per_byte(target) * input.len();
    if peak > bound {
        return Err(fail(format!(
            "decoding {} bytes allocated {peak} bytes at its peak (bound {bound})",
            input.len()
        )));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// msgpack

/// One of the two value codecs, as the value cases use it.
struct Codec {
    target: Target,
    /// Whether it carries unknown values (msgpack does, JSON does not).
    unknowns: bool,
    tokens: &'static [&'static [u8]],
    encode: fn(&Value, &Type) -> Result<Vec<u8>, CodecError>,
    decode: fn(&[u8], &Type, JsonOptions) -> Result<Value, CodecError>,
}

const MSGPACK: Codec = Codec {
    target: Target::Msgpack,
    unknowns: true,
    tokens: MSGPACK_TOKENS,
    encode: msgpack::encode,
    decode: |bytes, ty, _| msgpack::decode(bytes, ty),
};

const JSON: Codec = Codec {
    target: Target::Json,
    unknowns: false,
    tokens: JSON_TOKENS,
    encode: json::encode,
    decode: json::decode,
};

/// A value case: a random value of a random or schema type, encoded; then either decoded
/// as is (it must come back exactly) or mutated and decoded (what is accepted must encode
/// and decode to the same value again).
fn value_case(codec: &Codec, rng: &mut Rng, types: &[Type], report: &mut Report) -> CaseResult {
    let ty = pick_type(rng, types);
    let value = random_value(rng, &ty, codec.unknowns, 3);
    let options = JsonOptions {
        ignore_undefined_attributes: rng.below(2) == 0,
    };
    let fail = |ty: &Type, input: &[u8], what: String| CaseError {
        ty: Some(ty.clone()),
        input: input.to_vec(),
        what,
    };
    let encoded = (codec.encode)(&value, &ty)
        .map_err(|e| fail(&ty, &[], format!("a generated value does not encode: {e}")))?;
    if rng.below(4) == 0 {
        let decoded = guarded(codec.target, Some(&ty), &encoded, report, || {
            (codec.decode)(&encoded, &ty, options)
        })?;
        report.round_trips += 1;
        if decoded.as_ref() != Ok(&value) {
            return Err(fail(
                &ty,
                &encoded,
                format!("decode(encode(v)) != v: v = {value:?}, decoded {decoded:?}"),
            ));
        }
        return Ok(());
    }
    let other = (codec.encode)(&random_value(rng, &ty, codec.unknowns, 2), &ty).unwrap_or_default();
    let input = mutate(rng, encoded, &other, codec.tokens);
    // Mostly the type it was made for; sometimes another one.
    let ty = if rng.below(8) == 0 {
        pick_type(rng, types)
    } else {
        ty
    };
    let decoded = guarded(codec.target, Some(&ty), &input, report, || {
        (codec.decode)(&input, &ty, options)
    })?;
    let Ok(decoded) = decoded else {
        return Ok(());
    };
    report.accepted += 1;
    report.round_trips += 1;
    let again = (codec.encode)(&decoded, &ty).map_err(|e| {
        fail(
            &ty,
            &input,
            format!("an accepted value does not encode: {e}: {decoded:?}"),
        )
    })?;
    match (codec.decode)(&again, &ty, JsonOptions::default()) {
        Ok(back) if same(&back, &decoded) => Ok(()),
        other => Err(fail(
            &ty,
            &input,
            format!(
                "an accepted value does not round-trip: {decoded:?} came back as {other:?} (from {})",
                again.escape_ascii()
            ),
        )),
    }
}

/// Value equality where NaN equals NaN (msgpack can carry NaN; JSON cannot), and a null
/// with a type in a dynamic position (`[type, nil]` on the wire) equals a plain null: the
/// encoder writes the latter for both, and both are null to every reader.
fn same(a: &Value, b: &Value) -> bool {
    let (a, b) = (without_typed_nulls(a), without_typed_nulls(b));
    a == b || format!("{a:?}") == format!("{b:?}")
}

fn without_typed_nulls(v: &Value) -> Value {
    match v {
        Value::Dynamic(_, inner) if inner.is_null() => Value::Null,
        Value::Dynamic(ty, inner) => {
            Value::Dynamic(ty.clone(), Box::new(without_typed_nulls(inner)))
        }
        Value::List(items) => Value::List(items.iter().map(without_typed_nulls).collect()),
        Value::Set(items) => Value::Set(items.iter().map(without_typed_nulls).collect()),
        Value::Tuple(items) => Value::Tuple(items.iter().map(without_typed_nulls).collect()),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), without_typed_nulls(v)))
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), without_typed_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

const MSGPACK_TOKENS: &[&[u8]] = &[
    &[0xc0],
    &[0xc1],
    &[0xc2],
    &[0xc3],
    &[0xd4, 0x00, 0x00],
    &[0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2],
    &[0xc9, 0xff, 0xff, 0xff, 0xff, 0x0c],
    &[0xdc, 0xff, 0xff],
    &[0xdd, 0xff, 0xff, 0xff, 0xff],
    &[0xdd, 0x00, 0x10, 0x00, 0x00],
    &[0xde, 0xff, 0xff],
    &[0xdf, 0x7f, 0xff, 0xff, 0xff],
    &[0xdb, 0xff, 0xff, 0xff, 0xff],
    &[0xc6, 0x7f, 0xff, 0xff, 0xff],
    &[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0],
    &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0],
    &[0x92],
    &[0x9f],
    &[0x8f],
    &[0x81, 0xa1, b'a'],
    &[0xa5, b'h', b'e', b'l', b'l', b'o'],
    &[0xa2, 0xff, 0xfe],
    &[
        0xb4, b'[', b'"', b'l', b'i', b's', b't', b'"', b',', b'"', b'd', b'y', b'n', b'a', b'm',
        b'i', b'c', b'"', b']', b' ',
    ],
    &[0xa9, b'"', b'n', b'u', b'm', b'b', b'e', b'r', b'"', b' '],
    &[0xa3, b'1', b'e', b'9'],
];

// ---------------------------------------------------------------------------------------
// JSON

const JSON_TOKENS: &[&[u8]] = &[
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b",",
    b":",
    b"null",
    b"true",
    b"\"true\"",
    b"1e999",
    b"-0",
    b"-0.0",
    b"18446744073709551616",
    b"99999999999999999999999",
    b"1.5",
    b"1e-400",
    b"\"12e\"",
    b"\"\\ud800\"",
    b"\"\\u0000\"",
    b"\"\xff\"",
    b"{\"type\":\"dynamic\",\"value\":",
    b"{\"type\":[\"list\",\"dynamic\"],\"value\":[",
    b"[\"list\",",
    b"[\"object\",{\"a\":\"string\"},[\"a\"]]",
    b"\"number\"",
    b"\"string\"",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

// ---------------------------------------------------------------------------------------
// RESP

fn resp_case(rng: &mut Rng, report: &mut Report) -> CaseResult {
    let reply = random_reply(rng, 4);
    let mut encoded = Vec::new();
    resp::encode_reply(&reply, &mut encoded);
    let fail = |input: &[u8], what: String| CaseError {
        ty: None,
        input: input.to_vec(),
        what,
    };
    if rng.below(4) == 0 {
        // Structured: the whole reply, with trailing bytes, and a strict prefix.
        let mut with_more = encoded.clone();
        with_more.extend_from_slice(b"+NEXT\r\n");
        let parsed = guarded(Target::Resp, None, &with_more, report, || {
            resp::parse_reply(&with_more)
        })?;
        report.round_trips += 1;
        if parsed != Ok(Some((reply.clone(), encoded.len()))) {
            return Err(fail(
                &with_more,
                format!("parse(encode(r)) != r: r = {reply:?}, parsed {parsed:?}"),
            ));
        }
        let cut = rng.below(encoded.len() as u64) as usize;
        let prefix = &encoded[..cut];
        let parsed = guarded(Target::Resp, None, prefix, report, || {
            resp::parse_reply(prefix)
        })?;
        if parsed != Ok(None) {
            return Err(fail(
                prefix,
                format!("a strict prefix of a reply is not incomplete: {parsed:?}"),
            ));
        }
        return Ok(());
    }
    let mut other = Vec::new();
    resp::encode_reply(&random_reply(rng, 2), &mut other);
    let input = mutate(rng, encoded, &other, RESP_TOKENS);
    // Sometimes a small whole-reply limit, to exercise it.
    let limit = if rng.below(4) == 0 {
        rng.below(256) as usize
    } else {
        resp::MAX_REPLY_LEN
    };
    let parsed = guarded(Target::Resp, None, &input, report, || {
        resp::parse_reply_within(&input, limit)
    })?;
    // The scanner a connection uses agrees, given the bytes as they might arrive: a few
    // growing prefixes, then all.
    let mut cuts: Vec<usize> = (0..rng.below(4))
        .map(|_| rng.below(input.len() as u64 + 1) as usize)
        .collect();
    cuts.sort_unstable();
    cuts.push(input.len());
    let scanned = guarded(Target::Resp, None, &input, report, || {
        let mut scanner = resp::ReplyScanner::within(limit);
        let mut verdict = Ok(None);
        for &cut in &cuts {
            verdict = scanner.scan(&input[..cut]);
            if !matches!(verdict, Ok(None)) {
                break;
            }
        }
        verdict
    })?;
    let expected = parsed
        .as_ref()
        .map(|p| p.as_ref().map(|(_, used)| *used))
        .map_err(Clone::clone);
    if scanned != expected {
        return Err(fail(
            &input,
            format!("the scanner (fed up to {cuts:?}) says {scanned:?}, the parser {parsed:?}"),
        ));
    }
    let Ok(Some((parsed, used))) = parsed else {
        return Ok(());
    };
    report.accepted += 1;
    report.round_trips += 1;
    if used > input.len() || used > limit {
        return Err(fail(
            &input,
            format!("used {used} bytes of {} (limit {limit})", input.len()),
        ));
    }
    let mut again = Vec::new();
    resp::encode_reply(&parsed, &mut again);
    match resp::parse_reply(&again) {
        Ok(Some((back, n))) if back == parsed && n == again.len() => Ok(()),
        other => Err(fail(
            &input,
            format!("an accepted reply does not round-trip: {parsed:?} came back as {other:?}"),
        )),
    }
}

const RESP_TOKENS: &[&[u8]] = &[
    b"*",
    b"$",
    b"+",
    b"-",
    b":",
    b"\r\n",
    b"\r",
    b"\n",
    b"*-1\r\n",
    b"$-1\r\n",
    b"*0\r\n",
    b"*1\r\n",
    b"*1000\r\n",
    b"*16000000\r\n",
    b"*16777217\r\n",
    b"$536870912\r\n",
    b"$400000000\r\n",
    b"$0\r\n\r\n",
    b":9223372036854775808\r\n",
    b":-9223372036854775808\r\n",
    b"+OK\r\n",
    b"-ERR x\r\n",
];

fn random_reply(rng: &mut Rng, depth: u32) -> Reply {
    match rng.below(if depth == 0 { 5 } else { 7 }) {
        0 => Reply::Simple(random_line(rng)),
        1 => Reply::Error(format!("ERR {}", random_line(rng))),
        2 => Reply::Integer(random_i64(rng)),
        3 => Reply::Bulk(random_bytes(rng)),
        4 => Reply::Nil,
        _ => {
            let n = random_len(rng);
            Reply::Array((0..n).map(|_| random_reply(rng, depth - 1)).collect())
        }
    }
}

/// Text without CR or LF (what a status or error line can hold).
fn random_line(rng: &mut Rng) -> String {
    random_string(rng).replace(['\r', '\n'], " ")
}

// ---------------------------------------------------------------------------------------
// Values and types

/// The types the provider really decodes: its provider block and every resource's block.
fn schema_types() -> Vec<Type> {
    use terraform_provider_redis::tf::Provider as _;
    let provider = terraform_provider_redis::provider::RedisProvider::new();
    let mut types = vec![provider.schema().block.value_type()];
    types.extend(
        provider
            .resources()
            .iter()
            .map(|r| r.schema().block.value_type()),
    );
    types
}

fn pick_type(rng: &mut Rng, schema_types: &[Type]) -> Type {
    if !schema_types.is_empty() && rng.below(4) == 0 {
        schema_types[rng.below(schema_types.len() as u64) as usize].clone()
    } else {
        random_type(rng, 3)
    }
}

fn random_type(rng: &mut Rng, depth: u32) -> Type {
    let leaf = depth == 0 || rng.below(3) == 0;
    match if leaf { rng.below(4) } else { 4 + rng.below(6) } {
        0 => Type::Bool,
        1 => Type::Number,
        2 => Type::String,
        3 | 9 => Type::Dynamic,
        4 => Type::list(random_type(rng, depth - 1)),
        5 => Type::set(random_type(rng, depth - 1)),
        6 => Type::map(random_type(rng, depth - 1)),
        7 => {
            Type::object((0..rng.below(5)).map(|i| (format!("a{i}"), random_type(rng, depth - 1))))
        }
        _ => Type::Tuple(
            (0..rng.below(4))
                .map(|_| random_type(rng, depth - 1))
                .collect(),
        ),
    }
}

/// Refinements exactly as the encoder writes them for `ty` (so that they round-trip).
fn random_refinements(rng: &mut Rng, ty: &Type) -> Refinements {
    let mut r = Refinements {
        not_null: rng.below(2) == 0,
        ..Refinements::default()
    };
    match ty {
        Type::String if rng.below(2) == 0 => {
            r.string_prefix = Some(format!("p{}", random_string(rng)));
        }
        Type::Number => {
            if rng.below(2) == 0 {
                r.number_lower = Some((random_number(rng), rng.below(2) == 0));
            }
            if rng.below(2) == 0 {
                r.number_upper = Some((random_number(rng), rng.below(2) == 0));
            }
        }
        t if t.is_collection() => {
            if rng.below(2) == 0 {
                r.length_lower = Some(1 + rng.below(1000));
            }
            if rng.below(2) == 0 {
                r.length_upper = Some(rng.below(u64::MAX >> 1));
            }
        }
        _ => {}
    }
    r
}

/// A random value of `ty`; unknowns only when `unknowns` (JSON has none).
fn random_value(rng: &mut Rng, ty: &Type, unknowns: bool, depth: u32) -> Value {
    match rng.below(10) {
        0 => return Value::Null,
        1 if unknowns && *ty == Type::Dynamic => return Value::unknown(),
        1 if unknowns => return Value::Unknown(random_refinements(rng, ty)),
        _ => {}
    }
    match ty {
        Type::Bool => Value::Bool(rng.below(2) == 0),
        Type::Number => Value::Number(random_number(rng)),
        Type::String => Value::String(random_string(rng)),
        Type::List(e) => Value::List(
            (0..random_len(rng))
                .map(|_| random_value(rng, e, unknowns, depth))
                .collect(),
        ),
        Type::Set(e) => Value::Set(
            (0..random_len(rng))
                .map(|_| random_value(rng, e, unknowns, depth))
                .collect(),
        ),
        Type::Map(e) => Value::Map(
            (0..random_len(rng))
                .map(|_| (random_string(rng), random_value(rng, e, unknowns, depth)))
                .collect(),
        ),
        Type::Object { attributes, .. } => Value::Object(
            attributes
                .iter()
                .map(|(k, t)| (k.clone(), random_value(rng, t, unknowns, depth)))
                .collect(),
        ),
        Type::Tuple(ts) => Value::Tuple(
            ts.iter()
                .map(|t| random_value(rng, t, unknowns, depth))
                .collect(),
        ),
        Type::Dynamic => {
            let inner_ty = random_type(rng, depth.min(2));
            match random_value(rng, &inner_ty, unknowns, depth.saturating_sub(1)) {
                // Null and unknown lose their type (and refinements) in a dynamic position.
                Value::Null => Value::Null,
                Value::Unknown(_) => Value::unknown(),
                v => Value::Dynamic(inner_ty, Box::new(v)),
            }
        }
    }
}

/// Mostly short collections, sometimes ones that need 16-bit msgpack headers.
fn random_len(rng: &mut Rng) -> usize {
    match rng.below(16) {
        0 => 16 + rng.below(24) as usize,
        1 => 0,
        _ => rng.below(5) as usize,
    }
}

/// Numbers as the decoders give them back: integers of every msgpack width, finite floats
/// with a fraction, and whole numbers beyond 64 bits as text.
fn random_number(rng: &mut Rng) -> Number {
    match rng.below(4) {
        0 | 1 => Number::Int(random_i64(rng)),
        2 => Number::Float(
            (rng.below(1 << 40) as f64 + 0.5) * if rng.below(2) == 0 { 1.0 } else { -1e-3 },
        ),
        _ => Number::Big(format!(
            "{}{:019}",
            1 + rng.below(9),
            rng.below(u64::MAX >> 1)
        )),
    }
}

fn random_i64(rng: &mut Rng) -> i64 {
    const EDGES: [i64; 16] = [
        0,
        1,
        -1,
        127,
        128,
        -32,
        -33,
        255,
        256,
        65_535,
        65_536,
        -129,
        -32_769,
        4_294_967_296,
        i64::MAX,
        i64::MIN,
    ];
    if rng.below(2) == 0 {
        EDGES[rng.below(EDGES.len() as u64) as usize]
    } else {
        (rng.next() as i64) >> rng.below(64)
    }
}

fn random_string(rng: &mut Rng) -> String {
    const PIECES: [&str; 12] = [
        "a",
        "redis",
        "",
        "é",
        "\"",
        "\\",
        "\u{0}",
        "\u{1f600}",
        " ",
        "\t",
        "x\r\ny",
        "/",
    ];
    let n = match rng.below(16) {
        0 => 40 + rng.below(40),
        _ => rng.below(4),
    };
    (0..n)
        .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
        .collect()
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let n = match rng.below(16) {
        0 => 200 + rng.below(300),
        _ => rng.below(12),
    };
    (0..n).map(|_| rng.next() as u8).collect()
}

// ---------------------------------------------------------------------------------------
// Mutation

/// Applies 1 to 8 random mutations to `input`; `other` is a second valid input to splice.
fn mutate(rng: &mut Rng, mut input: Vec<u8>, other: &[u8], tokens: &[&[u8]]) -> Vec<u8> {
    if rng.below(32) == 0 {
        // Sometimes plain noise.
        let n = rng.below(64) as usize;
        return (0..n).map(|_| rng.next() as u8).collect();
    }
    let most = if rng.below(4) == 0 { 8 } else { 2 };
    let rounds = 1 + rng.below(most);
    for _ in 0..rounds {
        let len = input.len();
        let at = |rng: &mut Rng| rng.below(len as u64 + 1) as usize;
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len as u64) as usize;
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                const INTERESTING: [u8; 10] =
                    [0, 0xff, 0x7f, 0x80, 0xc0, 0xc1, b'\r', b'\n', b'-', b'9'];
                let i = rng.below(len as u64) as usize;
                input[i] = if rng.below(2) == 0 {
                    INTERESTING[rng.below(INTERESTING.len() as u64) as usize]
                } else {
                    rng.next() as u8
                };
            }
            2 | 3 => {
                let token = tokens[rng.below(tokens.len() as u64) as usize];
                let i = at(rng);
                input.splice(i..i, token.iter().copied());
            }
            4 if len > 0 => {
                // Overwrite with a token.
                let token = tokens[rng.below(tokens.len() as u64) as usize];
                let i = rng.below(len as u64) as usize;
                let end = (i + token.len()).min(len);
                input.splice(i..end, token.iter().copied());
            }
            5 if len > 0 => {
                let i = rng.below(len as u64) as usize;
                let end = (i + 1 + rng.below(16) as usize).min(len);
                input.drain(i..end);
            }
            6 if len > 0 => {
                // Repeat a range (nesting, many elements).
                let i = rng.below(len as u64) as usize;
                let end = (i + 1 + rng.below(8) as usize).min(len);
                let piece = input[i..end].to_vec();
                let most = if rng.below(8) == 0 { 300 } else { 4 };
                let times = 1 + rng.below(most) as usize;
                let repeated: Vec<u8> = piece
                    .iter()
                    .copied()
                    .cycle()
                    .take(piece.len() * times)
                    .collect();
                input.splice(i..i, repeated);
            }
            7 => {
                // Repeat a token (deep nesting bombs, many huge headers).
                let token = tokens[rng.below(tokens.len() as u64) as usize];
                let times = 2 + rng.below(200) as usize;
                let i = at(rng);
                input.splice(
                    i..i,
                    token.iter().copied().cycle().take(token.len() * times),
                );
            }
            8 if !other.is_empty() => {
                let from = rng.below(other.len() as u64) as usize;
                let to = (from + 1 + rng.below(32) as usize).min(other.len());
                let i = at(rng);
                let end = (i + rng.below(16) as usize).min(len);
                input.splice(i..end, other[from..to].iter().copied());
            }
            9 if len > 0 => input.truncate(rng.below(len as u64) as usize),
            _ => {
                if len > 0 {
                    let i = rng.below(len as u64) as usize;
                    input[i] = input[i].wrapping_add(1 + rng.below(15) as u8);
                }
            }
        }
    }
    input
}

// ---------------------------------------------------------------------------------------
// RDB

/// Real dumps (tests/fixtures/rdb, made by `make.sh` there) to start from.
const RDB_SEEDS: [&[u8]; 4] = [
    include_bytes!("../fixtures/rdb/redis-7.0.rdb"),
    include_bytes!("../fixtures/rdb/redis-7.2.rdb"),
    include_bytes!("../fixtures/rdb/redis-7.4.rdb"),
    include_bytes!("../fixtures/rdb/valkey-8.rdb"),
];

/// An RDB case: a real dump or a generated file of random keys, then either parsed as is
/// (it must be accepted, with the generated keys' payloads) or mutated, sometimes
/// re-signed with a correct CRC so that the structure is what is judged, and parsed. Every
/// input is also parsed in random pieces (the verdict must not depend on how the bytes
/// arrive); whatever is accepted must give each key a payload that, put alone in a new
/// file, is accepted again with the same payload.
fn rdb_case(rng: &mut Rng, report: &mut Report) -> CaseResult {
    let fail = |input: &[u8], what: String| CaseError {
        ty: None,
        input: input.to_vec(),
        what,
    };
    let (base, expected) = if rng.below(3) == 0 {
        let seed = RDB_SEEDS[rng.below(RDB_SEEDS.len() as u64) as usize];
        (seed.to_vec(), None)
    } else {
        let (file, payloads) = random_rdb(rng);
        (file, Some(payloads))
    };
    if rng.below(4) == 0 {
        let parsed = guarded(Target::Rdb, None, &base, report, || parse_collect(&base))?;
        report.round_trips += 1;
        let (_, seen) = parsed.map_err(|e| fail(&base, format!("a valid file is refused: {e}")))?;
        if let Some(expected) = expected {
            let got: Vec<Vec<u8>> = seen
                .entries
                .iter()
                .map(|e| e.restore_payload.clone().unwrap_or_default())
                .collect();
            if got != expected {
                return Err(fail(&base, "the payloads are not the keys' bytes".into()));
            }
        }
        let cut = rng.below(base.len() as u64) as usize;
        if rdb::verify(&base[..cut]).is_ok() {
            return Err(fail(&base[..cut], "a strict prefix is accepted".into()));
        }
        return Ok(());
    }
    let other = random_rdb(rng).0;
    let mut input = mutate(rng, base, &other, RDB_TOKENS);
    if input.len() > 17 && rng.below(2) == 0 {
        let n = input.len() - 8;
        let crc = rdb::crc64(0, &input[..n]);
        input[n..].copy_from_slice(&crc.to_le_bytes());
    }
    let parsed = guarded(Target::Rdb, None, &input, report, || parse_collect(&input))?;
    let pieces = Pieces {
        data: &input,
        at: 0,
        rng: Rng(rng.next()),
    };
    let pieced = guarded(Target::Rdb, None, &input, report, || {
        rdb::parse(pieces, &mut Collect::default())
    })?;
    let summary = parsed
        .as_ref()
        .map(|(s, _)| s.clone())
        .map_err(Clone::clone);
    if pieced != summary {
        return Err(fail(
            &input,
            format!("parsed whole: {summary:?}; in pieces: {pieced:?}"),
        ));
    }
    let Ok((summary, seen)) = parsed else {
        return Ok(());
    };
    report.accepted += 1;
    for e in &seen.entries {
        let payload = e.restore_payload.clone().unwrap_or_default();
        if payload.len() < 11 {
            return Err(fail(
                &input,
                format!("a payload of {} bytes", payload.len()),
            ));
        }
        let value = &payload[1..payload.len() - 10];
        let header = match summary.magic {
            rdb::Magic::Redis => write::Writer::redis(summary.rdb_version),
            rdb::Magic::Valkey => write::Writer::valkey(summary.rdb_version),
        };
        let alone = header.key(payload[0], "k", value).finish();
        report.round_trips += 1;
        match parse_collect(&alone) {
            Ok((s, again))
                if s.keys == 1 && again.entries[0].restore_payload == Some(payload.clone()) => {}
            other => {
                return Err(fail(
                    &input,
                    format!(
                        "key {} accepted, but its payload alone in a file is not: {:?}",
                        e.key.escape_ascii(),
                        other.map(|(s, _)| s)
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn parse_collect(input: &[u8]) -> Result<(Summary, Collect), RdbError> {
    let mut seen = Collect::default();
    rdb::parse(input, &mut seen).map(|s| (s, seen))
}

/// A reader giving its data in random pieces of 1 to 40 bytes.
struct Pieces<'a> {
    data: &'a [u8],
    at: usize,
    rng: Rng,
}

impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (1 + self.rng.below(40) as usize)
            .min(buf.len())
            .min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A valid file of random keys, and each key's expected payload.
fn random_rdb(rng: &mut Rng) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (mut w, version, valkey) = match rng.below(4) {
        0 => (write::Writer::redis(10), 10, false),
        1 => (write::Writer::redis(11), 11, false),
        2 => (write::Writer::redis(12), 12, false),
        _ => (write::Writer::valkey(80), 80, true),
    };
    w = w
        .aux("redis-ver", "7.2.6")
        .aux("ctime", &rng.next().to_string());
    if rng.below(4) == 0 {
        w = w.raw(&[245]).raw(&write::string(
            b"#!lua name=x\nredis.register_function('f', function() return 1 end)",
        ));
    }
    let mut payloads = Vec::new();
    for db in 0..1 + rng.below(3) {
        w = w.raw(&[254]).raw(&write::length(db * 7)).raw(&[251, 1, 0]);
        for k in 0..rng.below(6) {
            match rng.below(4) {
                0 => w = w.raw(&[252]).raw(&(rng.next() as i64 >> 20).to_le_bytes()),
                1 => w = w.raw(&[248]).raw(&write::length(rng.below(100_000))),
                2 => w = w.raw(&[249, rng.next() as u8]),
                _ => {}
            }
            let (t, value) = random_value_bytes(rng, version, valkey);
            w = w.key(t, &format!("key{k}"), &value);
            let mut body = vec![t];
            body.extend_from_slice(&value);
            payloads.push(rdb::dump_payload(body, version as u16));
        }
    }
    (w.finish(), payloads)
}

/// A random value of a type the version has: its type byte and encoding.
fn random_value_bytes(rng: &mut Rng, version: u32, valkey: bool) -> (u8, Vec<u8>) {
    use write::{intset, length, listpack, string, Elem};
    let word = |rng: &mut Rng| -> Vec<u8> {
        let n = rng.below(12) as usize;
        (0..n).map(|_| b'a' + rng.below(26) as u8).collect()
    };
    let words = |rng: &mut Rng, n: u64| -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = (0..n)
            .map(|i| [word(rng), i.to_string().into_bytes()].concat())
            .collect();
        v.dedup();
        v
    };
    let n = 1 + rng.below(6);
    let mut v = Vec::new();
    let pick = rng.below(12);
    let t = match pick {
        0 => {
            v = match rng.below(3) {
                0 => string(&word(rng)),
                1 => vec![0xc1, rng.next() as u8, rng.next() as u8],
                _ => {
                    // LZF made of one literal run.
                    let text = word(rng);
                    let mut lzf = vec![text.len().saturating_sub(1) as u8];
                    lzf.extend_from_slice(&text);
                    if text.is_empty() {
                        string(b"")
                    } else {
                        [
                            vec![0xc3],
                            length(lzf.len() as u64),
                            length(text.len() as u64),
                            lzf,
                        ]
                        .concat()
                    }
                }
            };
            0
        }
        1 | 2 | 4 => {
            let members = words(rng, n);
            v.extend(length(members.len() as u64));
            for m in &members {
                v.extend(string(m));
                if pick == 4 {
                    v.extend(string(&word(rng)));
                }
            }
            pick as u8
        }
        3 => {
            let members = words(rng, n);
            v.extend(length(members.len() as u64));
            for m in &members {
                v.extend(string(m));
                v.extend((rng.next() as f64 / 7.0).to_le_bytes());
            }
            5
        }
        5 => {
            let mut ints: Vec<i16> = (0..n).map(|_| rng.next() as i16).collect();
            ints.sort_unstable();
            ints.dedup();
            v.extend(string(&intset(&ints)));
            11
        }
        6 if version >= 11 => {
            let members = words(rng, n);
            let elems: Vec<Elem> = members.iter().map(|m| Elem::Str(m)).collect();
            v.extend(string(&listpack(&elems)));
            20
        }
        7 => {
            let members = words(rng, n);
            let mut elems = Vec::new();
            for m in &members {
                elems.push(Elem::Str(m));
                elems.push(Elem::Int(rng.next() as i64 >> rng.below(64)));
            }
            v.extend(string(&listpack(&elems)));
            if rng.below(2) == 0 {
                16
            } else {
                17
            }
        }
        8 => {
            v.extend(length(n));
            for _ in 0..n {
                let w = word(rng);
                if w.len() > 8 {
                    v.extend(length(1));
                    v.extend(string(&w));
                } else {
                    let w2 = [w.clone(), b"x".to_vec()].concat();
                    v.extend(length(2));
                    v.extend(string(&listpack(&[
                        Elem::Str(&w2),
                        Elem::Int(rng.below(1000) as i64),
                    ])));
                }
            }
            18
        }
        9 if version == 12 && !valkey => {
            let members = words(rng, n);
            let far = 4_102_444_800_000i64;
            let mut elems = Vec::new();
            for (i, m) in members.iter().enumerate() {
                elems.push(Elem::Str(m));
                elems.push(Elem::Int(i as i64));
                elems.push(Elem::Int(if i < 2 { far + i as i64 } else { 0 }));
            }
            v.extend(far.to_le_bytes());
            v.extend(string(&listpack(&elems)));
            25
        }
        10 if valkey => {
            let members = words(rng, n);
            v.extend(length(members.len() as u64));
            for m in &members {
                v.extend(string(m));
                v.extend(string(&word(rng)));
                v.extend((-1i64).to_le_bytes());
            }
            22
        }
        11 => {
            v.extend(length(rng.next() >> 10));
            v.extend([2, 7, 5]);
            v.extend(string(&word(rng)));
            v.extend([4]);
            v.extend(1.5f64.to_le_bytes());
            v.push(0);
            7
        }
        _ => {
            v = string(&word(rng));
            0
        }
    };
    (t, v)
}

const RDB_TOKENS: &[&[u8]] = &[
    b"\xff",
    b"\xfe\x00",
    b"\xfc\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\xfa\x03abc\x01x",
    b"\xf5\x00",
    b"\x80\xff\xff\xff\xff",
    b"\x81\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\x40\xff",
    b"\xc3\x05\x40\x00",
    b"\xc3\x80\x00\x10\x00\x00\xe0",
    b"\xc0\x01",
    b"\xf4\xff\xff\xff\xff\xff\xff\xff\x7f",
    b"\xf0\xff\xff\xff\x7f",
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\x12\x01\x02",
    b"\x15\x01",
];

// ---------------------------------------------------------------------------------------
// Randomness

/// splitmix64: small, fast, and good enough for test inputs; seeded per case.
pub struct Rng(u64);

impl Rng {
    /// The generator of one case.
    pub fn for_case(seed: u64, target: Target, case: u64) -> Self {
        let mut rng = Rng(seed ^ (target as u64).wrapping_mul(0xa076_1d64_78bd_642f));
        rng.0 ^= case.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        rng.next();
        rng
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
