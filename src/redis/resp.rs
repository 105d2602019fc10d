//! RESP2, the Redis wire protocol: command encoding and an incremental, bounded reply parser.
//!
//! Commands go out as arrays of bulk strings; replies come back as one of five types
//! (`+` simple string, `-` error, `:` integer, `$` bulk string, `*` array). The parser
//! works on a byte buffer that may hold a partial reply: it answers "need more bytes"
//! ([`Ok(None)`](parse_reply)) or a complete reply with the number of bytes it used,
//! and malformed input is a [`ProtocolError`], never a panic or an unbounded allocation.

use std::collections::BTreeMap;
use std::fmt;

/// The largest bulk string accepted, as Redis's own `proto-max-bulk-len` default (512 MiB).
pub const MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// The longest line (simple string, error, integer or length header) accepted.
pub const MAX_LINE_LEN: usize = 64 * 1024;
/// The deepest nesting of arrays accepted.
pub const MAX_DEPTH: usize = 32;
/// The most elements accepted in one array.
pub const MAX_ARRAY_LEN: usize = 16 * 1024 * 1024;
/// The most bytes one whole reply may take, all its elements and nested arrays together
/// (the per-element limits above alone would let a reply of many large elements grow
/// without end). The provider's replies (INFO, CONFIG GET, ACL LIST, ROLE, SENTINEL) are
/// kilobytes; this is also the most a connection buffers while a reply arrives.
pub const MAX_REPLY_LEN: usize = 64 * 1024 * 1024;
/// The fewest bytes any reply takes (`+\r\n`): what every announced but not yet
/// received array element is counted as against [`MAX_REPLY_LEN`].
const MIN_REPLY_LEN: usize = 3;
/// The most elements reserved for an array before they have arrived.
const PREALLOCATED_ELEMENTS: usize = 16;

/// Bytes that are not a well-formed RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The first byte of a reply is not one of `+ - : $ *`.
    #[error("unknown reply type byte 0x{0:02x}")]
    UnknownType(u8),
    /// A line holds a bare CR or LF instead of ending in CRLF.
    #[error("line not terminated by CRLF")]
    BadLineEnding,
    /// A line is longer than [`MAX_LINE_LEN`].
    #[error("line longer than {MAX_LINE_LEN} bytes")]
    LineTooLong,
    /// An integer or length is not a decimal number that fits in 64 bits.
    #[error("{0:?} is not a valid integer")]
    BadInteger(String),
    /// A bulk string or array length is negative (other than the null marker -1).
    #[error("invalid length {0}")]
    BadLength(i64),
    /// A bulk string is longer than [`MAX_BULK_LEN`].
    #[error("bulk string of {0} bytes exceeds the {MAX_BULK_LEN} byte limit")]
    BulkTooLarge(i64),
    /// An array has more than [`MAX_ARRAY_LEN`] elements.
    #[error("array of {0} elements exceeds the {MAX_ARRAY_LEN} element limit")]
    ArrayTooLarge(i64),
    /// A bulk string's payload is not followed by CRLF.
    #[error("bulk string payload not followed by CRLF")]
    BadBulkTerminator,
    /// Arrays are nested deeper than [`MAX_DEPTH`].
    #[error("arrays nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The reply, all its elements together, would take more than the limit (normally
    /// [`MAX_REPLY_LEN`]); refused as soon as the announced lengths say so.
    #[error("reply larger than the {0} byte limit for one reply (all its elements together)")]
    ReplyTooLarge(usize),
}

/// One RESP2 reply.
#[derive(Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`: a status line.
    Simple(String),
    /// `-ERR ...`: an error line, as the server wrote it (code first, e.g. `WRONGPASS ...`).
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$n`: binary-safe bytes.
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`: the null bulk string or null array.
    Nil,
    /// `*n`: a list of replies.
    Array(Vec<Reply>),
}

