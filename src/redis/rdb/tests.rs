//! Unit tests on hand-built files: every opcode, every value type and packed encoding,
//! the Valkey 9 header, checksums off, each error class. (Real servers' files, `DUMP`
//! equality and `redis-check-rdb` verdicts: `tests/rdb_check.rs`.)

use super::encodings::EB_EXPIRE_TIME_MAX;
use super::write::{
    intset, length as len_bytes, listpack, string as str_bytes, ziplist, Elem as E, Writer as Rdb,
};
use super::*;

fn parse_all(file: &[u8]) -> Result<(Summary, Collect), RdbError> {
    let mut seen = Collect::default();
    let summary = parse(file, &mut seen)?;
    Ok((summary, seen))
}

/// Parses a file holding one key of type `t` with value bytes `value`; checks its
/// payload is the type, the value bytes and the DUMP footer.
fn one_key(version: u32, t: u8, value: &[u8]) -> Result<Summary, RdbError> {
    let file = Rdb::redis(version).key(t, "k", value).finish();
    let (summary, seen) = parse_all(&file)?;
    let mut body = vec![t];
    body.extend_from_slice(value);
    assert_eq!(
        seen.entries[0].restore_payload,
        Some(dump_payload(body, version as u16))
    );
    Ok(summary)
}

fn corrupt_what(r: Result<Summary, RdbError>) -> String {
    match r {
        Err(RdbError::Corrupt { what, .. }) => what,
        other => panic!("expected a corrupt error, got {other:?}"),
    }
}

// ---------------------------------------------------------------- headers and trailers

#[test]
fn an_empty_file_of_every_known_version_parses() {
    for v in 1..=12 {
        let s = verify(&Rdb::redis(v).finish()[..]).unwrap();
        assert_eq!((s.magic, s.rdb_version, s.keys), (Magic::Redis, v, 0));
        assert_eq!(s.checksum.is_some(), v >= 5, "version {v}");
    }
    let s = verify(&Rdb::valkey(80).finish()[..]).unwrap();
    assert_eq!((s.magic, s.rdb_version), (Magic::Valkey, 80));
    assert_eq!(s.bytes_read, 10 + 8);
}

#[test]
fn unknown_versions_and_magic_strings_are_refused_never_passed() {
    for header in [
        &b"REDIS0013"[..],
        b"REDIS0000",
        b"REDIS0080",
        b"REDIS00x1",
        b"VALKEY081",
        b"VALKEY011",
        b"VALKEY12x",
    ] {
        let mut f = header.to_vec();
        f.push(255);
        f.extend_from_slice(&crc64(0, &f).to_le_bytes());
        assert!(
            matches!(verify(&f[..]), Err(RdbError::UnsupportedVersion { .. })),
            "{}",
            header.escape_ascii()
        );
    }
    for header in [&b"RADIS0011"[..], b"VALKEX080", b"\0\0\0\0\0\0\0\0\0"] {
        assert!(matches!(verify(header), Err(RdbError::BadMagic { .. })));
    }
}

#[test]
fn the_header_version_is_read_from_redis_and_valkey_magic_strings_only() {
    assert_eq!(header_version(b"REDIS0011\xfa"), Some(11));
    assert_eq!(header_version(b"VALKEY080"), Some(80));
    assert_eq!(header_version(b"REDIS00x1"), None);
    assert_eq!(header_version(b"REDIS"), None);
    assert_eq!(header_version(b"valkey080"), None);
}

#[test]
fn aux_fields_of_interest_are_reported_and_others_skipped() {
    let file = Rdb::redis(11)
        .aux("redis-ver", "7.2.6")
        .aux("redis-bits", "64")
        .raw(&[250])
        .str(b"ctime")
        .raw(&[0xc2])
        .raw(&1_700_000_000i32.to_le_bytes())
        .aux("used-mem", "1234567")
        .aux("aof-base", "0")
        .aux("lua", &"x".repeat(5000))
        .finish();
    let s = verify(&file[..]).unwrap();
    assert_eq!(s.redis_ver.as_deref(), Some("7.2.6"));
    assert_eq!(s.redis_bits, Some(64));
    assert_eq!(s.ctime, Some(1_700_000_000));
    assert_eq!(s.used_mem, Some(1_234_567));
}

