//! A dataset of every value type for the backup and restore tests: small and large
//! encodings, a stream with consumer groups and pending entries, key TTLs, keys in
//! databases 0, 1 and 5, and a function library.

use anyhow::{bail, Result};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::resp::{Reply, Resp};

/// The commands that write the dataset. `tag` changes the values (two datasets with
/// different tags differ in every key's value); `field_ttls` adds a hash with field TTLs
/// (`HEXPIRE`, Redis 7.4 on).
pub fn every_type(tag: &str, field_ttls: bool) -> Vec<Vec<String>> {
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let mut c = |args: &[&str]| cmds.push(args.iter().map(|s| s.to_string()).collect());
    for db in ["0", "1", "5"] {
        c(&["SELECT", db]);
        c(&["SET", "str:int", "12345"]);
        c(&["SET", "str:short", tag]);
        c(&["SET", "str:raw", &format!("{tag}{}", "x".repeat(500))]);
        c(&["SET", "str:ttl", tag, "PX", "86400000"]);
        c(&["RPUSH", "list:small", "a", "b", tag]);
        c(&["SADD", "set:int", "1", "2", "3"]);
        c(&["SADD", "set:small", "a", "b", tag]);
        c(&["ZADD", "zset:small", "1", "a", "2.5", tag]);
        c(&["HSET", "hash:small", "f", tag, "g", "2"]);
        c(&["HSET", "hash:ttl", "f", tag]);
        c(&["PEXPIRE", "hash:ttl", "3600000"]);
    }
    c(&["SELECT", "0"]);
    for i in 0..300 {
        let (i, v) = (i.to_string(), format!("{tag}-{i}"));
        c(&["RPUSH", "list:large", &v]);
        c(&["SADD", "set:large", &v]);
        c(&["ZADD", "zset:large", &i, &v]);
        c(&["HSET", "hash:large", &i, &v]);
        c(&["XADD", "stream", "*", "n", &i, "tag", tag]);
    }
    c(&["SADD", "set:large:int", &"9".repeat(30)]);
    let (readers, late) = (format!("readers-{tag}"), format!("late-{tag}"));
    c(&["XGROUP", "CREATE", "stream", &readers, "0"]);
    c(&[
        "XREADGROUP",
        "GROUP",
        &readers,
        "alice",
        "COUNT",
        "10",
        "STREAMS",
        "stream",
        ">",
    ]);
    c(&["XGROUP", "CREATE", "stream", &late, "$"]);
    if field_ttls {
        c(&["HSET", "hash:fieldttl", "f", tag, "g", "w"]);
        c(&["HEXPIRE", "hash:fieldttl", "86400", "FIELDS", "1", "f"]);
    }
    c(&[
        "FUNCTION",
        "LOAD",
        "REPLACE",
        "#!lua name=everylib\nredis.register_function('answer', function() return 42 end)",
    ]);
    cmds
}

/// Sends `cmds` in order; the first error reply ends it.
pub async fn load<S>(c: &mut Resp<S>, cmds: &[Vec<String>]) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    for cmd in cmds {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        if let Reply::Error(e) = c.call(&args).await? {
            bail!("{args:?}: {e}");
        }
    }
    Ok(())
}
