//! A minimal RESP2 client for tests: one command at a time over any byte stream
//! (a port-forward stream, usually), replies rendered as text.

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// A reply, simplified: bulk and simple strings as text, arrays flattened by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Text(String),
    Int(i64),
    Nil,
    Error(String),
    Array(Vec<Reply>),
}

impl Reply {
    /// The text of a string reply; anything else is an error naming what came.
    pub fn text(&self) -> Result<&str> {
        match self {
            Reply::Text(s) => Ok(s),
            other => bail!("expected a string reply, got {other:?}"),
        }
    }
}

/// A connection speaking RESP over `S`.
pub struct Resp<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Resp<S> {
    pub fn new(stream: S) -> Self {
        Resp {
            io: BufReader::new(stream),
        }
    }

    /// Sends one command and reads its reply.
    pub async fn call(&mut self, args: &[&str]) -> Result<Reply> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.io.get_mut().write_all(&out).await?;
        self.io.get_mut().flush().await?;
        self.read_reply().await
    }

    fn read_reply(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reply>> + Send + '_>> {
        Box::pin(async move {
            let mut line = String::new();
            let n = self.io.read_line(&mut line).await?;
            if n == 0 {
                bail!("connection closed before a reply");
            }
            let line = line.trim_end_matches("\r\n");
            let (kind, rest) = line.split_at(1);
            Ok(match kind {
                "+" => Reply::Text(rest.to_string()),
                "-" => Reply::Error(rest.to_string()),
                ":" => Reply::Int(rest.parse().context("integer reply")?),
                "$" => {
                    let len: i64 = rest.parse().context("bulk length")?;
                    if len < 0 {
                        Reply::Nil
                    } else {
                        let mut buf = vec![0u8; len as usize + 2];
                        self.io.read_exact(&mut buf).await?;
                        buf.truncate(len as usize);
                        Reply::Text(String::from_utf8_lossy(&buf).into_owned())
                    }
                }
                "*" => {
                    let len: i64 = rest.parse().context("array length")?;
                    let mut items = Vec::new();
                    for _ in 0..len.max(0) {
                        items.push(self.read_reply().await?);
                    }
                    if len < 0 {
                        Reply::Nil
                    } else {
                        Reply::Array(items)
                    }
                }
                _ => bail!("not a RESP reply: {line:?}"),
            })
        })
    }
}

/// The value of `field` in an INFO section's `field:value` lines.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .find(|(k, _)| *k == field)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commands_are_encoded_and_every_reply_kind_is_decoded() {
        let (client, mut server) = tokio::io::duplex(1024);
        let mut resp = Resp::new(client);
        let srv = tokio::spawn(async move {
            let mut buf = vec![0u8; 64];
            let n = server.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
            server
                .write_all(b"*4\r\n$5\r\nhello\r\n:42\r\n$-1\r\n-ERR no\r\n")
                .await
                .unwrap();
        });
        let reply = resp.call(&["GET", "k"]).await.unwrap();
        srv.await.unwrap();
        assert_eq!(
            reply,
            Reply::Array(vec![
                Reply::Text("hello".into()),
                Reply::Int(42),
                Reply::Nil,
                Reply::Error("ERR no".into())
            ])
        );
    }

    #[test]
    fn info_fields_are_found_by_name() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n";
        assert_eq!(info_field(info, "connected_slaves"), Some("2"));
        assert_eq!(info_field(info, "role"), Some("master"));
        assert_eq!(info_field(info, "missing"), None);
    }
}
