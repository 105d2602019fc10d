//! Streams and their consumer groups, as `redis_deployment.streams` keeps them: groups
//! created idempotently (`XGROUP CREATE ... MKSTREAM`, `BUSYGROUP` meaning it is there),
//! the groups a stream has now (`XINFO GROUPS`), trimming (`XTRIM MAXLEN ~`), and the
//! removals a user asked for. Never sees Kubernetes or Terraform types; the caller picks
//! the connection (the primary's).

use super::{RedisConn, RedisError, Reply, Transport};

/// Selects database `db` on `conn` (the connection stays on it).
async fn select<S: Transport>(conn: &mut RedisConn<S>, db: i64) -> Result<(), RedisError> {
    conn.command(&["SELECT", &db.to_string()]).await.map(|_| ())
}

/// Creates consumer group `group` on `stream` in database `db`, starting at `start_id`
/// (`$`: entries added from now on; `0`: the whole stream), and the stream itself when
/// missing. Returns false when the group was already there (its position is left as it is).
pub async fn ensure_group<S: Transport>(
    conn: &mut RedisConn<S>,
    db: i64,
    stream: &str,
    group: &str,
    start_id: &str,
) -> Result<bool, RedisError> {
    select(conn, db).await?;
    match conn
        .command(&["XGROUP", "CREATE", stream, group, start_id, "MKSTREAM"])
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.server_code() == Some("BUSYGROUP") => Ok(false),
        Err(e) => Err(e),
    }
}

/// The consumer groups of `stream` in database `db`, by name; none when the key does not
/// exist. A key of another type is an error (`WRONGTYPE`).
pub async fn groups<S: Transport>(
    conn: &mut RedisConn<S>,
    db: i64,
    stream: &str,
) -> Result<Vec<String>, RedisError> {
    select(conn, db).await?;
    let reply = match conn.command(&["XINFO", "GROUPS", stream]).await {
        Ok(r) => r,
        Err(e)
            if e.server_message()
                .is_some_and(|m| m.contains("no such key")) =>
        {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    group_names(&reply).ok_or_else(|| RedisError::UnexpectedReply {
        command: "XINFO GROUPS".into(),
        expected: "an array of name/value arrays",
        got: format!("{:?}", reply.kind()),
    })
}

/// The `name` of each group in an `XINFO GROUPS` reply (RESP2: one flat name/value array
/// per group; some values are nil or integers, so the pairs are not all strings).
fn group_names(reply: &Reply) -> Option<Vec<String>> {
    let Reply::Array(groups) = reply else {
        return None;
    };
    groups
        .iter()
        .map(|g| {
            let Reply::Array(fields) = g else {
                return None;
            };
            fields
                .chunks_exact(2)
                .find(|pair| pair[0].as_text().as_deref() == Some("name"))
                .and_then(|pair| pair[1].as_text())
        })
        .collect()
}

/// Trims `stream` in database `db` to about `maxlen` entries (`XTRIM MAXLEN ~`: whole
/// macro nodes only, as producers' `XADD MAXLEN ~` does); returns the entries removed.
pub async fn trim<S: Transport>(
    conn: &mut RedisConn<S>,
    db: i64,
    stream: &str,
    maxlen: u64,
) -> Result<i64, RedisError> {
    select(conn, db).await?;
    let reply = conn
        .command(&["XTRIM", stream, "MAXLEN", "~", &maxlen.to_string()])
        .await?;
    Ok(reply.as_integer().unwrap_or(0))
}

/// Destroys consumer group `group` of `stream` in database `db` (its consumers and
/// pending entries; the stream's entries stay). Returns false when there was none.
pub async fn destroy_group<S: Transport>(
    conn: &mut RedisConn<S>,
    db: i64,
    stream: &str,
    group: &str,
) -> Result<bool, RedisError> {
    select(conn, db).await?;
    match conn.command(&["XGROUP", "DESTROY", stream, group]).await {
        Ok(r) => Ok(r.as_integer() == Some(1)),
        Err(e)
            if e.server_message()
                .is_some_and(|m| m.contains("no such key")) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Deletes `stream` in database `db` with every entry and group, if it is a stream (a key
/// of another type under that name is left alone). Returns whether it was deleted.
pub async fn delete_stream<S: Transport>(
    conn: &mut RedisConn<S>,
    db: i64,
    stream: &str,
) -> Result<bool, RedisError> {
    select(conn, db).await?;
    // XINFO GROUPS answers only for a stream: WRONGTYPE otherwise, "no such key" when gone.
    match conn.command(&["XINFO", "GROUPS", stream]).await {
        Ok(_) => {}
        Err(e)
            if e.server_message()
                .is_some_and(|m| m.contains("no such key")) =>
        {
            return Ok(false)
        }
        Err(e) => return Err(e),
    }
    let reply = conn.command(&["DEL", stream]).await?;
    Ok(reply.as_integer() == Some(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn group_names_are_read_from_xinfo_groups_whatever_the_other_fields_hold() {
        let group = |name: &str| {
            Reply::Array(vec![
                bulk("name"),
                bulk(name),
                bulk("consumers"),
                Reply::Integer(0),
                bulk("last-delivered-id"),
                bulk("0-0"),
                bulk("entries-read"),
                Reply::Nil,
                bulk("lag"),
                Reply::Integer(3),
            ])
        };
        let reply = Reply::Array(vec![group("workers"), group("audit")]);
        assert_eq!(
            group_names(&reply),
            Some(vec!["workers".to_string(), "audit".to_string()])
        );
        assert_eq!(group_names(&Reply::Array(vec![])), Some(vec![]));
        assert_eq!(group_names(&Reply::Integer(1)), None);
        assert_eq!(
            group_names(&Reply::Array(vec![Reply::Array(vec![bulk("consumers")])])),
            None
        );
    }
}