impl Reply {
    /// A short description of the reply's shape, never its content (replies may carry
    /// secrets, e.g. `CONFIG GET requirepass`), for error messages.
    pub fn kind(&self) -> ReplyKind<'_> {
        ReplyKind(self)
    }

    /// The text of a simple or bulk string (bulk bytes decoded lossily as UTF-8).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// The value of an integer reply, or of a simple/bulk string holding a decimal integer.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Reply::Integer(i) => Some(*i),
            Reply::Simple(_) | Reply::Bulk(_) => self.as_text()?.parse().ok(),
            _ => None,
        }
    }

    /// A flat array of name/value strings (`CONFIG GET`, `SENTINEL MASTER`) as a map;
    /// `None` for any other shape.
    pub fn as_pairs(&self) -> Option<BTreeMap<String, String>> {
        let Reply::Array(items) = self else {
            return None;
        };
        if !items.len().is_multiple_of(2) {
            return None;
        }
        items
            .chunks_exact(2)
            .map(|pair| Some((pair[0].as_text()?, pair[1].as_text()?)))
            .collect()
    }

    /// True for the `+OK` status.
    pub fn is_ok(&self) -> bool {
        matches!(self, Reply::Simple(s) if s == "OK")
    }
}

impl fmt::Debug for Reply {
    /// Bulk strings are shown with their length only, so that a logged reply never
    /// leaks a secret value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Simple(s) => f.debug_tuple("Simple").field(s).finish(),
            Reply::Error(s) => f.debug_tuple("Error").field(s).finish(),
            Reply::Integer(i) => f.debug_tuple("Integer").field(i).finish(),
            Reply::Bulk(b) => write!(f, "Bulk(<{} bytes>)", b.len()),
            Reply::Nil => f.write_str("Nil"),
            Reply::Array(items) => f.debug_tuple("Array").field(items).finish(),
        }
    }
}

/// The shape of a [`Reply`] for messages: "a bulk string", "an array of 3 elements".
#[derive(Debug, Clone, Copy)]
pub struct ReplyKind<'a>(&'a Reply);

impl fmt::Display for ReplyKind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Reply::Simple(_) => f.write_str("a simple string"),
            Reply::Error(_) => f.write_str("an error"),
            Reply::Integer(_) => f.write_str("an integer"),
            Reply::Bulk(b) => write!(f, "a bulk string of {} bytes", b.len()),
            Reply::Nil => f.write_str("nil"),
            Reply::Array(items) => write!(f, "an array of {} elements", items.len()),
        }
    }
}

