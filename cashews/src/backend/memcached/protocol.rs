//! The memcached meta text protocol (`mg`, `ms`, `md`, `ma`, `mn`) on one
//! connection: requests written in batches, replies read in order.
//!
//! Every keyed request carries an opaque token (`O<n>`, a per-connection
//! counter) that memcached echoes in its reply, and every reply must carry
//! the token of the oldest request not yet answered: a reply that does not
//! (a duplicate, a late one, one out of order or for another request) is
//! an `InvalidData` error, never taken for the answer of another request.
//! Error replies, which memcached sends without a token, answer the oldest
//! request in turn; they are errors, and their connection is dropped.
//!
//! Reference: memcached's `doc/protocol.txt`, "Meta Commands".

use std::fmt::Write as _;
use std::io;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The largest value memcached stores (its `-I` option tops out at 1 GiB).
const MAX_VALUE: usize = 1 << 30;

/// The longest reply line read: a `VA` header, an error message or a
/// `metadump` line (a key of at most 250 bytes, percent-encoded, and a few
/// numbers) are far shorter.
pub(super) const MAX_LINE: usize = 8 * 1024;

/// A value up to this long is read into a buffer of its announced length;
/// a longer one into a buffer that grows as its bytes arrive, so that a
/// length announced but not sent allocates nothing.
const VALUE_CHUNK: usize = 64 * 1024;

/// The most request buffer a pooled connection keeps between exchanges.
const KEPT_BUFFER: usize = 64 * 1024;

/// Requests to send in one write, and how many replies they get.
#[derive(Debug, Default)]
pub(super) struct Requests {
    buf: Vec<u8>,
    count: usize,
    /// The token of the next keyed request written on this connection.
    next_token: u64,
    /// The token the next reply to a keyed request must carry; equal to
    /// `next_token` when every keyed request sent has been answered.
    awaited_token: u64,
}

impl Requests {
    /// Empties the buffer for the next exchange, keeping its memory unless
    /// a large batch left it large.
    pub(super) fn clear(&mut self) {
        if self.buf.capacity() > KEPT_BUFFER {
            self.buf = Vec::new();
        }
        self.buf.clear();
        self.count = 0;
        self.awaited_token = self.next_token;
    }

