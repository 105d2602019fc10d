//! Writes RDB files and the packed encodings inside them, for tests, fuzzing and the
//! benchmark: files the servers load (every length in its shortest form, strings never
//! compressed nor integer-encoded), built in memory.

use super::crc64;

/// An RDB file being written, in memory.
pub struct Writer {
    buf: Vec<u8>,
    version: u32,
}

/// A length prefix in its shortest form.
pub fn length(n: u64) -> Vec<u8> {
    if n < 64 {
        vec![n as u8]
    } else if n < 16384 {
        vec![0x40 | (n >> 8) as u8, n as u8]
    } else if n <= u64::from(u32::MAX) {
        let mut v = vec![0x80];
        v.extend_from_slice(&(n as u32).to_be_bytes());
        v
    } else {
        let mut v = vec![0x81];
        v.extend_from_slice(&n.to_be_bytes());
        v
    }
}

/// A string: its length, then its bytes (never integer-encoded or compressed).
pub fn string(s: &[u8]) -> Vec<u8> {
    let mut v = length(s.len() as u64);
    v.extend_from_slice(s);
    v
}

impl Writer {
    /// A file with the `REDIS` magic and this version.
    pub fn redis(version: u32) -> Writer {
        Writer {
            buf: format!("REDIS{version:04}").into_bytes(),
            version,
        }
    }

    /// A file with the `VALKEY` magic and this version.
    pub fn valkey(version: u32) -> Writer {
        Writer {
            buf: format!("VALKEY{version:03}").into_bytes(),
            version,
        }
    }

    /// Bytes as they are.
    pub fn raw(mut self, bytes: &[u8]) -> Writer {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// A length.
    pub fn len(self, n: u64) -> Writer {
        self.raw(&length(n))
    }

    /// A string.
    pub fn str(self, s: &[u8]) -> Writer {
        self.raw(&string(s))
    }

    /// An AUX field.
    pub fn aux(self, k: &str, v: &str) -> Writer {
        self.raw(&[250]).str(k.as_bytes()).str(v.as_bytes())
    }

    /// A key: type byte, key, then the value's bytes.
    pub fn key(self, t: u8, key: &str, value: &[u8]) -> Writer {
        self.raw(&[t]).str(key.as_bytes()).raw(value)
    }

    /// EOF and a correct checksum (none before RDB 5).
    pub fn finish(self) -> Vec<u8> {
        let mut b = self.buf;
        b.push(255);
        if self.version >= 5 {
            let crc = crc64(0, &b);
            b.extend_from_slice(&crc.to_le_bytes());
        }
        b
    }

    /// EOF and a zero checksum: checksums off.
    pub fn finish_unchecked(self) -> Vec<u8> {
        let mut b = self.buf;
        b.push(255);
        b.extend_from_slice(&[0; 8]);
        b
    }
}

/// A listpack or ziplist element.
#[derive(Clone, Copy, Debug)]
pub enum Elem<'a> {
    /// A string.
    Str(&'a [u8]),
    /// An integer.
    Int(i64),
}

/// A listpack element's back length as the servers write it: 1 to 5 groups of 7 bits
/// (the count by their thresholds), most significant first, every group but the first
/// with its high bit set.
fn lp_backlen(l: usize) -> Vec<u8> {
    let n = match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    (0..n)
        .rev()
        .map(|i| {
            let group = ((l >> (7 * i)) & 127) as u8;
            if i == n - 1 {
                group
            } else {
                group | 128
            }
        })
        .collect()
}

/// A listpack of these elements, integers in their smallest encoding.
pub fn listpack(elems: &[Elem]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in elems {
        let mut enc = Vec::new();
        match e {
            Elem::Int(v) if (0..=127).contains(v) => enc.push(*v as u8),
            Elem::Int(v) if (-4096..=4095).contains(v) => {
                let u = (*v as u16) & 0x1fff;
                enc.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
            }
            Elem::Int(v) if i16::try_from(*v).is_ok() => {
                enc.push(0xf1);
                enc.extend_from_slice(&(*v as i16).to_le_bytes());
            }
            Elem::Int(v) if i32::try_from(*v).is_ok() => {
                enc.push(0xf3);
                enc.extend_from_slice(&(*v as i32).to_le_bytes());
            }
            Elem::Int(v) => {
                enc.push(0xf4);
                enc.extend_from_slice(&v.to_le_bytes());
            }
            Elem::Str(s) if s.len() < 64 => {
                enc.push(0x80 | s.len() as u8);
                enc.extend_from_slice(s);
            }
            Elem::Str(s) if s.len() < 4096 => {
                enc.extend_from_slice(&[0xe0 | (s.len() >> 8) as u8, s.len() as u8]);
                enc.extend_from_slice(s);
            }
            Elem::Str(s) => {
                enc.push(0xf0);
                enc.extend_from_slice(&(s.len() as u32).to_le_bytes());
                enc.extend_from_slice(s);
            }
        }
        let back = lp_backlen(enc.len());
        body.extend_from_slice(&enc);
        body.extend_from_slice(&back);
    }
    let total = 6 + body.len() + 1;
    let mut lp = (total as u32).to_le_bytes().to_vec();
    lp.extend_from_slice(&(elems.len() as u16).to_le_bytes());
    lp.extend_from_slice(&body);
    lp.push(0xff);
    lp
}

/// A ziplist of strings under 64 bytes and integers of 8 bits.
pub fn ziplist(elems: &[Elem]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut tail = 10;
    for e in elems {
        let mut entry = vec![prev as u8];
        match e {
            Elem::Str(s) => {
                entry.push(s.len() as u8);
                entry.extend_from_slice(s);
            }
            Elem::Int(v) if (0..=12).contains(v) => entry.push(0xf1 + *v as u8),
            Elem::Int(v) => {
                entry.push(0xfe);
                entry.push(*v as i8 as u8);
            }
        }
        tail = 10 + body.len();
        prev = entry.len();
        body.extend_from_slice(&entry);
    }
    let total = 10 + body.len() + 1;
    let mut zl = (total as u32).to_le_bytes().to_vec();
    zl.extend_from_slice(&(tail as u32).to_le_bytes());
    zl.extend_from_slice(&(elems.len() as u16).to_le_bytes());
    zl.extend_from_slice(&body);
    zl.push(0xff);
    zl
}

/// An intset of 16-bit integers (in increasing order to be valid).
pub fn intset(values: &[i16]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    v.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for x in values {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}
