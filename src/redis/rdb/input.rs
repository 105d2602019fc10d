//! The byte source under the parser: a buffered [`Read`] that knows its offset, keeps the
//! running CRC-64 of everything consumed, and can copy what is consumed into a capture
//! buffer (a key's value bytes, for its `RESTORE` payload). Both are applied lazily, to
//! whole consumed ranges of the buffer, so that per-byte reads stay cheap.

use std::io::{ErrorKind, Read};

use super::crc64::crc64;
use super::RdbError;

/// Bytes read from the source at a time.
const BUF_LEN: usize = 64 * 1024;

pub(super) struct Input<R> {
    inner: R,
    buf: Box<[u8]>,
    /// Next byte to consume.
    pos: usize,
    /// End of valid data in `buf`.
    end: usize,
    /// `buf[..synced]` is already in `crc` (and in `capture`).
    synced: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    crc: u64,
    capture: Option<Vec<u8>>,
    /// The source returned end of file.
    eof: bool,
}

impl<R: Read> Input<R> {
    pub(super) fn new(inner: R) -> Self {
        Input {
            inner,
            buf: vec![0u8; BUF_LEN].into_boxed_slice(),
            pos: 0,
            end: 0,
            synced: 0,
            base: 0,
            crc: 0,
            capture: None,
            eof: false,
        }
    }

    /// Offset of the next byte to be consumed.
    pub(super) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Applies the consumed, not yet synced bytes to the CRC and the capture.
    fn sync(&mut self) {
        if self.synced < self.pos {
            let done = &self.buf[self.synced..self.pos];
            self.crc = crc64(self.crc, done);
            if let Some(c) = self.capture.as_mut() {
                c.extend_from_slice(done);
            }
            self.synced = self.pos;
        }
    }

    /// Makes at least one unconsumed byte available; false at end of input.
    fn fill(&mut self) -> Result<bool, RdbError> {
        if self.pos < self.end {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.sync();
        self.base += self.pos as u64;
        self.pos = 0;
        self.end = 0;
        self.synced = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(RdbError::Io {
                        offset: self.offset(),
                        kind: e.kind(),
                        message: e.to_string(),
                    })
                }
            }
        }
    }

    fn truncated(&self, context: &'static str) -> RdbError {
        RdbError::Truncated {
            offset: self.offset(),
            context,
        }
    }

    /// One byte.
    pub(super) fn byte(&mut self, context: &'static str) -> Result<u8, RdbError> {
        if !self.fill()? {
            return Err(self.truncated(context));
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// `N` bytes.
    pub(super) fn array<const N: usize>(
        &mut self,
        context: &'static str,
    ) -> Result<[u8; N], RdbError> {
        let mut out = [0u8; N];
        if self.end - self.pos >= N {
            out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
            self.pos += N;
            return Ok(out);
        }
        for b in out.iter_mut() {
            *b = self.byte(context)?;
        }
        Ok(out)
    }

    /// Passes the next `n` bytes to `f` in the pieces they arrive in, without buffering
    /// them beyond the read buffer.
    pub(super) fn chunks(
        &mut self,
        mut n: u64,
        context: &'static str,
        mut f: impl FnMut(&[u8]) -> Result<(), RdbError>,
    ) -> Result<(), RdbError> {
        while n > 0 {
            if !self.fill()? {
                return Err(self.truncated(context));
            }
            let avail = (self.end - self.pos) as u64;
            let take = avail.min(n) as usize;
            f(&self.buf[self.pos..self.pos + take])?;
            self.pos += take;
            n -= take as u64;
        }
        Ok(())
    }

    /// Appends the next `n` bytes to `out`, which grows only as bytes really arrive.
    pub(super) fn append(
        &mut self,
        out: &mut Vec<u8>,
        n: u64,
        context: &'static str,
    ) -> Result<(), RdbError> {
        self.chunks(n, context, |c| {
            out.extend_from_slice(c);
            Ok(())
        })
    }

    /// The CRC-64 of everything consumed so far.
    pub(super) fn crc(&mut self) -> u64 {
        self.sync();
        self.crc
    }

    /// Starts copying consumed bytes into a capture buffer that begins with `prefix`.
    pub(super) fn start_capture(&mut self, prefix: &[u8]) {
        self.sync();
        self.capture = Some(prefix.to_vec());
    }

    /// Stops capturing and returns what was captured.
    pub(super) fn take_capture(&mut self) -> Vec<u8> {
        self.sync();
        self.capture.take().unwrap_or_default()
    }

    /// Whether any byte follows (reads ahead without consuming).
    pub(super) fn at_end(&mut self) -> Result<bool, RdbError> {
        Ok(!self.fill()?)
    }
}