/// Encodes a command as a RESP array of bulk strings, appending to `out`.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Encodes one reply, appending to `out` (the inverse of [`parse_reply`]; used by test
/// servers and fakes). Simple strings and errors must not contain CR or LF.
pub fn encode_reply(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Simple(s) => {
            out.push(b'+');
            out.extend_from_slice(s.as_bytes());
        }
        Reply::Error(s) => {
            out.push(b'-');
            out.extend_from_slice(s.as_bytes());
        }
        Reply::Integer(i) => {
            out.push(b':');
            out.extend_from_slice(i.to_string().as_bytes());
        }
        Reply::Bulk(b) => {
            out.push(b'$');
            out.extend_from_slice(b.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(b);
        }
        Reply::Nil => out.extend_from_slice(b"$-1"),
        Reply::Array(items) => {
            out.push(b'*');
            out.extend_from_slice(items.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            for item in items {
                encode_reply(item, out);
            }
            return;
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Parses one reply from the start of `buf`, at most [`MAX_REPLY_LEN`] bytes long.
///
/// `Ok(None)` means `buf` holds only the beginning of a reply; `Ok(Some((reply, used)))`
/// gives the reply and how many bytes of `buf` it took.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    parse_reply_within(buf, MAX_REPLY_LEN)
}

/// [`parse_reply`] with another limit on the whole reply's length. A reply whose headers
/// already announce more than `max_reply_len` bytes (a bulk length, or an array's element
/// count at [`MIN_REPLY_LEN`] bytes each, plus what came before) is refused at once, before
/// its payload has arrived: a reader that buffers until a reply is complete never holds
/// much more than `max_reply_len` bytes.
pub fn parse_reply_within(
    buf: &[u8],
    max_reply_len: usize,
) -> Result<Option<(Reply, usize)>, ProtocolError> {
    Parser {
        buf,
        limit: max_reply_len,
    }
    .reply_at(0, 0, 0)
}

/// A parse step: `None` when more bytes are needed, else the value and the next position.
type Step<T> = Result<Option<(T, usize)>, ProtocolError>;

/// One reply up to its elements (see [`Parser::head_at`]).
enum Head<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Integer(i64),
    Bulk(&'a [u8]),
    Nil,
    Array(usize),
}

/// Finds where one reply ends while its bytes arrive, reading each element's header about
/// once however many reads the reply takes (parsing the whole buffer again after every
/// read would be quadratic in the reply's length), with the same checks and limits as
/// [`parse_reply_within`]. Once it reports the reply's length, [`parse_reply`] builds it.
#[derive(Debug)]
pub struct ReplyScanner {
    limit: usize,
    /// Where the next element starts: the bytes of the reply scanned so far.
    pos: usize,
    /// For each array still open, innermost last: its elements not yet complete.
    open: Vec<usize>,
}

impl Default for ReplyScanner {
    fn default() -> Self {
        Self::within(MAX_REPLY_LEN)
    }
}

impl ReplyScanner {
    /// A scanner for one reply of at most `max_reply_len` bytes.
    pub fn within(max_reply_len: usize) -> Self {
        Self {
            limit: max_reply_len,
            pos: 0,
            open: Vec::new(),
        }
    }

    /// Scans on; `buf` holds the reply's bytes so far, from its start (what earlier calls
    /// saw, and possibly more). `Ok(Some(len))`: the reply is the first `len` bytes.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let parser = Parser {
            buf,
            limit: self.limit,
        };
        loop {
            // What the open arrays' elements after the current ones take at the least.
            let tail = self.open.iter().map(|n| n - 1).sum::<usize>() * MIN_REPLY_LEN;
            let Some((head, next)) = parser.head_at(self.pos, self.open.len(), tail)? else {
                return Ok(None);
            };
            self.pos = next;
            if let Head::Array(len @ 1..) = head {
                self.open.push(len);
                continue;
            }
            // An element is complete, and with it every array it was the last one of.
            loop {
                match self.open.last_mut() {
                    None => return Ok(Some(self.pos)),
                    Some(left) if *left > 1 => {
                        *left -= 1;
                        break;
                    }
                    Some(_) => {
                        self.open.pop();
                    }
                }
            }
        }
    }
}

/// One reply being parsed from the start of `buf`: positions are bytes of the reply so far.
struct Parser<'a> {
    buf: &'a [u8],
    limit: usize,
}

impl<'a> Parser<'a> {
    /// Refuses a reply that would end after `end` plus `tail`, the fewest bytes the
    /// elements announced but not yet parsed still need.
    fn within(&self, end: usize, tail: usize) -> Result<(), ProtocolError> {
        match end.checked_add(tail) {
            Some(total) if total <= self.limit => Ok(()),
            _ => Err(ProtocolError::ReplyTooLarge(self.limit)),
        }
    }

    /// The reply at `pos`, followed by at least `tail` more bytes of the same reply.
    fn reply_at(&self, pos: usize, depth: usize, tail: usize) -> Step<Reply> {
        let Some((head, next)) = self.head_at(pos, depth, tail)? else {
            return Ok(None);
        };
        let reply = match head {
            Head::Simple(line) => Reply::Simple(String::from_utf8_lossy(line).into_owned()),
            Head::Error(line) => Reply::Error(String::from_utf8_lossy(line).into_owned()),
            Head::Integer(i) => Reply::Integer(i),
            Head::Bulk(bytes) => Reply::Bulk(bytes.to_vec()),
            Head::Nil => Reply::Nil,
            Head::Array(len) => {
                // Never trust the announced length for an allocation: nested arrays
                // would each reserve for the same bytes. Grow as elements arrive.
                let mut items = Vec::with_capacity(len.min(PREALLOCATED_ELEMENTS));
                let mut at = next;
                for i in 0..len {
                    let after_this = tail + (len - 1 - i) * MIN_REPLY_LEN;
                    let Some((item, after)) = self.reply_at(at, depth + 1, after_this)? else {
                        return Ok(None);
                    };
                    items.push(item);
                    at = after;
                }
                return Ok(Some((Reply::Array(items), at)));
            }
        };
        Ok(Some((reply, next)))
    }

