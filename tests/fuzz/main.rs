//! Fuzzing of what parses untrusted bytes: the msgpack and JSON value codecs (bytes from
//! Terraform and stored state), the RESP reply reader (bytes from a Redis server) and the
//! RDB parser (snapshots from a server, an object store or a user). A
//! short run with a fixed seed; `benches/fuzz.sh` runs the same engine for millions of
//! inputs. See `engine.rs` for what each case checks.

mod alloc;
mod engine;

use engine::Target;
use terraform_provider_redis::redis::resp::{self, ProtocolError};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// The smoke run's seed: fixed, so that a failure here reproduces exactly.
const SEED: u64 = 0x5eed_2026_1201;

fn smoke(target: Target, cases: u64) {
    match engine::run(target, SEED, 0, cases, None) {
        Ok(report) => {
            assert!(report.inputs >= cases, "{report:?}");
            assert!(report.accepted > 0, "nothing was ever accepted: {report:?}");
            eprintln!(
                "{}: {} inputs, {} accepted, {} round trips, {:.0} inputs/s, peak {} bytes",
                target.name(),
                report.inputs,
                report.accepted,
                report.round_trips,
                report.rate(),
                report.peak_alloc
            );
        }
        Err(failure) => panic!("{failure}"),
    }
}

#[test]
fn the_msgpack_decoder_survives_a_fixed_seed_smoke_run() {
    smoke(Target::Msgpack, 10_000);
}

#[test]
fn the_json_decoder_survives_a_fixed_seed_smoke_run() {
    smoke(Target::Json, 3_000);
}

#[test]
fn the_resp_reader_survives_a_fixed_seed_smoke_run() {
    smoke(Target::Resp, 40_000);
}

#[test]
fn the_rdb_parser_survives_a_fixed_seed_smoke_run() {
    smoke(Target::Rdb, 3_000);
}

#[test]
fn rdb_lengths_announcing_a_gigabyte_are_refused_without_allocating_it() {
    use terraform_provider_redis::redis::rdb::{self, Collect, RdbError};
    // A string value, an LZF string, a listpack blob and a key, each announcing about
    // 1 GiB and followed by 64 KiB of data: refused as truncated, allocating little more than the
    // parser's read buffer, payload capture on or off.
    let gib = [0x80u8, 0x3f, 0xff, 0xff, 0xf0];
    let bodies: [Vec<u8>; 4] = [
        [&[0u8, 1, b'k'][..], &gib].concat(),
        [&[0u8, 1, b'k', 0xc3][..], &gib, &gib].concat(),
        [&[20u8, 1, b'k'][..], &gib].concat(),
        [&[0u8][..], &gib].concat(),
    ];
    for body in bodies {
        let mut file = b"REDIS0011".to_vec();
        file.extend_from_slice(&body);
        // LZF literal runs of 32 bytes, so that the LZF case reads on too.
        let run: Vec<u8> = std::iter::once(31).chain([b'x'; 32]).collect();
        file.extend(run.iter().cycle().take(64 * 1024));
        let (parsed, peak) = alloc::peak_during(|| rdb::verify(&file[..]));
        assert!(
            matches!(parsed, Err(RdbError::Truncated { .. })),
            "{parsed:?}"
        );
        assert!(peak < 200 * 1024, "allocated {peak} bytes");
        let (parsed, peak) = alloc::peak_during(|| rdb::parse(&file[..], &mut Collect::default()));
        assert!(
            matches!(parsed, Err(RdbError::Truncated { .. })),
            "{parsed:?}"
        );
        assert!(peak < 400 * 1024, "allocated {peak} bytes with payloads");
    }
}

#[test]
fn a_resp_reply_announcing_more_than_the_limit_is_refused_without_allocating_it() {
    // Headers announcing 16 bulk strings of 400 MB each (each under the per-element
    // limit): refused from the headers alone, and the refusal allocates next to nothing.
    let mut headers = b"*16\r\n".to_vec();
    headers.extend_from_slice(b"$400000000\r\n");
    let (parsed, peak) = alloc::peak_during(|| resp::parse_reply(&headers));
    assert_eq!(
        parsed,
        Err(ProtocolError::ReplyTooLarge(resp::MAX_REPLY_LEN))
    );
    assert!(peak < 4096, "allocated {peak} bytes to refuse it");
}

#[test]
fn nested_resp_array_headers_allocate_little_before_their_elements_arrive() {
    // Found by the fuzzer: 27 nested `*1000` headers (191 bytes) made every level reserve
    // room for 1024 elements, 600 KB in all, before any element had arrived.
    let nested = b"*1000\r\n".repeat(27);
    let (parsed, peak) = alloc::peak_during(|| resp::parse_reply(&nested));
    assert_eq!(parsed, Ok(None));
    assert!(
        peak < 32 * 1024,
        "allocated {peak} bytes for {} bytes",
        nested.len()
    );
}

#[test]
fn nested_msgpack_array_headers_allocate_little_before_their_elements_arrive() {
    // A dynamic value whose type (from the input) is a list nested 100 deep, then 100
    // array headers announcing a million elements each, then 2000 bytes of padding that
    // are not elements. Every level may reserve room only for what is really there.
    use terraform_provider_redis::tf::{msgpack, types::Type};
    let depth = 100;
    let type_json = format!(
        "{}\"string\"{}",
        "[\"list\",".repeat(depth),
        "]".repeat(depth)
    );
    let mut input = vec![0x92, 0xc5];
    input.extend_from_slice(&(type_json.len() as u16).to_be_bytes());
    input.extend_from_slice(type_json.as_bytes());
    for _ in 0..depth {
        input.extend_from_slice(&[0xdd, 0x00, 0x10, 0x00, 0x00]);
    }
    input.extend(std::iter::repeat_n(0xc0, 2000));
    let (decoded, peak) = alloc::peak_during(|| msgpack::decode(&input, &Type::Dynamic));
    assert!(decoded.is_err());
    let bound = engine::ALLOC_BASE + engine::alloc_per_byte(Target::Msgpack) * input.len();
    assert!(
        peak < bound,
        "allocated {peak} bytes for {} bytes (bound {bound})",
        input.len()
    );
}

#[test]
fn the_counting_allocator_sees_an_allocation() {
    let (v, peak) = alloc::peak_during(|| vec![0u8; 100_000]);
    assert_eq!(v.len(), 100_000);
    assert!(peak >= 100_000, "{peak}");
}