#[test]
fn a_zero_checksum_means_checksums_were_off_and_is_reported() {
    let file = Rdb::redis(11)
        .key(0, "k", &str_bytes(b"v"))
        .finish_unchecked();
    let s = verify(&file[..]).unwrap();
    assert_eq!((s.checksum, s.checksum_disabled, s.keys), (None, true, 1));
}

#[test]
fn a_wrong_checksum_is_refused_with_both_values() {
    let mut file = Rdb::redis(12).key(0, "k", &str_bytes(b"v")).finish();
    let n = file.len();
    let good = u64::from_le_bytes(file[n - 8..].try_into().unwrap());
    file[n - 1] ^= 1;
    match verify(&file[..]) {
        Err(RdbError::ChecksumMismatch {
            offset,
            stored,
            computed,
        }) => {
            assert_eq!((offset, computed), (n as u64 - 8, good));
            assert_ne!(stored, good);
        }
        other => panic!("{other:?}"),
    }
    // A changed byte of content, the trailer left as it was.
    let mut file = Rdb::redis(12).key(0, "k", &str_bytes(b"v")).finish();
    file[13] ^= 0x20;
    assert!(matches!(
        verify(&file[..]),
        Err(RdbError::ChecksumMismatch { .. })
    ));
}

#[test]
fn every_truncation_of_a_file_is_refused_as_truncated() {
    let file = Rdb::redis(11)
        .aux("redis-ver", "7.2.6")
        .raw(&[254, 0, 251, 2, 1])
        .raw(&[252])
        .raw(&4_102_444_800_000i64.to_le_bytes())
        .key(0, "a", &str_bytes(b"hello"))
        .key(20, "s", &str_bytes(&listpack(&[E::Str(b"x"), E::Int(5)])))
        .finish();
    verify(&file[..]).unwrap();
    for cut in 0..file.len() {
        match verify(&file[..cut]) {
            Err(RdbError::Truncated { offset, .. }) => assert_eq!(offset, cut as u64),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn bytes_after_the_checksum_are_refused() {
    let mut file = Rdb::redis(11).finish();
    let n = file.len() as u64;
    file.push(0);
    assert_eq!(
        verify(&file[..]),
        Err(RdbError::TrailingBytes { offset: n })
    );
}

#[test]
fn an_undefined_length_encoding_is_refused_with_its_offset() {
    let file = Rdb::redis(11).raw(&[254, 0x82]).finish();
    assert_eq!(
        verify(&file[..]),
        Err(RdbError::BadLength {
            offset: 10,
            byte: 0x82
        })
    );
}

#[test]
fn types_and_opcodes_are_those_of_the_files_own_version() {
    // A set listpack (RDB 11) in an RDB 10 file; hash field TTLs (RDB 12) in RDB 11;
    // SLOT_INFO (RDB 12) in RDB 11; Valkey's SLOT_IMPORT in a Redis file; type 8 never.
    let lp = str_bytes(&listpack(&[E::Str(b"x")]));
    for (version, t, body) in [
        (10, 20u8, lp.clone()),
        (11, 25, lp.clone()),
        (11, 244, vec![]),
        (12, 243, vec![]),
        (12, 8, vec![]),
    ] {
        let file = Rdb::redis(version).key(t, "k", &body).finish();
        assert!(
            matches!(verify(&file[..]), Err(RdbError::UnknownType { byte, .. }) if byte == t),
            "type {t} in version {version}"
        );
    }
    // Pre-release function libraries and module values: refused as the servers do.
    let file = Rdb::redis(10).raw(&[246]).str(b"lib").finish();
    assert!(matches!(
        verify(&file[..]),
        Err(RdbError::Unsupported { offset: 9, .. })
    ));
    let file = Rdb::redis(10).key(6, "k", &[1]).finish();
    assert!(matches!(
        verify(&file[..]),
        Err(RdbError::Unsupported { .. })
    ));
}

// ---------------------------------------------------------------- opcodes

#[test]
fn expire_idle_freq_and_databases_reach_the_entry_and_the_counts() {
    let file = Rdb::redis(11)
        .raw(&[254, 0, 251, 3, 1])
        .raw(&[252])
        .raw(&1_900_000_000_123i64.to_le_bytes())
        .raw(&[248])
        .len(77)
        .key(0, "a", &str_bytes(b"1"))
        .raw(&[249, 9])
        .key(0, "b", &str_bytes(b"2"))
        .raw(&[254])
        .len(7)
        .raw(&[253])
        .raw(&1_900_000_000i32.to_le_bytes())
        .key(0, "c", &str_bytes(b"3"))
        .raw(&[254])
        .len(300)
        .key(0, "d", &str_bytes(b"4"))
        .finish();
    let (s, seen) = parse_all(&file).unwrap();
    assert_eq!(
        s.keys_per_db,
        [(0, 2), (7, 1), (300, 1)].into_iter().collect()
    );
    assert_eq!((s.keys, s.expiring_keys), (4, 2));
    let e = &seen.entries;
    assert_eq!(
        (e[0].db, e[0].expire_at_ms, e[0].idle, e[0].freq),
        (0, Some(1_900_000_000_123), Some(77), None)
    );
    assert_eq!(
        (e[1].expire_at_ms, e[1].idle, e[1].freq),
        (None, None, Some(9))
    );
    assert_eq!((e[2].db, e[2].expire_at_ms), (7, Some(1_900_000_000_000)));
    assert_eq!((e[3].db, &e[3].key[..]), (300, &b"d"[..]));
}

#[test]
fn a_function_library_comes_with_its_function_dump_payload() {
    let code = b"#!lua name=lib\nredis.register_function('f', function() return 1 end)";
    let file = Rdb::redis(10).raw(&[245]).str(code).finish();
    let (s, seen) = parse_all(&file).unwrap();
    assert_eq!(s.function_libraries, 1);
    let mut body = vec![245];
    body.extend_from_slice(&str_bytes(code));
    assert_eq!(seen.libraries[0].payload, dump_payload(body, 10));
    // Without payloads, the count only.
    let s = verify(&file[..]).unwrap();
    assert_eq!(s.function_libraries, 1);
}

#[test]
fn module_aux_and_module_values_are_walked_by_their_opcodes() {
    let mut module = len_bytes(0x1234_5678_9abc);
    module.extend_from_slice(&[2, 5]); // uint 5
    module.extend_from_slice(&[1, 0x40, 0xff]); // sint (14-bit)
    module.push(5);
    module.extend_from_slice(&str_bytes(b"abc"));
    module.push(4);
    module.extend_from_slice(&1.5f64.to_le_bytes());
    module.push(3);
    module.extend_from_slice(&1.5f32.to_le_bytes());
    module.push(0);
    let mut aux = len_bytes(0x1234_5678_9abc);
    aux.extend_from_slice(&[2, 2]); // when opcode UINT, when 2
    aux.extend_from_slice(&module[len_bytes(0x1234_5678_9abc).len()..]);
    let file = Rdb::redis(11)
        .raw(&[247])
        .raw(&aux)
        .key(7, "m", &module)
        .finish();
    assert_eq!(verify(&file[..]).unwrap().keys, 1);
    one_key(11, 7, &module).unwrap();
    // A when opcode other than UINT, an unknown value opcode.
    let mut bad = aux.clone();
    bad[len_bytes(0x1234_5678_9abc).len()] = 1;
    let file = Rdb::redis(11).raw(&[247]).raw(&bad).finish();
    assert!(corrupt_what(verify(&file[..])).contains("when opcode"));
    let mut bad = module.clone();
    let n = bad.len();
    bad[n - 1] = 9;
    bad.push(0);
    assert!(corrupt_what(one_key(11, 7, &bad)).contains("module value opcode 9"));
}

#[test]
fn slot_info_and_valkey_slot_import_are_skipped() {
    let file = Rdb::redis(12)
        .raw(&[244, 1, 2, 3])
        .key(0, "k", &str_bytes(b"v"))
        .finish();
    assert_eq!(verify(&file[..]).unwrap().keys, 1);
    let file = Rdb::valkey(80)
        .raw(&[243])
        .str(&[b'n'; 40])
        .len(2)
        .raw(&[0, 100, 0x40, 200, 0x7f, 0xff])
        .raw(&[244, 1, 2, 3])
        .key(0, "k", &str_bytes(b"v"))
        .finish();
    let s = verify(&file[..]).unwrap();
    assert_eq!((s.magic, s.keys), (Magic::Valkey, 1));
}

// ---------------------------------------------------------------- strings

#[test]
fn strings_in_every_encoding_parse_and_keep_their_bytes_in_the_payload() {
    one_key(11, 0, &[0xc0, 0x85]).unwrap(); // int8
    one_key(11, 0, &[0xc1, 0x30, 0xf8]).unwrap(); // int16
    one_key(11, 0, &[0xc2, 1, 2, 3, 4]).unwrap(); // int32
    one_key(11, 0, &str_bytes(&[7u8; 70])).unwrap(); // 14-bit length
    one_key(11, 0, &str_bytes(&vec![7u8; 20_000])).unwrap(); // 32-bit length
                                                             // LZF: "abcabcabcabc" = literal "abc", back reference (len 9 -> code 7 needs
                                                             // an extra byte; here len 9 = 7 + 2 -> ctrl 0xe0, extra 0), offset 3.
    let lzf = [2, b'a', b'b', b'c', 0xe0, 0x00, 0x02];
    let mut v = vec![0xc3, lzf.len() as u8, 12];
    v.extend_from_slice(&lzf);
    one_key(11, 0, &v).unwrap();
    // As a set member, the decompressed text is what duplicates are judged on.
    let mut set = vec![2];
    set.extend_from_slice(&v);
    set.extend_from_slice(&str_bytes(b"abcabcabcabc"));
    assert!(corrupt_what(one_key(11, 2, &set)).contains("duplicate set member"));
}

#[test]
fn bad_lzf_data_is_refused() {
    let cases: [(&[u8], u8, &str); 4] = [
        (
            &[2, b'a', b'b', b'c', 0xe0, 0x00, 0x02],
            13,
            "another length",
        ),
        (
            &[2, b'a', b'b', b'c', 0xe0, 0x00, 0x02],
            11,
            "past its announced",
        ),
        (&[2, b'a', b'b', b'c', 0x20, 0x05], 6, "before the start"),
        (&[5, b'a', b'b'], 6, "past the end"),
    ];
    for (lzf, len, why) in cases {
        let mut v = vec![0xc3, lzf.len() as u8, len];
        v.extend_from_slice(lzf);
        let what = corrupt_what(one_key(11, 0, &v));
        assert!(what.contains(why), "{what}");
    }
    // Unknown string encoding 0xc4.
    assert!(corrupt_what(one_key(11, 0, &[0xc4])).contains("string encoding"));
}

// ---------------------------------------------------------------- value types

#[test]
fn plain_lists_sets_sorted_sets_and_hashes_parse() {
    let mut list = len_bytes(3);
    for e in [&b"a"[..], b"b", b"a"] {
        list.extend_from_slice(&str_bytes(e));
    }
    one_key(11, 1, &list).unwrap();
    let mut set = len_bytes(3);
    set.extend_from_slice(&str_bytes(b"a"));
    set.extend_from_slice(&[0xc0, 5]); // 5 as int8
    set.extend_from_slice(&str_bytes(b"-5"));
    one_key(11, 2, &set).unwrap();
    let mut zset2 = len_bytes(2);
    for (m, s) in [(&b"a"[..], 1.5f64), (b"b", f64::INFINITY)] {
        zset2.extend_from_slice(&str_bytes(m));
        zset2.extend_from_slice(&s.to_le_bytes());
    }
    one_key(11, 5, &zset2).unwrap();
    let mut zset = len_bytes(3);
    for (m, s) in [
        (&b"a"[..], &b"\x031.5"[..]),
        (b"b", b"\xfe"),
        (b"c", b"\x041e10"),
    ] {
        zset.extend_from_slice(&str_bytes(m));
        zset.extend_from_slice(s);
    }
    one_key(7, 3, &zset).unwrap();
    let mut hash = len_bytes(2);
    for s in [&b"f"[..], b"v", b"g", b"w"] {
        hash.extend_from_slice(&str_bytes(s));
    }
    one_key(11, 4, &hash).unwrap();
}

#[test]
fn duplicate_members_empty_values_and_nan_scores_are_refused() {
    // 5 as an integer and "5" as text are the same member.
    let mut set = len_bytes(2);
    set.extend_from_slice(&[0xc0, 5]);
    set.extend_from_slice(&str_bytes(b"5"));
    assert!(corrupt_what(one_key(11, 2, &set)).contains("duplicate"));
    let mut hash = len_bytes(2);
    for s in [&b"f"[..], b"v", b"f", b"w"] {
        hash.extend_from_slice(&str_bytes(s));
    }
    assert!(corrupt_what(one_key(11, 4, &hash)).contains("duplicate hash field"));
    let mut zset = len_bytes(1);
    zset.extend_from_slice(&str_bytes(b"a"));
    zset.extend_from_slice(&f64::NAN.to_le_bytes());
    assert!(corrupt_what(one_key(11, 5, &zset)).contains("NaN"));
    for t in [1u8, 2, 3, 4, 5, 18] {
        assert!(
            matches!(
                one_key(11, t, &[0]),
                Err(RdbError::EmptyValue { offset: 12, .. })
            ),
            "type {t}"
        );
    }
}

#[test]
fn listpack_encoded_sets_sorted_sets_and_hashes_parse_and_are_checked() {
    let set = listpack(&[
        E::Str(b"a"),
        E::Int(1),
        E::Int(-300),
        E::Int(70000),
        E::Int(i64::MIN),
    ]);
    one_key(11, 20, &str_bytes(&set)).unwrap();
    let zset = listpack(&[E::Str(b"a"), E::Str(b"1.5"), E::Str(b"b"), E::Int(2)]);
    one_key(11, 17, &str_bytes(&zset)).unwrap();
    let long = vec![b'x'; 5000];
    let hash = listpack(&[E::Str(b"f"), E::Str(&long), E::Str(&long[..100]), E::Int(1)]);
    one_key(11, 16, &str_bytes(&hash)).unwrap();

    let dup = listpack(&[E::Str(b"7"), E::Int(7)]);
    assert!(corrupt_what(one_key(11, 20, &str_bytes(&dup))).contains("duplicate"));
    let odd = listpack(&[E::Str(b"a"), E::Str(b"1"), E::Str(b"b")]);
    assert!(corrupt_what(one_key(11, 17, &str_bytes(&odd))).contains("multiple"));
    assert!(matches!(
        one_key(11, 16, &str_bytes(&listpack(&[]))),
        Err(RdbError::EmptyValue { .. })
    ));
    // Header and entry damage: total bytes, count, terminator, back length, encoding.
    let good = listpack(&[E::Str(b"abc"), E::Int(1)]);
    let mut damaged = Vec::new();
    let mut m = good.clone();
    m[0] += 1;
    damaged.push((m, "total bytes"));
    let mut m = good.clone();
    m[4] = 3;
    damaged.push((m, "count"));
    let mut m = good.clone();
    *m.last_mut().unwrap() = 0;
    damaged.push((m, "terminator"));
    let mut m = good.clone();
    m[10] = 9; // the back length of "abc"
    damaged.push((m, "back length"));
    let mut m = good.clone();
    m[6] = 0xf7; // not an encoding
    damaged.push((m, "invalid encoding"));
    for (m, why) in damaged {
        let what = corrupt_what(one_key(11, 20, &str_bytes(&m)));
        assert!(what.contains(why), "{why}: {what}");
    }
}

#[test]
fn intsets_are_checked_for_width_size_and_order() {
    one_key(11, 11, &str_bytes(&intset(&[-5, 1, 300]))).unwrap();
    for (is, why) in [
        (intset(&[1, 1]), "increasing"),
        (intset(&[2, 1]), "increasing"),
        (intset(&[]), "empty"),
        (intset(&[1, 2])[..11].to_vec(), "size"),
        (
            {
                let mut v = intset(&[1]);
                v[0] = 3;
                v
            },
            "width",
        ),
    ] {
        let what = corrupt_what(one_key(11, 11, &str_bytes(&is)));
        assert!(what.contains(why), "{why}: {what}");
    }
}

#[test]
fn quicklists_of_listpacks_plain_nodes_and_compressed_nodes_parse() {
    let node = listpack(&[E::Str(b"a"), E::Int(2)]);
    let mut v = len_bytes(3);
    v.extend_from_slice(&len_bytes(2));
    v.extend_from_slice(&str_bytes(&node));
    v.extend_from_slice(&len_bytes(1));
    v.extend_from_slice(&str_bytes(&[b'p'; 100]));
    // A compressed node: the listpack as one LZF literal run.
    v.extend_from_slice(&len_bytes(2));
    v.extend_from_slice(&[
        0xc3,
        node.len() as u8 + 1,
        node.len() as u8,
        node.len() as u8 - 1,
    ]);
    v.extend_from_slice(&node);
    one_key(11, 18, &v).unwrap();
    // A container other than 1 or 2; a node of empty listpacks only.
    let mut bad = len_bytes(1);
    bad.extend_from_slice(&len_bytes(3));
    bad.extend_from_slice(&str_bytes(&node));
    assert!(corrupt_what(one_key(11, 18, &bad)).contains("container 3"));
    let mut empty = len_bytes(1);
    empty.extend_from_slice(&len_bytes(2));
    empty.extend_from_slice(&str_bytes(&listpack(&[])));
    assert!(matches!(
        one_key(11, 18, &empty),
        Err(RdbError::EmptyValue { .. })
    ));
}

#[test]
fn old_ziplist_zipmap_and_quicklist_encodings_parse_and_are_checked() {
    let zl = ziplist(&[E::Str(b"a"), E::Int(3), E::Int(-20), E::Str(b"bb")]);
    one_key(9, 10, &str_bytes(&zl)).unwrap();
    one_key(9, 12, &str_bytes(&zl)).unwrap();
    one_key(9, 13, &str_bytes(&zl)).unwrap();
    let mut ql = len_bytes(1);
    ql.extend_from_slice(&str_bytes(&zl));
    one_key(9, 14, &ql).unwrap();
    let dup = ziplist(&[E::Str(b"3"), E::Int(1), E::Int(3), E::Int(2)]);
    assert!(corrupt_what(one_key(9, 13, &str_bytes(&dup))).contains("duplicate"));
    let odd = ziplist(&[E::Str(b"a"), E::Int(1), E::Int(3)]);
    assert!(corrupt_what(one_key(9, 12, &str_bytes(&odd))).contains("odd"));
    let mut prev = zl.clone();
    prev[13] = 1; // the second element's previous length
    assert!(corrupt_what(one_key(9, 10, &str_bytes(&prev))).contains("previous length"));
    let mut tail = zl.clone();
    tail[4] = 10;
    assert!(corrupt_what(one_key(9, 10, &str_bytes(&tail))).contains("tail"));

    // Zipmap: 2 fields, "f" => "v" (with one free byte), "g" => "w".
    let zm = [2, 1, b'f', 1, 1, b'v', 0, 1, b'g', 1, 0, b'w', 0xff];
    one_key(3, 9, &str_bytes(&zm)).unwrap();
    let dup = [2, 1, b'f', 1, 0, b'v', 1, b'f', 1, 0, b'w', 0xff];
    assert!(corrupt_what(one_key(3, 9, &str_bytes(&dup))).contains("duplicate"));
    let count = [3, 1, b'f', 1, 0, b'v', 0xff];
    assert!(corrupt_what(one_key(3, 9, &str_bytes(&count))).contains("count"));
}

/// A stream listpack: master fields ["a"], one entry with them, one with its own.
fn stream_lp() -> Vec<u8> {
    listpack(&[
        E::Int(2),
        E::Int(0),
        E::Int(1),
        E::Str(b"a"),
        E::Int(0),
        // flags SAMEFIELDS, id delta 0-0, value, lp-count 1 + 3
        E::Int(2),
        E::Int(0),
        E::Int(0),
        E::Str(b"1"),
        E::Int(4),
        // flags none, id delta 1-0, 1 field, f=v, lp-count 1 + 3 + 1 + 1
        E::Int(0),
        E::Int(1),
        E::Int(0),
        E::Int(1),
        E::Str(b"f"),
        E::Str(b"v"),
        E::Int(6),
    ])
}

/// A stream value of type 21 with one group whose consumer owns its one pending entry.
fn stream_value(lp: &[u8], consumer_pel: &[[u8; 16]]) -> Vec<u8> {
    let id = [0u8, 0, 1, 0x8c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut v = len_bytes(1);
    v.extend_from_slice(&str_bytes(&id));
    v.extend_from_slice(&str_bytes(lp));
    for n in [2u64, 1000, 1, 1000, 0, 0, 0, 2] {
        v.extend_from_slice(&len_bytes(n)); // length, last id, first id, max deleted, added
    }
    v.extend_from_slice(&len_bytes(1)); // groups
    v.extend_from_slice(&str_bytes(b"g"));
    v.extend_from_slice(&[0, 0, 2]); // last id 0-0, offset 2
    v.extend_from_slice(&len_bytes(1)); // PEL
    v.extend_from_slice(&id);
    v.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
    v.extend_from_slice(&len_bytes(1));
    v.extend_from_slice(&len_bytes(1)); // consumers
    v.extend_from_slice(&str_bytes(b"c"));
    v.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
    v.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
    v.extend_from_slice(&len_bytes(consumer_pel.len() as u64));
    for p in consumer_pel {
        v.extend_from_slice(p);
    }
    v
}

#[test]
fn streams_with_groups_consumers_and_pending_entries_parse_and_are_checked() {
    let id = [0u8, 0, 1, 0x8c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    one_key(11, 21, &stream_value(&stream_lp(), &[id])).unwrap();
    // Older layouts: 19 without consumer active times, 15 without first/max ids.
    let mut v19 = stream_value(&stream_lp(), &[id]);
    let n = v19.len();
    v19.drain(n - 1 - 16 - 8..n - 1 - 16);
    one_key(10, 19, &v19).unwrap();
    // The consumer owns an entry its group does not have; the group's entry has no owner.
    let other = [9u8; 16];
    let what = corrupt_what(one_key(11, 21, &stream_value(&stream_lp(), &[other])));
    assert!(what.contains("not in its group"), "{what}");
    let what = corrupt_what(one_key(11, 21, &stream_value(&stream_lp(), &[])));
    assert!(what.contains("without a consumer"), "{what}");
    // Listpack layout: a wrong lp-count, a missing master terminator.
    let mut lp = stream_lp();
    let n = lp.len();
    lp[n - 3] = 7; // the last lp-count (7-bit int 6 -> 7)
    let what = corrupt_what(one_key(11, 21, &stream_value(&lp, &[id])));
    assert!(what.contains("count field"), "{what}");
    let bad = listpack(&[E::Int(0), E::Int(0), E::Int(1), E::Str(b"a"), E::Int(5)]);
    let what = corrupt_what(one_key(11, 21, &stream_value(&bad, &[id])));
    assert!(what.contains("zero terminator"), "{what}");
}

#[test]
fn hashes_with_field_ttls_in_redis_7_4_and_valkey_9_forms_parse_and_are_checked() {
    // 25: minimum expiration, then a listpack of field, value, ttl triples (TTL'd fields
    // first, ascending; then zeros).
    let far = 4_102_444_800_000i64;
    let lp = listpack(&[
        E::Str(b"a"),
        E::Str(b"1"),
        E::Int(far),
        E::Str(b"b"),
        E::Str(b"2"),
        E::Int(far + 5),
        E::Str(b"c"),
        E::Str(b"3"),
        E::Int(0),
    ]);
    let mut v = far.to_le_bytes().to_vec();
    v.extend_from_slice(&str_bytes(&lp));
    one_key(12, 25, &v).unwrap();
    one_key(12, 23, &str_bytes(&lp)).unwrap();
    let unordered = listpack(&[
        E::Str(b"a"),
        E::Str(b"1"),
        E::Int(0),
        E::Str(b"b"),
        E::Str(b"2"),
        E::Int(far),
    ]);
    let what = corrupt_what(one_key(12, 23, &str_bytes(&unordered)));
    assert!(what.contains("out of order"), "{what}");
    let big = listpack(&[E::Str(b"a"), E::Str(b"1"), E::Int(EB_EXPIRE_TIME_MAX + 1)]);
    assert!(corrupt_what(one_key(12, 23, &str_bytes(&big))).contains("out of range"));

    // 24: minimum expiration, count, then (ttl relative to the minimum + 1, field, value).
    let mut v = far.to_le_bytes().to_vec();
    v.extend_from_slice(&len_bytes(2));
    v.extend_from_slice(&len_bytes(1));
    v.extend_from_slice(&str_bytes(b"a"));
    v.extend_from_slice(&str_bytes(b"1"));
    v.extend_from_slice(&len_bytes(0));
    v.extend_from_slice(&str_bytes(b"b"));
    v.extend_from_slice(&str_bytes(b"2"));
    one_key(12, 24, &v).unwrap();
    let mut v = (EB_EXPIRE_TIME_MAX + 2).to_le_bytes().to_vec();
    v.extend_from_slice(&len_bytes(1));
    assert!(corrupt_what(one_key(12, 24, &v)).contains("minimum"));
    // 22 in a Redis file: the 7.4 release candidates' absolute TTLs.
    let mut v = len_bytes(1);
    v.extend_from_slice(&len_bytes(5));
    v.extend_from_slice(&str_bytes(b"a"));
    v.extend_from_slice(&str_bytes(b"1"));
    one_key(12, 22, &v).unwrap();

    // Valkey 9's HASH_2: field, value, expiration (-1 none).
    let mut v = len_bytes(2);
    for (f, e) in [(&b"a"[..], -1i64), (b"b", far)] {
        v.extend_from_slice(&str_bytes(f));
        v.extend_from_slice(&str_bytes(b"v"));
        v.extend_from_slice(&e.to_le_bytes());
    }
    let file = Rdb::valkey(80)
        .aux("valkey-ver", "9.0.0")
        .key(22, "h", &v)
        .finish();
    let (s, seen) = parse_all(&file).unwrap();
    assert_eq!(s.valkey_ver.as_deref(), Some("9.0.0"));
    let mut body = vec![22];
    body.extend_from_slice(&v);
    assert_eq!(
        seen.entries[0].restore_payload,
        Some(dump_payload(body, 80))
    );
    // Redis 7.4's hash types are not Valkey's.
    let file = Rdb::valkey(80).key(25, "h", &[0]).finish();
    assert!(matches!(
        verify(&file[..]),
        Err(RdbError::UnknownType { byte: 25, .. })
    ));
}

// ---------------------------------------------------------------- visitor and stream

#[test]
fn a_visitor_error_stops_the_parse_with_it() {
    struct Stop;
    impl Visitor for Stop {
        fn entry(&mut self, _e: Entry) -> Result<(), RdbError> {
            Err(RdbError::visitor("enough"))
        }
    }
    let file = Rdb::redis(11).key(0, "k", &str_bytes(b"v")).finish();
    assert_eq!(
        parse(&file[..], &mut Stop),
        Err(RdbError::visitor("enough"))
    );
    // Without payloads wanted, entries carry none.
    struct Keys(Vec<Entry>);
    impl Visitor for Keys {
        fn entry(&mut self, e: Entry) -> Result<(), RdbError> {
            self.0.push(e);
            Ok(())
        }
    }
    let mut keys = Keys(Vec::new());
    parse(&file[..], &mut keys).unwrap();
    assert_eq!(keys.0[0].restore_payload, None);
}

fn sample_file() -> Vec<u8> {
    let id = [0u8, 0, 1, 0x8c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    Rdb::redis(11)
        .aux("redis-ver", "7.2.6")
        .raw(&[254, 0])
        .key(0, "s", &str_bytes(&vec![b'x'; 100_000]))
        .key(21, "x", &stream_value(&stream_lp(), &[id]))
        .raw(&[254, 3])
        .key(20, "set", &str_bytes(&listpack(&[E::Str(b"a"), E::Int(1)])))
        .finish()
}

#[tokio::test]
async fn the_stream_verifier_gives_the_same_summary_fed_in_small_chunks() {
    let file = sample_file();
    let whole = verify(&file[..]).unwrap();
    let mut v = StreamVerifier::start();
    for chunk in file.chunks(7) {
        v.feed_slice(chunk).await.unwrap();
    }
    assert_eq!(v.finish().await.unwrap(), whole);
    assert_eq!(whole.keys_per_db, [(0, 2), (3, 1)].into_iter().collect());

    let mut v = StreamVerifier::with_visitor(Collect::default());
    v.feed(bytes::Bytes::from(file.clone())).await.unwrap();
    let (summary, seen) = v.finish_with_visitor().await.unwrap();
    assert_eq!(summary, whole);
    assert_eq!(seen.entries.len(), 3);
}

#[tokio::test]
async fn the_stream_verifier_reports_a_parse_error_from_feed_and_from_finish() {
    let mut v = StreamVerifier::start();
    let mut garbage = b"REDIS0011".to_vec();
    garbage.extend_from_slice(&[8u8; 100]);
    let mut error = None;
    for _ in 0..1000 {
        if let Err(e) = v.feed_slice(&garbage).await {
            error = Some(e);
            break;
        }
    }
    let error = error.expect("feed never failed");
    assert!(
        matches!(
            error,
            RdbError::UnknownType {
                offset: 9,
                byte: 8,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(v.finish().await, Err(error));
    // A file that ends early: the error comes from finish.
    let file = sample_file();
    let mut v = StreamVerifier::start();
    v.feed_slice(&file[..file.len() - 3]).await.unwrap();
    assert!(matches!(v.finish().await, Err(RdbError::Truncated { .. })));
}