    /// The reply at `pos` up to its elements, if it is an array: read and checked, not
    /// copied. A bulk string is there only once all of it has arrived.
    fn head_at(&self, pos: usize, depth: usize, tail: usize) -> Step<Head<'a>> {
        let buf = self.buf;
        let Some(&tag) = buf.get(pos) else {
            return Ok(None);
        };
        if !matches!(tag, b'+' | b'-' | b':' | b'$' | b'*') {
            return Err(ProtocolError::UnknownType(tag));
        }
        let Some((line, next)) = self.line_at(pos + 1, tail)? else {
            return Ok(None);
        };
        let head = match tag {
            b'+' => Head::Simple(line),
            b'-' => Head::Error(line),
            b':' => Head::Integer(parse_int(line)?),
            b'$' => {
                let len = parse_int(line)?;
                if len == -1 {
                    return Ok(Some((Head::Nil, next)));
                }
                let len = checked_len(len, MAX_BULK_LEN, ProtocolError::BulkTooLarge)?;
                let end = next + len;
                self.within(end + 2, tail)?;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(ProtocolError::BadBulkTerminator);
                }
                return Ok(Some((Head::Bulk(&buf[next..end]), end + 2)));
            }
            b'*' => {
                let len = parse_int(line)?;
                if len == -1 {
                    return Ok(Some((Head::Nil, next)));
                }
                let len = checked_len(len, MAX_ARRAY_LEN, ProtocolError::ArrayTooLarge)?;
                if depth >= MAX_DEPTH {
                    return Err(ProtocolError::TooDeep);
                }
                self.within(next + len * MIN_REPLY_LEN, tail)?;
                Head::Array(len)
            }
            other => return Err(ProtocolError::UnknownType(other)),
        };
        Ok(Some((head, next)))
    }

    /// The bytes from `start` up to the next CRLF, and the position after it.
    fn line_at(&self, start: usize, tail: usize) -> Step<&'a [u8]> {
        let rest = self.buf.get(start..).unwrap_or_default();
        match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            Some(i) if i > MAX_LINE_LEN => Err(ProtocolError::LineTooLong),
            // The limit first: a shorter buffer, without this line's end, is refused so.
            Some(i) => {
                self.within(start + i + 2, tail)?;
                if rest[i] == b'\n' {
                    return Err(ProtocolError::BadLineEnding);
                }
                match rest.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some((&rest[..i], start + i + 2))),
                    Some(_) => Err(ProtocolError::BadLineEnding),
                }
            }
            None if rest.len() > MAX_LINE_LEN => Err(ProtocolError::LineTooLong),
            None => {
                self.within(start + rest.len() + 2, tail)?;
                Ok(None)
            }
        }
    }
}

fn parse_int(line: &[u8]) -> Result<i64, ProtocolError> {
    let bad = || ProtocolError::BadInteger(String::from_utf8_lossy(line).into_owned());
    let digits = line.strip_prefix(b"-").unwrap_or(line);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    std::str::from_utf8(line)
        .map_err(|_| bad())?
        .parse()
        .map_err(|_| bad())
}

