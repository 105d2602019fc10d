//! A Redis connection over any byte stream: AUTH handshake, bounded round trips, typed operations.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::info::Info;
use super::resp::{self, ProtocolError, Reply};
use super::role::Role;

/// Any error that can be the cause of a failed connection attempt.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A byte stream a [`RedisConn`] can run over: a TCP stream, a kube-rs port-forward
/// stream, an in-memory duplex in tests.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + ?Sized> Transport for T {}

/// A type-erased [`Transport`], for code that mixes TCP and port-forward connections.
pub type BoxTransport = Box<dyn Transport>;

/// Bytes read from the stream at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Read buffer capacity kept between replies; a larger one is released.
const MAX_IDLE_BUFFER: usize = 1024 * 1024;

/// Server error codes that go away by themselves (a retry with a fresh connection may succeed).
const TRANSIENT_CODES: &[&str] = &["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"];

/// Commands whose second word is a subcommand worth naming in logs and errors.
const CONTAINER_COMMANDS: &[&str] = &[
    "ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY", "MEMORY",
    "MODULE", "OBJECT", "SCRIPT", "SENTINEL", "SLOWLOG", "XINFO",
];

/// What can go wrong talking to Redis.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The stream to Redis could not be opened (TCP connect, port-forward).
    #[error("could not connect to redis at {target}")]
    Connect {
        /// What we tried to reach, e.g. `10.0.0.7:6379` or `cache/redis-0:6379`.
        target: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The stream to Redis was refused for good (e.g. the API server forbids the
    /// port-forward): retrying cannot help.
    #[error("not allowed to connect to redis at {target}")]
    Denied {
        /// What we tried to reach.
        target: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// Reading from or writing to the stream failed.
    #[error("i/o error during {command}")]
    Io {
        /// The command in flight (its name only).
        command: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The stream ended before a complete reply arrived.
    #[error("redis closed the connection during {command}")]
    Closed {
        /// The command in flight (its name only).
        command: String,
    },
    /// No complete reply within the connection's timeout.
    #[error("redis did not answer {command} within {after:?}")]
    Timeout {
        /// The command in flight (its name only).
        command: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The bytes received are not RESP2.
    #[error("malformed reply from redis to {command}")]
    Protocol {
        /// The command in flight (its name only).
        command: String,
        /// What is wrong with the bytes.
        #[source]
        source: ProtocolError,
    },
    /// Redis answered with an error reply (`NOAUTH`, `WRONGPASS`, `ERR unknown command`, ...).
    #[error("redis refused {command}: {message}")]
    Server {
        /// The command refused (its name only).
        command: String,
        /// The server's message, error code first.
        message: String,
    },
    /// A well-formed reply of the wrong shape for the command.
    #[error("unexpected reply to {command}: expected {expected}, got {got}")]
    UnexpectedReply {
        /// The command (its name only).
        command: String,
        /// What the command should return.
        expected: &'static str,
        /// The shape received (never its content).
        got: String,
    },
    /// A command without even a name.
    #[error("cannot send an empty command")]
    EmptyCommand,
    /// An earlier round trip failed or was abandoned mid-way, so replies can no longer be
    /// matched to commands; open a new connection.
    #[error("connection unusable after an earlier failed or abandoned command")]
    Poisoned,
    /// Redis answers but is not ready to serve (e.g. still loading its dataset).
    #[error("redis is not ready: {reason}")]
    NotReady {
        /// Why not.
        reason: String,
    },
    /// [`wait_ready`](super::wait_ready) gave up; the cause is the last failed attempt.
    #[error("redis was not ready within {after:?}")]
    ReadyTimeout {
        /// The overall timeout.
        after: Duration,
        /// The last attempt's error, if any attempt finished.
        #[source]
        last: Option<Box<RedisError>>,
    },
}

impl RedisError {
    /// A connection failure with its cause, for callers that open streams themselves
    /// (e.g. a port-forward that failed).
    pub fn connect(target: impl Into<String>, source: impl Into<BoxError>) -> RedisError {
        RedisError::Connect {
            target: target.into(),
            source: source.into(),
        }
    }

    /// A connection refused for good, for callers that open streams themselves.
    pub fn denied(target: impl Into<String>, source: impl Into<BoxError>) -> RedisError {
        RedisError::Denied {
            target: target.into(),
            source: source.into(),
        }
    }

    /// The server's error message, for [`RedisError::Server`].
    pub fn server_message(&self) -> Option<&str> {
        match self {
            RedisError::Server { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The server's error code (the message's first word: `WRONGPASS`, `NOAUTH`, `ERR`, ...).
    pub fn server_code(&self) -> Option<&str> {
        self.server_message()?.split_whitespace().next()
    }

    /// True when Redis refused the credentials, or wants some and got none.
    pub fn is_auth_failure(&self) -> bool {
        let Some(message) = self.server_message() else {
            return false;
        };
        matches!(self.server_code(), Some("NOAUTH" | "WRONGPASS"))
            // Redis before 6, and AUTH sent to a server without a password.
            || message.starts_with("ERR invalid password")
            || message.starts_with("ERR AUTH")
            || message.starts_with("ERR Client sent AUTH")
    }

    /// True when a retry on a fresh connection may succeed: the network, timeouts, a server
    /// still loading or busy. False for refusals that will not change by waiting (bad
    /// credentials, unknown commands, malformed replies).
    pub fn is_transient(&self) -> bool {
        match self {
            RedisError::Connect { .. }
            | RedisError::Io { .. }
            | RedisError::Closed { .. }
            | RedisError::Timeout { .. }
            | RedisError::Poisoned
            | RedisError::NotReady { .. } => true,
            RedisError::Server { .. } => self
                .server_code()
                .is_some_and(|code| TRANSIENT_CODES.contains(&code)),
            RedisError::Denied { .. }
            | RedisError::Protocol { .. }
            | RedisError::UnexpectedReply { .. }
            | RedisError::EmptyCommand
            | RedisError::ReadyTimeout { .. } => false,
        }
    }
}

/// Credentials for `AUTH`: a password alone (the `default` user / `requirepass`) or an
/// ACL user and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    /// The ACL user; `None` authenticates as `default`.
    pub username: Option<String>,
    /// The password.
    pub password: String,
}

impl Auth {
    /// `AUTH <password>`.
    pub fn password(password: impl Into<String>) -> Auth {
        Auth {
            username: None,
            password: password.into(),
        }
    }

    /// `AUTH <username> <password>`.
    pub fn user(username: impl Into<String>, password: impl Into<String>) -> Auth {
        Auth {
            username: Some(username.into()),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// One connection to one Redis server, one command at a time (no pipelining), every
/// round trip bounded by the connection's timeout.
///
/// After a failed or abandoned round trip (I/O error, timeout, malformed reply, a dropped
/// future) the connection refuses further commands with [`RedisError::Poisoned`], because
/// a late reply could otherwise be taken as the answer to the next command. An error
/// *reply* from Redis leaves the connection usable.
pub struct RedisConn<S> {
    stream: S,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    timeout: Duration,
    healthy: bool,
}

impl<S> fmt::Debug for RedisConn<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConn")
            .field("timeout", &self.timeout)
            .field("healthy", &self.healthy)
            .field("buffered", &self.read_buf.len())
            .finish_non_exhaustive()
    }
}

impl RedisConn<TcpStream> {
    /// Connects over TCP to `addr` (`host:port`) within `timeout`, then [`handshake`](Self::handshake)s.
    pub async fn connect_tcp(
        addr: &str,
        auth: Option<Auth>,
        timeout: Duration,
    ) -> Result<RedisConn<TcpStream>, RedisError> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(RedisError::connect(addr, e)),
            Err(_) => {
                return Err(RedisError::connect(
                    addr,
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no connection within {timeout:?}"),
                    ),
                ))
            }
        };
        // Best effort: commands are small request/response pairs.
        let _ = stream.set_nodelay(true);
        RedisConn::handshake(stream, auth, timeout).await
    }
}

impl<S: Transport> RedisConn<S> {
    /// Takes over `stream`, authenticates with `AUTH` when `auth` is given, and checks
    /// the server answers `PING`. Every round trip, now and later, is bounded by `timeout`.
    ///
    /// A wrong password is a [`RedisError::Server`] with code `WRONGPASS`; a server that
    /// wants a password and got none answers `PING` with `NOAUTH`. Both satisfy
    /// [`RedisError::is_auth_failure`].
    pub async fn handshake(
        stream: S,
        auth: Option<Auth>,
        timeout: Duration,
    ) -> Result<RedisConn<S>, RedisError> {
        let (conn, replies) = Self::handshake_asking(stream, auth, timeout, &[&["PING"]]).await?;
        match replies.first() {
            Some(Reply::Simple(s)) if s == "PONG" => Ok(conn),
            Some(other) => Err(unexpected("PING", "PONG", other)),
            None => Err(RedisError::EmptyCommand),
        }
    }

    /// Like [`RedisConn::handshake`], with `commands` sent in the same write as `AUTH`
    /// (instead of `PING`): a connection and its first answers in one round trip, which
    /// through a port-forward is most of what a short conversation costs. Returns the
    /// answers to `commands`, in order; a refused `AUTH` is the error reported (the
    /// commands after it are answered `NOAUTH`), and an error reply is returned as by
    /// [`RedisConn::pipeline`].
    pub async fn handshake_asking(
        stream: S,
        auth: Option<Auth>,
        timeout: Duration,
        commands: &[&[&str]],
    ) -> Result<(RedisConn<S>, Vec<Reply>), RedisError> {
        let mut conn = RedisConn {
            stream,
            read_buf: Vec::new(),
            write_buf: Vec::new(),
            timeout,
            healthy: true,
        };
        let auth_args: Option<Vec<&str>> = auth.as_ref().map(|auth| match &auth.username {
            Some(user) => vec!["AUTH", user.as_str(), auth.password.as_str()],
            None => vec!["AUTH", auth.password.as_str()],
        });
        let mut sent: Vec<&[&str]> = Vec::with_capacity(commands.len() + 1);
        if let Some(args) = &auth_args {
            sent.push(args);
        }
        sent.extend_from_slice(commands);
        // The pipeline answers each command it sent, in order; the first error reply is
        // the error, so a refused AUTH wins over the NOAUTH answers after it.
        let replies = conn.pipeline(&sent).await?;
        if auth_args.is_none() {
            return Ok((conn, replies));
        }
        let mut replies = replies.into_iter();
        expect_ok("AUTH", &replies.next().ok_or(RedisError::EmptyCommand)?)?;
        Ok((conn, replies.collect()))
    }

    /// The timeout of each round trip.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Changes the timeout of later round trips.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// False once a round trip failed or was abandoned (see [`RedisError::Poisoned`]).
    pub fn is_usable(&self) -> bool {
        self.healthy
    }

    /// Sends any command and returns its reply: the escape hatch for what has no typed
    /// method (`ACL SETUSER`, `SENTINEL ...`). An error reply at the top level becomes
    /// [`RedisError::Server`]; error replies nested in arrays stay [`Reply::Error`].
    ///
    /// Only the command's name (and subcommand) is logged or put in errors, never its
    /// arguments, which may be passwords.
    pub async fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply, RedisError> {
        let label = command_label(args);
        tracing::debug!(command = %label, "redis command");
        match self.round_trip(args, &label).await? {
            Reply::Error(message) => {
                tracing::debug!(command = %label, code = message.split_whitespace().next().unwrap_or_default(), "redis error reply");
                Err(RedisError::Server {
                    command: label,
                    message,
                })
            }
            reply => Ok(reply),
        }
    }

    /// Sends `commands` in one write and reads their replies, in order: one round trip
    /// instead of one per command. Every reply is read even when one is an error, so the
    /// connection stays usable; the first error reply is then returned as
    /// [`RedisError::Server`] for its command.
    pub async fn pipeline(&mut self, commands: &[&[&str]]) -> Result<Vec<Reply>, RedisError> {
        let labels: Vec<String> = commands.iter().map(|c| command_label(c)).collect();
        tracing::debug!(commands = ?labels, "redis pipeline");
        let replies = self.exchange(commands, &labels).await?;
        for (reply, label) in replies.iter().zip(&labels) {
            if let Reply::Error(message) = reply {
                return Err(RedisError::Server {
                    command: label.clone(),
                    message: message.clone(),
                });
            }
        }
        Ok(replies)
    }

    /// `PING`, expecting `PONG`.
    pub async fn ping(&mut self) -> Result<(), RedisError> {
        match self.command(&["PING"]).await? {
            Reply::Simple(s) if s == "PONG" => Ok(()),
            other => Err(unexpected("PING", "PONG", &other)),
        }
    }

    /// `INFO <section>...`: `""` for the default sections, `"all"`, `"replication"`, or
    /// several names separated by spaces (`"persistence replication"`, Redis 7+).
    pub async fn info(&mut self, sections: &str) -> Result<Info, RedisError> {
        info_from(&self.command(&info_args(sections)).await?)
    }

    /// `CONFIG GET <pattern>`: the matching parameters and their values.
    pub async fn config_get(
        &mut self,
        pattern: &str,
    ) -> Result<BTreeMap<String, String>, RedisError> {
        let reply = self.command(&["CONFIG", "GET", pattern]).await?;
        reply
            .as_pairs()
            .ok_or_else(|| unexpected("CONFIG GET", "an array of name/value pairs", &reply))
    }

    /// `CONFIG SET name value [name value ...]`: all settings in one command, so Redis
    /// (7+) applies all of them or none. Nothing is sent for an empty list.
    pub async fn config_set<N: AsRef<str>, V: AsRef<str>>(
        &mut self,
        settings: &[(N, V)],
    ) -> Result<(), RedisError> {
        if settings.is_empty() {
            return Ok(());
        }
        let mut args: Vec<&str> = Vec::with_capacity(2 + 2 * settings.len());
        args.extend(["CONFIG", "SET"]);
        for (name, value) in settings {
            args.push(name.as_ref());
            args.push(value.as_ref());
        }
        let reply = self.command(&args).await?;
        expect_ok("CONFIG SET", &reply)
    }

    /// `ROLE`.
    pub async fn role(&mut self) -> Result<Role, RedisError> {
        role_from(&self.command(&["ROLE"]).await?)
    }

    /// `ROLE` and `INFO <sections>` in one round trip.
    pub async fn role_and_info(&mut self, sections: &str) -> Result<(Role, Info), RedisError> {
        let replies = self.pipeline(&[&["ROLE"], &info_args(sections)]).await?;
        let (Some(role), Some(info)) = (replies.first(), replies.get(1)) else {
            return Err(RedisError::EmptyCommand);
        };
        Ok((role_from(role)?, info_from(info)?))
    }

    /// `DBSIZE`: keys in the selected database.
    pub async fn dbsize(&mut self) -> Result<u64, RedisError> {
        match self.command(&["DBSIZE"]).await? {
            Reply::Integer(n) if n >= 0 => Ok(n.unsigned_abs()),
            other => Err(unexpected("DBSIZE", "a non-negative integer", &other)),
        }
    }

    /// Boxes the stream, for code that handles TCP and port-forward connections alike.
    pub fn boxed(self) -> RedisConn<BoxTransport>
    where
        S: 'static,
    {
        RedisConn {
            stream: Box::new(self.stream),
            read_buf: self.read_buf,
            write_buf: self.write_buf,
            timeout: self.timeout,
            healthy: self.healthy,
        }
    }

    /// Gives the stream back with the bytes already read from it but not yet consumed
    /// (normally none between commands), e.g. to stream a replication snapshot.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        (self.stream, self.read_buf)
    }

    /// Gives the stream back, dropping any read-ahead bytes; use [`into_parts`](Self::into_parts)
    /// when the server may have sent more than the replies already consumed.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Writes one command and reads one reply, within the timeout.
    async fn round_trip<A: AsRef<[u8]>>(
        &mut self,
        args: &[A],
        label: &str,
    ) -> Result<Reply, RedisError> {
        let mut replies = self.exchange(&[args], &[label.to_owned()]).await?;
        replies.pop().ok_or(RedisError::EmptyCommand)
    }

    /// Writes `commands` in one write and reads one reply for each, all within the
    /// timeout. `labels` name the commands in errors.
    async fn exchange<A: AsRef<[u8]>>(
        &mut self,
        commands: &[&[A]],
        labels: &[String],
    ) -> Result<Vec<Reply>, RedisError> {
        if commands.is_empty() || commands.iter().any(|args| args.is_empty()) {
            return Err(RedisError::EmptyCommand);
        }
        if !self.healthy {
            return Err(RedisError::Poisoned);
        }
        // Cleared on every failure path, including a dropped future.
        self.healthy = false;
        let RedisConn {
            stream,
            read_buf,
            write_buf,
            timeout,
            ..
        } = self;
        write_buf.clear();
        for args in commands {
            resp::encode_command(args, write_buf);
        }
        let first = labels.first().map(String::as_str).unwrap_or_default();
        let exchange = async {
            let io = |source| RedisError::Io {
                command: first.to_owned(),
                source,
            };
            let written = stream.write_all(write_buf).await;
            // The buffer may hold a password (AUTH, CONFIG SET requirepass): wipe it.
            write_buf.fill(0);
            written.map_err(io)?;
            stream.flush().await.map_err(io)?;
            let mut replies = Vec::with_capacity(commands.len());
            for i in 0..commands.len() {
                let label = labels.get(i).map(String::as_str).unwrap_or(first);
                replies.push(read_reply(stream, read_buf, label).await?);
            }
            Ok(replies)
        };
        let replies = tokio::time::timeout(*timeout, exchange)
            .await
            .map_err(|_| RedisError::Timeout {
                command: first.to_owned(),
                after: *timeout,
            })??;
        self.healthy = true;
        Ok(replies)
    }
}

async fn read_reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    label: &str,
) -> Result<Reply, RedisError> {
    let protocol = |source| RedisError::Protocol {
        command: label.to_owned(),
        source,
    };
    // Scan as bytes arrive; build the reply once, when it is complete.
    let mut scanner = resp::ReplyScanner::default();
    loop {
        if !buf.is_empty() && scanner.scan(buf).map_err(protocol)?.is_some() {
            let parsed = resp::parse_reply(buf).map_err(protocol)?;
            if let Some((reply, used)) = parsed {
                buf.drain(..used);
                if buf.is_empty() && buf.capacity() > MAX_IDLE_BUFFER {
                    // Do not hold on to the memory of one huge reply.
                    *buf = Vec::new();
                }
                return Ok(reply);
            }
        }
        buf.reserve(READ_CHUNK);
        let n = stream
            .read_buf(buf)
            .await
            .map_err(|source| RedisError::Io {
                command: label.to_owned(),
                source,
            })?;
        if n == 0 {
            return Err(RedisError::Closed {
                command: label.to_owned(),
            });
        }
    }
}

/// The command's name for logs and errors: its first word, plus the second for commands
/// with subcommands (`CONFIG SET`, `ACL SETUSER`), never any argument. Words that do not
/// look like command names are replaced, in case a caller put a secret first.
fn command_label<A: AsRef<[u8]>>(args: &[A]) -> String {
    fn word(bytes: &[u8]) -> Option<String> {
        let plausible = !bytes.is_empty()
            && bytes.len() <= 32
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'|'));
        plausible.then(|| String::from_utf8_lossy(bytes).to_ascii_uppercase())
    }
    let Some(name) = args.first().and_then(|a| word(a.as_ref())) else {
        return "<command>".to_owned();
    };
    if CONTAINER_COMMANDS.contains(&name.as_str()) {
        if let Some(sub) = args.get(1).and_then(|a| word(a.as_ref())) {
            return format!("{name} {sub}");
        }
    }
    name
}