    /// Appends ` O<token>` and counts the request as keyed.
    fn token(&mut self) {
        self.buf.extend_from_slice(b" O");
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(self.next_token).as_bytes());
        self.next_token = self.next_token.wrapping_add(1);
    }

    /// Checks that a reply to a keyed request carries `token`, the token
    /// of the oldest such request not yet answered, and counts it answered.
    fn answered(&mut self, token: Option<&[u8]>) -> io::Result<()> {
        let mut digits = itoa::Buffer::new();
        let awaited = digits.format(self.awaited_token).as_bytes();
        if self.awaited_token == self.next_token || token != Some(awaited) {
            return Err(self.out_of_step(token));
        }
        self.awaited_token = self.awaited_token.wrapping_add(1);
        Ok(())
    }

    /// Counts the oldest keyed request not yet answered (if any) answered
    /// by an error reply, which carries no token.
    fn answered_by_error(&mut self) {
        if self.awaited_token != self.next_token {
            self.awaited_token = self.awaited_token.wrapping_add(1);
        }
    }

    /// The error for a reply carrying `token` that [`Requests::answered`]
    /// refuses; out of line, so that the check stays small.
    #[cold]
    #[inline(never)]
    fn out_of_step(&self, token: Option<&[u8]>) -> io::Error {
        let what = if self.awaited_token == self.next_token {
            "a reply to no request".to_owned()
        } else {
            format!(
                "a reply to another request (awaited O{})",
                self.awaited_token
            )
        };
        // Cut short: the server chose it.
        let token = match token {
            Some(token) => format!(
                "O{}",
                String::from_utf8_lossy(token.get(..32).unwrap_or(token))
            ),
            None => "no token".to_owned(),
        };
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("memcached sent {what}, with {token}: the connection is out of step"),
        )
    }

    fn line(&mut self, command: &str, key: &str, flags: &str) {
        // Keys reaching here are safe tokens (see `storage_key`). Copied,
        // not `write!`: every command passes here, and the formatting
        // machinery would be a large share of a `get`'s client cost.
        self.buf
            .reserve(command.len() + key.len() + flags.len() + 26);
        self.buf.extend_from_slice(command.as_bytes());
        self.buf.push(b' ');
        self.buf.extend_from_slice(key.as_bytes());
        if !flags.is_empty() {
            self.buf.push(b' ');
            self.buf.extend_from_slice(flags.as_bytes());
        }
        self.token();
        self.buf.extend_from_slice(b"\r\n");
        self.count += 1;
    }

    /// `mg`: reads the item; `flags` say what to return (`v`, `t`, `c`, `s`)
    /// or change (`T<ttl>`).
    pub(super) fn get(&mut self, key: &str, flags: &str) {
        self.line("mg", key, flags);
    }

    /// `ms`: stores `value`; `flags` carry the TTL (`T`), the mode (`ME`
    /// add, `MR` replace) and a CAS to compare (`C`).
    pub(super) fn set(&mut self, key: &str, value: &[u8], flags: &str) {
        let _ = write!(Text(&mut self.buf), "ms {key} {}", value.len());
        if !flags.is_empty() {
            self.buf.push(b' ');
            self.buf.extend_from_slice(flags.as_bytes());
        }
        self.token();
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(value);
        self.buf.extend_from_slice(b"\r\n");
        self.count += 1;
    }

    /// `md`: deletes the item, if `flags` hold `C<cas>` only if unchanged.
    pub(super) fn delete(&mut self, key: &str, flags: &str) {
        self.line("md", key, flags);
    }

    /// `ma`: arithmetic on a decimal value (`D` delta, `C<cas>` only if
    /// unchanged, `N` auto-create with a TTL, `J` initial value, `v`
    /// return the result).
    pub(super) fn arithmetic(&mut self, key: &str, flags: &str) {
        self.line("ma", key, flags);
    }

    /// A command without a key (`mn`, `flush_all`) answered with one line,
    /// which carries no token.
    pub(super) fn plain(&mut self, command: &str) {
        self.buf.extend_from_slice(command.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        self.count += 1;
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(super) fn count(&self) -> usize {
        self.count
    }
}

/// `fmt::Write` into a byte buffer.
struct Text<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The flags a reply carries back, of those we ask for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Meta {
    /// `t`: seconds left, `-1` for none.
    pub(super) ttl: Option<i64>,
    /// `c`: the CAS token.
    pub(super) cas: Option<u64>,
    /// `s`: the value's size in bytes.
    pub(super) size: Option<u64>,
}

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    /// `HD`: done (stored, deleted, found).
    Done(Meta),
    /// `VA`: a value.
    Value(Meta, Bytes),
    /// `EN`: no such item.
    Miss,
    /// `NS`: not stored (the add or replace condition failed).
    NotStored,
    /// `EX`: the CAS token no longer matches.
    Exists,
    /// `NF`: not found.
    NotFound,
    /// `MN` or `OK`: a keyless command succeeded.
    Ok,
    /// `ERROR`, `CLIENT_ERROR …`, `SERVER_ERROR …`: the whole line.
    Error(String),
}

impl Reply {
    pub(super) fn is_error(&self) -> bool {
        matches!(self, Self::Error(_))
    }
}

/// A connection to one memcached server.
///
/// Its buffers live as long as it does: the requests of each exchange are
/// written into `requests` and sent with one write, and reply lines are
/// read into `line`, so that a get allocates nothing but the value it
/// returns.
///
/// No reply makes it hold more than `max_value` bytes (`max_value_size`)
/// for a value and [`MAX_LINE`] for a line; a reply over them, or one
/// without the token of the request it answers, is an `InvalidData`
/// error, after which the connection must be dropped.
#[derive(Debug)]
pub(super) struct Conn {
    stream: BufReader<TcpStream>,
    /// The requests of the current exchange.
    pub(super) requests: Requests,
    line: Vec<u8>,
    max_value: usize,
}