fn checked_len(
    len: i64,
    max: usize,
    too_large: fn(i64) -> ProtocolError,
) -> Result<usize, ProtocolError> {
    let n = usize::try_from(len).map_err(|_| ProtocolError::BadLength(len))?;
    if n > max {
        return Err(too_large(len));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Reply {
        let (reply, used) = parse_reply(bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len(), "whole input consumed");
        reply
    }

    fn round_trip(reply: Reply) {
        let mut bytes = Vec::new();
        encode_reply(&reply, &mut bytes);
        assert_eq!(parse_all(&bytes), reply);
        // Every strict prefix is incomplete, never an error.
        for cut in 0..bytes.len() {
            assert_eq!(
                parse_reply(&bytes[..cut]),
                Ok(None),
                "prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn commands_are_encoded_as_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&["CONFIG", "SET", "maxmemory", ""], &mut out);
        assert_eq!(
            out,
            b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$9\r\nmaxmemory\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn binary_arguments_are_encoded_verbatim() {
        let mut out = Vec::new();
        encode_command(&[&b"a\r\nb"[..]], &mut out);
        assert_eq!(out, b"*1\r\n$4\r\na\r\nb\r\n");
    }

    #[test]
    fn a_simple_string_is_parsed() {
        assert_eq!(parse_all(b"+PONG\r\n"), Reply::Simple("PONG".into()));
    }

    #[test]
    fn an_error_reply_keeps_the_server_message() {
        assert_eq!(
            parse_all(b"-WRONGPASS invalid username-password pair\r\n"),
            Reply::Error("WRONGPASS invalid username-password pair".into())
        );
    }

    #[test]
    fn integers_are_parsed_including_negative_ones() {
        assert_eq!(parse_all(b":0\r\n"), Reply::Integer(0));
        assert_eq!(parse_all(b":-42\r\n"), Reply::Integer(-42));
        assert_eq!(
            parse_all(b":9223372036854775807\r\n"),
            Reply::Integer(i64::MAX)
        );
    }

    #[test]
    fn bulk_strings_are_binary_safe() {
        assert_eq!(
            parse_all(b"$5\r\na\r\nbc\r\n"),
            Reply::Bulk(b"a\r\nbc".to_vec())
        );
        assert_eq!(parse_all(b"$0\r\n\r\n"), Reply::Bulk(Vec::new()));
    }

    #[test]
    fn null_bulk_and_null_array_are_nil() {
        assert_eq!(parse_all(b"$-1\r\n"), Reply::Nil);
        assert_eq!(parse_all(b"*-1\r\n"), Reply::Nil);
    }

    #[test]
    fn nested_arrays_of_mixed_types_are_parsed() {
        let reply = parse_all(b"*3\r\n$6\r\nmaster\r\n:3129659\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9001\r\n$7\r\n3129242\r\n");
        assert_eq!(
            reply,
            Reply::Array(vec![
                Reply::Bulk(b"master".to_vec()),
                Reply::Integer(3129659),
                Reply::Array(vec![Reply::Array(vec![
                    Reply::Bulk(b"127.0.0.1".to_vec()),
                    Reply::Bulk(b"9001".to_vec()),
                    Reply::Bulk(b"3129242".to_vec()),
                ])]),
            ])
        );
        assert_eq!(parse_all(b"*0\r\n"), Reply::Array(Vec::new()));
    }

    #[test]
    fn every_reply_type_round_trips_and_every_prefix_is_incomplete() {
        round_trip(Reply::Simple("OK".into()));
        round_trip(Reply::Error("ERR unknown command 'FOO'".into()));
        round_trip(Reply::Integer(-7));
        round_trip(Reply::Bulk(b"\x00\xff\r\n".to_vec()));
        round_trip(Reply::Nil);
        round_trip(Reply::Array(vec![
            Reply::Nil,
            Reply::Array(vec![Reply::Integer(1), Reply::Simple("x".into())]),
            Reply::Bulk(Vec::new()),
        ]));
    }

    #[test]
    fn a_reply_followed_by_more_bytes_reports_only_its_own_length() {
        let (reply, used) = parse_reply(b"+OK\r\n:1\r\n").unwrap().unwrap();
        assert_eq!(reply, Reply::Simple("OK".into()));
        assert_eq!(used, 5);
    }

    #[test]
    fn an_unknown_type_byte_is_a_protocol_error() {
        assert_eq!(
            parse_reply(b"%1\r\n"),
            Err(ProtocolError::UnknownType(b'%'))
        );
        assert_eq!(
            parse_reply(b"HTTP/1.1 400\r\n"),
            Err(ProtocolError::UnknownType(b'H'))
        );
    }

    #[test]
    fn malformed_integers_and_lengths_are_protocol_errors() {
        for bad in [
            &b":\r\n"[..],
            b":12a\r\n",
            b":+1\r\n",
            b":-\r\n",
            b":99999999999999999999\r\n",
            b"$x\r\n",
            b"*1.5\r\n",
        ] {
            assert!(
                matches!(parse_reply(bad), Err(ProtocolError::BadInteger(_))),
                "{bad:?}"
            );
        }
        assert_eq!(parse_reply(b"$-2\r\n"), Err(ProtocolError::BadLength(-2)));
        assert_eq!(parse_reply(b"*-5\r\n"), Err(ProtocolError::BadLength(-5)));
    }

    #[test]
    fn bad_line_endings_are_protocol_errors() {
        assert_eq!(parse_reply(b"+OK\n"), Err(ProtocolError::BadLineEnding));
        assert_eq!(parse_reply(b"+O\rK\r\n"), Err(ProtocolError::BadLineEnding));
        assert_eq!(
            parse_reply(b"$2\r\nabc\r\n"),
            Err(ProtocolError::BadBulkTerminator)
        );
    }

    #[test]
    fn huge_announced_sizes_are_refused_without_allocating() {
        assert!(matches!(
            parse_reply(b"$9999999999\r\n"),
            Err(ProtocolError::BulkTooLarge(_))
        ));
        assert!(matches!(
            parse_reply(b"*9999999999\r\n"),
            Err(ProtocolError::ArrayTooLarge(_))
        ));
        // A plausible but large array that has not arrived yet is simply incomplete.
        assert_eq!(parse_reply(b"*1000000\r\n:1\r\n"), Ok(None));
    }

    #[test]
    fn a_line_without_end_beyond_the_limit_is_a_protocol_error() {
        let mut endless = vec![b'+'];
        endless.extend(std::iter::repeat_n(b'a', MAX_LINE_LEN + 2));
        assert_eq!(parse_reply(&endless), Err(ProtocolError::LineTooLong));
    }

    #[test]
    fn a_reply_whose_headers_announce_more_than_the_limit_is_refused_before_its_payload() {
        // Only the headers have arrived: 400 MB announced, under the per-bulk limit but
        // over the per-reply one. Nothing of the payload is buffered, nothing allocated.
        assert_eq!(
            parse_reply(b"*2\r\n$400000000\r\n"),
            Err(ProtocolError::ReplyTooLarge(MAX_REPLY_LEN))
        );
        // Many elements: 16 million announced elements at 3 bytes each fit in 64 MiB, but
        // not together with a second such array nested in the first.
        assert_eq!(parse_reply(b"*16000000\r\n"), Ok(None));
        assert_eq!(
            parse_reply(b"*16000000\r\n*16000000\r\n"),
            Err(ProtocolError::ReplyTooLarge(MAX_REPLY_LEN))
        );
        assert_eq!(
            parse_reply_within(b"*3\r\n$40\r\n", 32),
            Err(ProtocolError::ReplyTooLarge(32))
        );
    }

    #[test]
    fn a_reply_of_exactly_the_limit_parses_and_one_byte_more_is_refused() {
        let mut bytes = Vec::new();
        encode_reply(
            &Reply::Array(vec![Reply::Bulk(vec![b'x'; 20]), Reply::Integer(7)]),
            &mut bytes,
        );
        let len = bytes.len();
        assert_eq!(parse_reply_within(&bytes, len).unwrap().unwrap().1, len);
        assert_eq!(
            parse_reply_within(&bytes, len - 1),
            Err(ProtocolError::ReplyTooLarge(len - 1))
        );
        // Also when only the headers have arrived: the announced lengths are enough.
        assert_eq!(&bytes[..9], b"*2\r\n$20\r\n");
        assert_eq!(
            parse_reply_within(&bytes[..9], len - 10),
            Err(ProtocolError::ReplyTooLarge(len - 10))
        );
    }

    #[test]
    fn a_reader_buffering_many_elements_stops_at_the_reply_limit() {
        // 1000 bulk strings of 10 000 bytes announced one after the other (each under the
        // per-element limit) against a 256 KiB reply limit, arriving 16 KiB at a time the
        // way a connection reads: refused once the limit is crossed, never buffered beyond.
        let limit = 256 * 1024;
        let mut wire = b"*1000\r\n".to_vec();
        for _ in 0..1000 {
            wire.extend_from_slice(b"$10000\r\n");
            wire.extend(std::iter::repeat_n(b'v', 10_000));
            wire.extend_from_slice(b"\r\n");
        }
        let mut buffered = 0;
        let refused_at = loop {
            buffered = (buffered + 16 * 1024).min(wire.len());
            match parse_reply_within(&wire[..buffered], limit) {
                Ok(None) => assert!(buffered < wire.len(), "never complete"),
                Ok(Some(_)) => panic!("a reply over the limit parsed"),
                Err(e) => break (e, buffered),
            }
        };
        assert_eq!(refused_at.0, ProtocolError::ReplyTooLarge(limit));
        assert!(
            refused_at.1 <= limit + 16 * 1024,
            "buffered {}",
            refused_at.1
        );
        assert!(
            refused_at.0.to_string().contains("limit for one reply"),
            "{}",
            refused_at.0
        );
    }

    #[test]
    fn an_endless_line_counts_against_the_reply_limit() {
        let mut line = b"*2\r\n+".to_vec();
        line.extend(std::iter::repeat_n(b'a', 100));
        assert_eq!(
            parse_reply_within(&line, 64),
            Err(ProtocolError::ReplyTooLarge(64))
        );
        assert_eq!(parse_reply_within(&line, 200), Ok(None));
    }

    /// Feeds `bytes` to a scanner `chunk` bytes more at a time, as a connection reads.
    fn scan_in_chunks(
        bytes: &[u8],
        chunk: usize,
        limit: usize,
    ) -> Result<Option<usize>, ProtocolError> {
        let mut scanner = ReplyScanner::within(limit);
        let mut have = 0;
        loop {
            have = (have + chunk).min(bytes.len());
            match scanner.scan(&bytes[..have])? {
                Some(len) => return Ok(Some(len)),
                None if have == bytes.len() => return Ok(None),
                None => {}
            }
        }
    }

    #[test]
    fn the_scanner_finds_the_end_of_every_reply_type_however_it_arrives() {
        let reply = Reply::Array(vec![
            Reply::Nil,
            Reply::Array(vec![Reply::Integer(1), Reply::Simple("x".into())]),
            Reply::Array(Vec::new()),
            Reply::Bulk(b"a\r\nb".to_vec()),
            Reply::Error("ERR no".into()),
            Reply::Array(vec![Reply::Array(vec![Reply::Bulk(Vec::new())])]),
        ]);
        let mut bytes = Vec::new();
        encode_reply(&reply, &mut bytes);
        let len = bytes.len();
        bytes.extend_from_slice(b"+NEXT\r\n");
        for chunk in [1, 2, 3, 7, len, bytes.len()] {
            assert_eq!(
                scan_in_chunks(&bytes, chunk, MAX_REPLY_LEN),
                Ok(Some(len)),
                "chunk {chunk}"
            );
        }
        for cut in 0..len {
            assert_eq!(
                scan_in_chunks(&bytes[..cut], 1, MAX_REPLY_LEN),
                Ok(None),
                "prefix {cut}"
            );
        }
        assert_eq!(scan_in_chunks(b"+OK\r\n", 1, MAX_REPLY_LEN), Ok(Some(5)));
        assert_eq!(scan_in_chunks(b"*-1\r\n", 2, MAX_REPLY_LEN), Ok(Some(5)));
    }

    #[test]
    fn the_scanner_refuses_what_the_parser_refuses() {
        for bad in [
            &b"%1\r\n"[..],
            b":12a\r\n",
            b"$2\r\nabc\r\n",
            b"*2\r\n+OK\n",
            b"$-2\r\n",
            b"*9999999999\r\n",
            b"*2\r\n$400000000\r\n",
        ] {
            assert!(parse_reply(bad).is_err(), "{bad:?}");
            assert_eq!(
                scan_in_chunks(bad, 1, MAX_REPLY_LEN),
                parse_reply(bad).map(|r| r.map(|(_, used)| used)),
                "{bad:?}"
            );
        }
        let deep = b"*1\r\n".repeat(100);
        assert_eq!(
            scan_in_chunks(&deep, 5, MAX_REPLY_LEN),
            Err(ProtocolError::TooDeep)
        );
        assert_eq!(
            scan_in_chunks(b"*3\r\n$40\r\n", 4, 32),
            Err(ProtocolError::ReplyTooLarge(32))
        );
    }

    #[test]
    fn deep_nesting_is_a_protocol_error_not_a_stack_overflow() {
        let deep = b"*1\r\n".repeat(10_000);
        assert_eq!(parse_reply(&deep), Err(ProtocolError::TooDeep));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic fuzz: every byte string built from RESP-ish pieces
        // either parses, is incomplete, or is an error.
        let pieces: [&[u8]; 12] = [
            b"*", b"$", b"+", b"-", b":", b"1", b"-1", b"2", b"\r", b"\n", b"\r\n", b"x",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut input = Vec::new();
            for _ in 0..(seed % 12) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                input.extend_from_slice(pieces[(seed % pieces.len() as u64) as usize]);
            }
            seed = seed.wrapping_add(1);
            if let Ok(Some((_, used))) = parse_reply(&input) {
                assert!(used <= input.len());
            }
        }
    }

    #[test]
    fn reply_debug_and_kind_never_show_bulk_contents() {
        let secret = Reply::Array(vec![
            Reply::Bulk(b"requirepass".to_vec()),
            Reply::Bulk(b"hunter2".to_vec()),
        ]);
        let debug = format!("{secret:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(secret.kind().to_string(), "an array of 2 elements");
    }

    #[test]
    fn a_flat_array_of_strings_reads_as_name_value_pairs() {
        let reply = parse_all(b"*4\r\n$4\r\nname\r\n$8\r\nmymaster\r\n+port\r\n$4\r\n6379\r\n");
        let pairs = reply.as_pairs().unwrap();
        assert_eq!(pairs.get("name").map(String::as_str), Some("mymaster"));
        assert_eq!(pairs.get("port").map(String::as_str), Some("6379"));
        assert_eq!(Reply::Array(Vec::new()).as_pairs(), Some(BTreeMap::new()));
        assert_eq!(
            Reply::Array(vec![Reply::Bulk(b"odd".to_vec())]).as_pairs(),
            None
        );
        assert_eq!(
            Reply::Array(vec![Reply::Bulk(b"k".to_vec()), Reply::Integer(1)]).as_pairs(),
            None
        );
        assert_eq!(Reply::Nil.as_pairs(), None);
    }

    #[test]
    fn text_and_integer_accessors_accept_both_string_forms() {
        assert_eq!(Reply::Bulk(b"42".to_vec()).as_integer(), Some(42));
        assert_eq!(Reply::Simple("7".into()).as_integer(), Some(7));
        assert_eq!(Reply::Integer(3).as_text(), None);
        assert!(Reply::Simple("OK".into()).is_ok());
        assert!(!Reply::Bulk(b"OK".to_vec()).is_ok());
    }
}