/// The role a `ROLE` reply describes.
pub fn role_from(reply: &Reply) -> Result<Role, RedisError> {
    Role::from_reply(reply).ok_or_else(|| unexpected("ROLE", "a role description", reply))
}

/// `INFO` followed by each of the space-separated `sections`.
pub fn info_args(sections: &str) -> Vec<&str> {
    std::iter::once("INFO")
        .chain(sections.split_whitespace())
        .collect()
}

/// The fields of an `INFO` reply.
pub fn info_from(reply: &Reply) -> Result<Info, RedisError> {
    match reply {
        Reply::Bulk(bytes) => Ok(Info::parse(&String::from_utf8_lossy(bytes))),
        other => Err(unexpected("INFO", "a bulk string", other)),
    }
}

pub(super) fn expect_ok(command: &str, reply: &Reply) -> Result<(), RedisError> {
    if reply.is_ok() {
        Ok(())
    } else {
        Err(unexpected(command, "OK", reply))
    }
}

pub(super) fn unexpected(command: &str, expected: &'static str, got: &Reply) -> RedisError {
    RedisError::UnexpectedReply {
        command: command.to_owned(),
        expected,
        got: got.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{duplex, DuplexStream};
    use tokio::task::JoinHandle;

    use super::*;

    const T: Duration = Duration::from_secs(5);

    /// A scripted server: for each expected command (as words), answers with raw bytes.
    /// Returns the commands it actually received.
    fn fake_server(
        mut stream: DuplexStream,
        script: Vec<(&'static [&'static str], &'static [u8])>,
    ) -> JoinHandle<Vec<Vec<String>>> {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = Vec::new();
            for (expected, answer) in script {
                let command = loop {
                    if let Some((reply, used)) = resp::parse_reply(&buf).unwrap() {
                        buf.drain(..used);
                        break reply;
                    }
                    if stream.read_buf(&mut buf).await.unwrap() == 0 {
                        return seen;
                    }
                };
                let Reply::Array(words) = command else {
                    panic!("commands are arrays")
                };
                let words: Vec<String> = words.iter().map(|w| w.as_text().unwrap()).collect();
                assert_eq!(words, expected, "command received");
                seen.push(words);
                stream.write_all(answer).await.unwrap();
            }
            // Stay connected (and silent) until the client hangs up.
            while stream.read_buf(&mut buf).await.unwrap_or(0) > 0 {}
            seen
        })
    }

    async fn connected(
        script: Vec<(&'static [&'static str], &'static [u8])>,
    ) -> (RedisConn<DuplexStream>, JoinHandle<Vec<Vec<String>>>) {
        let (client, server) = duplex(64 * 1024);
        let mut full = vec![(&["PING"][..], &b"+PONG\r\n"[..])];
        full.extend(script);
        let server = fake_server(server, full);
        let conn = RedisConn::handshake(client, None, T).await.unwrap();
        (conn, server)
    }

    #[tokio::test]
    async fn handshake_with_a_user_sends_two_argument_auth_then_ping() {
        let (client, server) = duplex(1024);
        let server = fake_server(
            server,
            vec![
                (&["AUTH", "alice", "s3cret"], b"+OK\r\n"),
                (&["PING"], b"+PONG\r\n"),
            ],
        );
        let conn = RedisConn::handshake(client, Some(Auth::user("alice", "s3cret")), T).await;
        assert!(conn.unwrap().is_usable());
        assert_eq!(server.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn handshake_with_a_password_alone_sends_one_argument_auth() {
        let (client, server) = duplex(1024);
        let server = fake_server(
            server,
            vec![(&["AUTH", "pw"], b"+OK\r\n"), (&["PING"], b"+PONG\r\n")],
        );
        RedisConn::handshake(client, Some(Auth::password("pw")), T)
            .await
            .unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_handshake_asking_answers_its_commands_in_the_round_trip_that_authenticates() {
        let (client, server) = duplex(1024);
        let server = fake_server(
            server,
            vec![
                (&["AUTH", "admin", "pw"], b"+OK\r\n"),
                (&["ROLE"], b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"),
                (
                    &["CONFIG", "GET", "maxmemory"],
                    b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
                ),
            ],
        );
        let (conn, replies) = RedisConn::handshake_asking(
            client,
            Some(Auth::user("admin", "pw")),
            T,
            &[&["ROLE"], &["CONFIG", "GET", "maxmemory"]],
        )
        .await
        .unwrap();
        assert!(conn.is_usable());
        assert!(matches!(role_from(&replies[0]), Ok(Role::Primary { .. })));
        assert_eq!(replies[1].as_pairs().unwrap()["maxmemory"], "0");
        assert_eq!(replies.len(), 2, "no answer to AUTH among them");
        drop(conn);
        assert_eq!(server.await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_refused_auth_is_the_error_of_a_handshake_asking_not_the_noauth_after_it() {
        let (client, server) = duplex(1024);
        let _server = fake_server(
            server,
            vec![
                (
                    &["AUTH", "admin", "nope"],
                    b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
                ),
                (&["ROLE"], b"-NOAUTH Authentication required.\r\n"),
            ],
        );
        let err =
            RedisConn::handshake_asking(client, Some(Auth::user("admin", "nope")), T, &[&["ROLE"]])
                .await
                .err()
                .unwrap();
        assert_eq!(err.server_code(), Some("WRONGPASS"));
    }

    #[tokio::test]
    async fn a_wrongpass_reply_is_a_server_error_recognised_as_an_auth_failure() {
        let (client, server) = duplex(1024);
        let _server = fake_server(
            server,
            vec![
                (
                    &["AUTH", "nope"],
                    b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
                ),
                (&["PING"], b"-NOAUTH Authentication required.\r\n"),
            ],
        );
        let err = RedisConn::handshake(client, Some(Auth::password("nope")), T)
            .await
            .unwrap_err();
        assert_eq!(err.server_code(), Some("WRONGPASS"));
        assert!(err.is_auth_failure());
        assert!(!err.is_transient());
        assert_eq!(
            err.to_string(),
            "redis refused AUTH: WRONGPASS invalid username-password pair or user is disabled."
        );
    }

    #[tokio::test]
    async fn a_noauth_reply_to_ping_is_an_auth_failure() {
        let (client, server) = duplex(1024);
        let _server = fake_server(
            server,
            vec![(&["PING"], b"-NOAUTH Authentication required.\r\n")],
        );
        let err = RedisConn::handshake(client, None, T).await.unwrap_err();
        assert_eq!(err.server_code(), Some("NOAUTH"));
        assert!(err.is_auth_failure());
    }

    #[tokio::test]
    async fn a_pipeline_reads_every_reply_in_order_and_stays_usable_after_an_error_reply() {
        let (mut conn, server) = connected(vec![
            (&["ROLE"], b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"),
            (&["FOO"], b"-ERR unknown command 'FOO'\r\n"),
            (&["DBSIZE"], b":7\r\n"),
        ])
        .await;
        let replies = conn.pipeline(&[&["ROLE"], &["DBSIZE"][..0]]).await;
        assert!(matches!(replies, Err(RedisError::EmptyCommand)));
        let err = conn.pipeline(&[&["ROLE"], &["FOO"]]).await.unwrap_err();
        assert_eq!(err.server_code(), Some("ERR"));
        assert!(err.to_string().contains("FOO"), "{err}");
        assert!(conn.is_usable());
        assert_eq!(conn.dbsize().await.unwrap(), 7);
        drop(conn);
        assert_eq!(server.await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn an_error_reply_leaves_the_connection_usable() {
        let (mut conn, server) = connected(vec![
            (
                &["FOO"],
                b"-ERR unknown command 'FOO', with args beginning with: \r\n",
            ),
            (&["DBSIZE"], b":3\r\n"),
        ])
        .await;
        let err = conn.command(&["FOO"]).await.unwrap_err();
        assert!(matches!(err, RedisError::Server { .. }));
        assert_eq!(err.server_code(), Some("ERR"));
        assert!(conn.is_usable());
        assert_eq!(conn.dbsize().await.unwrap(), 3);
        drop(conn);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn nested_error_replies_stay_in_the_reply() {
        let (mut conn, _server) = connected(vec![(
            &["EXEC"],
            b"*2\r\n+OK\r\n-ERR value is not an integer\r\n",
        )])
        .await;
        assert_eq!(
            conn.command(&["EXEC"]).await.unwrap(),
            Reply::Array(vec![
                Reply::Simple("OK".into()),
                Reply::Error("ERR value is not an integer".into())
            ])
        );
    }

    #[tokio::test]
    async fn a_malformed_reply_is_a_protocol_error_and_poisons_the_connection() {
        let (mut conn, _server) =
            connected(vec![(&["DBSIZE"], b"HTTP/1.1 400 Bad Request\r\n")]).await;
        let err = conn.dbsize().await.unwrap_err();
        assert!(
            matches!(
                &err,
                RedisError::Protocol {
                    source: ProtocolError::UnknownType(b'H'),
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "malformed reply from redis to DBSIZE");
        assert!(!conn.is_usable());
        assert!(matches!(conn.ping().await, Err(RedisError::Poisoned)));
    }

    #[tokio::test]
    async fn a_stream_closed_mid_reply_is_reported_as_closed() {
        let (client, mut server) = duplex(1024);
        tokio::spawn(async move {
            let mut ping = [0u8; 14];
            server.read_exact(&mut ping).await.unwrap();
            server.write_all(b"+PONG\r\n").await.unwrap();
            let mut info = [0u8; 14];
            server.read_exact(&mut info).await.unwrap();
            server.write_all(b"$100\r\nrole:mas").await.unwrap();
            // Dropping `server` hangs up mid-reply.
        });
        let mut conn = RedisConn::handshake(client, None, T).await.unwrap();
        let err = conn.info("").await.unwrap_err();
        assert!(matches!(err, RedisError::Closed { .. }), "{err:?}");
        assert_eq!(err.to_string(), "redis closed the connection during INFO");
        assert!(err.is_transient());
    }

    #[tokio::test]
    async fn a_reply_arriving_one_byte_at_a_time_is_reassembled() {
        let (client, server) = duplex(1);
        let server = fake_server(
            server,
            vec![
                (&["PING"], b"+PONG\r\n"),
                (
                    &["INFO", "replication"],
                    b"$39\r\n# Replication\r\nrole:master\r\nloading:0\r\n\r\n",
                ),
            ],
        );
        let mut conn = RedisConn::handshake(client, None, T).await.unwrap();
        let info = conn.info("replication").await.unwrap();
        assert_eq!(info.role(), Some("master"));
        assert_eq!(info.loading(), Some(false));
        drop(conn);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_poisons_the_connection() {
        let (client, server) = duplex(1024);
        let _server = fake_server(server, vec![(&["PING"], b"+PONG\r\n"), (&["DBSIZE"], b"")]);
        let mut conn = RedisConn::handshake(client, None, T).await.unwrap();
        conn.set_timeout(Duration::from_millis(100));
        let err = conn.dbsize().await.unwrap_err();
        assert!(
            matches!(&err, RedisError::Timeout { command, after } if command == "DBSIZE" && *after == Duration::from_millis(100)),
            "{err:?}"
        );
        assert!(err.is_transient());
        assert!(matches!(conn.dbsize().await, Err(RedisError::Poisoned)));
    }

    #[tokio::test]
    async fn an_abandoned_command_poisons_the_connection() {
        let (mut conn, _server) = connected(vec![(&["DBSIZE"], b"")]).await;
        let abandoned =
            tokio::time::timeout(Duration::from_millis(50), conn.command(&["DBSIZE"])).await;
        assert!(abandoned.is_err(), "the caller gave up first");
        assert!(matches!(conn.ping().await, Err(RedisError::Poisoned)));
    }

    #[tokio::test]
    async fn an_empty_command_is_refused_without_touching_the_wire() {
        let (mut conn, _server) = connected(vec![]).await;
        let none: [&str; 0] = [];
        assert!(matches!(
            conn.command(&none).await,
            Err(RedisError::EmptyCommand)
        ));
        assert!(conn.is_usable());
    }

    #[tokio::test]
    async fn config_set_sends_every_pair_in_one_command() {
        let (mut conn, server) = connected(vec![(
            &[
                "CONFIG",
                "SET",
                "maxmemory",
                "100mb",
                "maxmemory-policy",
                "allkeys-lru",
            ],
            b"+OK\r\n",
        )])
        .await;
        conn.config_set(&[("maxmemory", "100mb"), ("maxmemory-policy", "allkeys-lru")])
            .await
            .unwrap();
        drop(conn);
        assert_eq!(server.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn config_set_with_no_settings_sends_nothing() {
        let (mut conn, server) = connected(vec![]).await;
        let none: [(&str, String); 0] = [];
        conn.config_set(&none).await.unwrap();
        drop(conn);
        assert_eq!(server.await.unwrap().len(), 1, "only the handshake PING");
    }

    #[tokio::test]
    async fn config_get_pairs_names_with_values() {
        let (mut conn, _server) = connected(vec![(
            &["CONFIG", "GET", "maxmemory*"],
            b"*4\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n",
        )])
        .await;
        let got = conn.config_get("maxmemory*").await.unwrap();
        assert_eq!(got.get("maxmemory").map(String::as_str), Some("0"));
        assert_eq!(
            got.get("maxmemory-policy").map(String::as_str),
            Some("noeviction")
        );
    }

    #[tokio::test]
    async fn an_odd_config_get_reply_is_an_unexpected_reply_without_its_content() {
        let (mut conn, _server) = connected(vec![(
            &["CONFIG", "GET", "requirepass"],
            b"*1\r\n$7\r\nhunter2\r\n",
        )])
        .await;
        let err = conn.config_get("requirepass").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected reply to CONFIG GET: expected an array of name/value pairs, got an array of 1 elements"
        );
        assert!(conn.is_usable(), "the protocol is still in step");
    }

    #[tokio::test]
    async fn ping_answered_with_something_else_is_an_unexpected_reply() {
        let (client, server) = duplex(1024);
        let _server = fake_server(server, vec![(&["PING"], b":1\r\n")]);
        let err = RedisConn::handshake(client, None, T).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected reply to PING: expected PONG, got an integer"
        );
    }

    #[tokio::test]
    async fn role_and_dbsize_are_typed() {
        let (mut conn, _server) = connected(vec![
            (&["ROLE"], b"*3\r\n$6\r\nmaster\r\n:10\r\n*0\r\n"),
            (&["DBSIZE"], b":-1\r\n"),
        ])
        .await;
        assert_eq!(
            conn.role().await.unwrap(),
            Role::Primary {
                replication_offset: 10,
                replicas: vec![]
            }
        );
        assert!(matches!(
            conn.dbsize().await,
            Err(RedisError::UnexpectedReply { .. })
        ));
    }

    #[tokio::test]
    async fn into_parts_returns_the_stream_and_unread_bytes() {
        let (client, mut server) = duplex(1024);
        let serve = tokio::spawn(async move {
            let mut buf = [0u8; 14];
            server.read_exact(&mut buf).await.unwrap();
            // PONG plus the start of something the caller will read itself.
            server.write_all(b"+PONG\r\n$5\r\nREDIS").await.unwrap();
            server
        });
        let conn = RedisConn::handshake(client, None, T).await.unwrap();
        let _server = serve.await.unwrap();
        let (_stream, rest) = conn.into_parts();
        assert_eq!(rest, b"$5\r\nREDIS");
    }

    #[tokio::test]
    async fn a_boxed_connection_still_works() {
        let (conn, _server) = connected(vec![(&["DBSIZE"], b":0\r\n")]).await;
        let mut conn = conn.boxed();
        assert_eq!(conn.dbsize().await.unwrap(), 0);
    }

    #[test]
    fn command_labels_name_the_command_and_never_its_arguments() {
        assert_eq!(command_label(&["auth", "alice", "s3cret"]), "AUTH");
        assert_eq!(
            command_label(&["CONFIG", "SET", "requirepass", "s3cret"]),
            "CONFIG SET"
        );
        assert_eq!(
            command_label(&["acl", "setuser", "bob", "on", ">s3cret"]),
            "ACL SETUSER"
        );
        assert_eq!(command_label(&["GET", "key"]), "GET");
        assert_eq!(command_label(&["p@ss word!"]), "<command>");
        assert_eq!(command_label(&["CONFIG", ">secret"]), "CONFIG");
    }

    #[test]
    fn auth_debug_output_redacts_the_password() {
        let debug = format!("{:?}", Auth::user("alice", "s3cret"));
        assert!(debug.contains("alice"));
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn transient_and_permanent_errors_are_told_apart() {
        let server = |message: &str| RedisError::Server {
            command: "PING".into(),
            message: message.into(),
        };
        assert!(server("LOADING Redis is loading the dataset in memory").is_transient());
        assert!(server("BUSY Redis is busy running a script.").is_transient());
        assert!(!server("ERR unknown command 'PING'").is_transient());
        assert!(!server("NOAUTH Authentication required.").is_transient());
        assert!(server("ERR invalid password").is_auth_failure());
        assert!(server(
            "ERR AUTH <password> called without any password configured for the default user."
        )
        .is_auth_failure());
        assert!(!server("NOPERM this user has no permissions").is_auth_failure());
        let io = RedisError::connect("x:1", "refused");
        assert!(io.is_transient());
        assert!(!io.is_auth_failure());
    }

    #[test]
    fn errors_chain_their_causes() {
        let err = RedisError::ReadyTimeout {
            after: Duration::from_secs(1),
            last: Some(Box::new(RedisError::connect(
                "127.0.0.1:1",
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"),
            ))),
        };
        let mut chain = Vec::new();
        let mut cur: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = cur {
            chain.push(e.to_string());
            cur = e.source();
        }
        assert_eq!(
            chain,
            [
                "redis was not ready within 1s",
                "could not connect to redis at 127.0.0.1:1",
                "connection refused"
            ]
        );
    }

    /// A `tracing` writer collecting everything into a shared buffer.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn passwords_never_reach_the_logs() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let (client, server) = duplex(1024);
        let _server = fake_server(
            server,
            vec![
                (&["AUTH", "alice", "pw-one"], b"+OK\r\n"),
                (&["PING"], b"+PONG\r\n"),
                (&["CONFIG", "SET", "requirepass", "pw-two"], b"+OK\r\n"),
                (
                    &["ACL", "SETUSER", "bob", "on", ">pw-three"],
                    b"-ERR Error in ACL SETUSER modifier\r\n",
                ),
            ],
        );
        let mut conn = RedisConn::handshake(client, Some(Auth::user("alice", "pw-one")), T)
            .await
            .unwrap();
        conn.config_set(&[("requirepass", "pw-two")]).await.unwrap();
        let err = conn
            .command(&["ACL", "SETUSER", "bob", "on", ">pw-three"])
            .await
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains("pw-three"));

        let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("AUTH"), "commands are logged: {logs}");
        assert!(logs.contains("ACL SETUSER"), "{logs}");
        for secret in ["pw-one", "pw-two", "pw-three", "requirepass"] {
            assert!(!logs.contains(secret), "{secret} leaked into: {logs}");
        }
    }
}