impl Conn {
    pub(super) async fn connect(host: &str, port: u16, max_value: usize) -> io::Result<Self> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            requests: Requests::default(),
            line: Vec::new(),
            max_value,
        })
    }

    /// Sends `self.requests`, written since they were last cleared.
    pub(super) async fn send(&mut self) -> io::Result<()> {
        self.stream.get_mut().write_all(self.requests.bytes()).await
    }

    /// Whether bytes have arrived that no request read: the stream is out
    /// of step with the requests, and the connection must not be reused.
    pub(super) fn has_unread(&self) -> bool {
        !self.stream.buffer().is_empty()
    }

    /// The next line, without its line break.
    pub(super) async fn read_line(&mut self) -> io::Result<&[u8]> {
        let end = self.fill_line().await?;
        Ok(self.line.get(..end).unwrap_or_default())
    }

    /// Reads the next line into `self.line`; where its line break starts.
    async fn fill_line(&mut self) -> io::Result<usize> {
        self.line.clear();
        let mut capped = (&mut self.stream).take(MAX_LINE as u64);
        let n = capped.read_until(b'\n', &mut self.line).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "memcached closed the connection",
            ));
        }
        // Replies end lines with `\r\n`, but `lru_crawler metadump` with `\n`.
        match self.line.as_slice() {
            [.., b'\r', b'\n'] => Ok(self.line.len() - 2),
            [.., b'\n'] => Ok(self.line.len() - 1),
            _ if n == MAX_LINE => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("memcached sent a reply line over {MAX_LINE} bytes"),
            )),
            _ => Err(malformed(&self.line)),
        }
    }

    pub(super) async fn read_reply(&mut self) -> io::Result<Reply> {
        let end = self.fill_line().await?;
        let line = self.line.get(..end).unwrap_or_default();
        let mut tokens = line.split(|&b| b == b' ');
        let code = tokens.next().unwrap_or_default();
        let reply = match code {
            b"HD" => Reply::Done(self.requests.answered_with(tokens)?),
            b"EN" | b"NS" | b"EX" | b"NF" => {
                self.requests.answered_with(tokens)?;
                match code {
                    b"EN" => Reply::Miss,
                    b"NS" => Reply::NotStored,
                    b"EX" => Reply::Exists,
                    _ => Reply::NotFound,
                }
            }
            b"MN" | b"OK" => Reply::Ok,
            b"VA" => {
                // A length no memcached sends is a broken stream.
                let len = tokens
                    .next()
                    .and_then(parse_len)
                    .filter(|&len| len <= MAX_VALUE)
                    .ok_or_else(|| malformed(line))?;
                if len > self.max_value {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "memcached sent a value of {len} bytes, over max_value_size ({} bytes)",
                            self.max_value
                        ),
                    ));
                }
                let meta = self.requests.answered_with(tokens)?;
                if len > VALUE_CHUNK {
                    // Boxed: rare, and it would enlarge every get's future.
                    let value = Box::pin(self.read_long_value(len)).await?;
                    return Ok(Reply::Value(meta, value.into()));
                }
                // The value and its line break read apart, so that the
                // vector is exactly full: `Bytes` takes such a one as it
                // is, where it would allocate a header for a longer one.
                // Zeroed by `resize`, not `vec![0; len]`: that one asks
                // glibc's `calloc`, which skips the per-thread cache that
                // `malloc` serves small blocks from.
                #[expect(clippy::slow_vector_initialization, reason = "calloc, see above")]
                let mut value = Vec::with_capacity(len);
                value.resize(len, 0);
                self.stream.read_exact(&mut value).await?;
                let mut end = [0; 2];
                self.stream.read_exact(&mut end).await?;
                if end != *b"\r\n" {
                    return Err(malformed(&end));
                }
                Reply::Value(meta, value.into())
            }
            // memcached's errors carry no token: one answers the oldest
            // request in turn, and its connection is dropped after the exchange.
            b"ERROR" | b"CLIENT_ERROR" | b"SERVER_ERROR" => {
                self.requests.answered_by_error();
                Reply::Error(String::from_utf8_lossy(line).into_owned())
            }
            _ => return Err(malformed(line)),
        };
        Ok(reply)
    }
}

impl Conn {
    /// A value of `len` bytes (over [`VALUE_CHUNK`]) and its line break,
    /// in a buffer grown as the bytes arrive: it never holds more than
    /// twice what was received.
    async fn read_long_value(&mut self, len: usize) -> io::Result<Vec<u8>> {
        let mut value = Vec::with_capacity(VALUE_CHUNK);
        let mut rest = (&mut self.stream).take(len as u64);
        rest.read_to_end(&mut value).await?;
        if value.len() < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "memcached closed the connection within a value",
            ));
        }
        let mut end = [0; 2];
        self.stream.read_exact(&mut end).await?;
        if end != *b"\r\n" {
            return Err(malformed(&end));
        }
        Ok(value)
    }
}

impl Requests {
    /// The flags of a reply to a keyed request, once its token is checked
    /// (see [`Requests::answered`]).
    fn answered_with<'a>(&mut self, tokens: impl Iterator<Item = &'a [u8]>) -> io::Result<Meta> {
        let (meta, opaque) = meta(tokens)?;
        self.answered(opaque)?;
        Ok(meta)
    }
}

/// A reply's flags, and its opaque token (`O`) if it has one.
fn meta<'a>(tokens: impl Iterator<Item = &'a [u8]>) -> io::Result<(Meta, Option<&'a [u8]>)> {
    let mut meta = Meta::default();
    let mut opaque = None;
    for token in tokens {
        let Some((&flag, value)) = token.split_first() else {
            continue;
        };
        if flag == b'O' {
            opaque = Some(value);
            continue;
        }
        let value = std::str::from_utf8(value).map_err(|_| malformed(token));
        match flag {
            b't' => meta.ttl = Some(value?.parse().map_err(|_| malformed(token))?),
            b'c' => meta.cas = Some(value?.parse().map_err(|_| malformed(token))?),
            b's' => meta.size = Some(value?.parse().map_err(|_| malformed(token))?),
            // Flags we did not ask for (a key echo) carry nothing we use.
            _ => {}
        }
    }
    Ok((meta, opaque))
}

/// A value's length, in decimal digits.
///
/// By hand, on every value read: a third of the cost of `str::from_utf8`
/// and then `str::parse`.
fn parse_len(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0_usize, |n, &b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(usize::from(digit))
    })
}

fn malformed(what: &[u8]) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "malformed memcached reply {:?}",
            String::from_utf8_lossy(what.get(..100).unwrap_or(what))
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_meta_lines() {
        let mut r = Requests::default();
        r.get("k", "v t");
        r.set("k", b"a b\r\n", "T10 ME");
        r.delete("k", "");
        r.arithmetic("n", "N0 J1 D1 v");
        r.plain("mn");
        assert_eq!(r.count(), 5);
        assert_eq!(
            r.bytes(),
            &b"mg k v t O0\r\nms k 5 T10 ME O1\r\na b\r\n\r\nmd k O2\r\nma n N0 J1 D1 v O3\r\nmn\r\n"[..]
        );
        r.clear();
        r.get("k", "");
        assert_eq!(r.bytes(), b"mg k O4\r\n", "the counter goes on");
    }

    #[test]
    fn a_large_batch_does_not_leave_its_buffer_behind() {
        let mut r = Requests::default();
        r.get("k", "v");
        r.clear();
        let small = r.buf.capacity();
        assert!(small > 0, "a small buffer is kept");
        r.set("k", &vec![b'x'; 2 * KEPT_BUFFER], "");
        r.clear();
        assert_eq!((r.buf.capacity(), r.count()), (0, 0));
    }

    #[test]
    fn lengths_are_decimal_digits_only() {
        assert_eq!(parse_len(b"0"), Some(0));
        assert_eq!(parse_len(b"103"), Some(103));
        assert_eq!(parse_len(b"18446744073709551615"), Some(usize::MAX));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1x",
            b" 1",
            b"18446744073709551616",
        ] {
            assert_eq!(parse_len(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn reply_flags_are_parsed() {
        let (m, opaque) = meta([&b"t-1"[..], b"c42", b"s7", b"Oxyz"].into_iter()).unwrap();
        assert_eq!(
            m,
            Meta {
                ttl: Some(-1),
                cas: Some(42),
                size: Some(7)
            }
        );
        assert_eq!(opaque, Some(&b"xyz"[..]));
        assert!(meta([&b"tsoon"[..]].into_iter()).is_err());
    }
}
