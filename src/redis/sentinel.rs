//! Sentinel commands: where the primary is, what a Sentinel knows about it, quorum, live tuning.

use std::collections::BTreeMap;

use super::conn::{expect_ok, unexpected, RedisConn, RedisError, Transport};
use super::resp::Reply;

/// A Sentinel's view of one monitored primary (`SENTINEL MASTER <name>`): its
/// name/value fields, with typed getters for the ones we use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentinelPrimary {
    fields: BTreeMap<String, String>,
}

impl SentinelPrimary {
    /// Wraps the name/value fields of a `SENTINEL MASTER` reply.
    pub fn from_fields(fields: BTreeMap<String, String>) -> SentinelPrimary {
        SentinelPrimary { fields }
    }

    /// All fields.
    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.fields
    }

    /// The raw value of `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// `name`: the monitored primary's name, e.g. `mymaster`.
    pub fn name(&self) -> Option<&str> {
        self.get("name")
    }

    /// `ip`: the primary's address as Sentinel knows it (a host name with `announce_hostnames`).
    pub fn ip(&self) -> Option<&str> {
        self.get("ip")
    }

    /// `port`.
    pub fn port(&self) -> Option<u16> {
        self.get("port")?.parse().ok()
    }

    /// `flags`, e.g. `["master"]` or `["s_down", "master"]`.
    pub fn flags(&self) -> Vec<&str> {
        self.get("flags")
            .map(|f| f.split(',').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// True when this Sentinel (`s_down`) or the quorum (`o_down`) considers the primary down.
    pub fn is_down(&self) -> bool {
        flags_down(self.get("flags").unwrap_or(""))
    }

    /// `num-slaves`: replicas this Sentinel discovered.
    pub fn num_replicas(&self) -> Option<u64> {
        self.get("num-slaves")?.parse().ok()
    }

    /// `num-other-sentinels`: other Sentinels this one discovered.
    pub fn num_other_sentinels(&self) -> Option<u64> {
        self.get("num-other-sentinels")?.parse().ok()
    }

    /// `quorum`.
    pub fn quorum(&self) -> Option<u64> {
        self.get("quorum")?.parse().ok()
    }
}

/// Whether an instance's comma-separated Sentinel `flags` (primary or replica) say it is
/// down for this Sentinel (`s_down`), for the quorum (`o_down`), or unreachable.
pub fn flags_down(flags: &str) -> bool {
    flags
        .split(',')
        .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"))
}

/// The per-primary settings Sentinel changes live with `SENTINEL SET` (and keeps in
/// its rewritten config): one home for their names, their order and their values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunables {
    /// Sentinels that must agree the primary is down (`quorum`).
    pub quorum: i64,
    /// How long the primary may not answer before a Sentinel deems it down.
    pub down_after_milliseconds: i64,
    /// The failover timeout (and the pace of retries and replica re-pointing).
    pub failover_timeout: i64,
    /// Replicas re-pointed at once after a failover.
    pub parallel_syncs: i64,
}

impl Tunables {
    /// `(option, value)` pairs as `SENTINEL SET` and the config file name them.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("quorum", self.quorum.to_string()),
            (
                "down-after-milliseconds",
                self.down_after_milliseconds.to_string(),
            ),
            ("failover-timeout", self.failover_timeout.to_string()),
            ("parallel-syncs", self.parallel_syncs.to_string()),
        ]
    }

    /// The settings of `next` that differ from `self`.
    pub fn changed(&self, next: &Tunables) -> Vec<(&'static str, String)> {
        let before = self.settings();
        next.settings()
            .into_iter()
            .zip(before)
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a)
            .collect()
    }

    /// What a Sentinel reports (`SENTINEL MASTER`); `None` when a field is missing.
    pub fn of(primary: &SentinelPrimary) -> Option<Tunables> {
        let n = |f: &str| primary.get(f)?.parse::<i64>().ok();
        Some(Tunables {
            quorum: n("quorum")?,
            down_after_milliseconds: n("down-after-milliseconds")?,
            failover_timeout: n("failover-timeout")?,
            parallel_syncs: n("parallel-syncs")?,
        })
    }
}

impl<S: Transport> RedisConn<S> {
    /// `SENTINEL GET-MASTER-ADDR-BY-NAME <name>`: the current primary's host and port, or
    /// `None` when this Sentinel does not monitor `name`.
    pub async fn sentinel_primary_addr(
        &mut self,
        name: &str,
    ) -> Result<Option<(String, u16)>, RedisError> {
        let reply = self
            .command(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name])
            .await?;
        let bad = || unexpected("SENTINEL GET-MASTER-ADDR-BY-NAME", "host and port", &reply);
        match &reply {
            Reply::Nil => Ok(None),
            Reply::Array(items) if items.len() == 2 => {
                let host = items[0].as_text().ok_or_else(bad)?;
                let port = items[1]
                    .as_integer()
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(bad)?;
                Ok(Some((host, port)))
            }
            _ => Err(bad()),
        }
    }

    /// `SENTINEL MASTER <name>`. An unknown name is a [`RedisError::Server`]
    /// (`ERR No such master with that name`).
    pub async fn sentinel_primary(&mut self, name: &str) -> Result<SentinelPrimary, RedisError> {
        let reply = self.command(&["SENTINEL", "MASTER", name]).await?;
        reply
            .as_pairs()
            .map(SentinelPrimary::from_fields)
            .ok_or_else(|| unexpected("SENTINEL MASTER", "an array of name/value pairs", &reply))
    }

    /// `SENTINEL REPLICAS <name>`: the replicas this Sentinel knows, each as name/value fields.
    pub async fn sentinel_replicas(
        &mut self,
        name: &str,
    ) -> Result<Vec<BTreeMap<String, String>>, RedisError> {
        self.sentinel_list("REPLICAS", name).await
    }

    /// `SENTINEL SENTINELS <name>`: the other Sentinels this one knows, each as name/value fields.
    pub async fn sentinel_sentinels(
        &mut self,
        name: &str,
    ) -> Result<Vec<BTreeMap<String, String>>, RedisError> {
        self.sentinel_list("SENTINELS", name).await
    }

    /// `SENTINEL CKQUORUM <name>`: `Ok` with Sentinel's message when enough Sentinels are
    /// reachable to reach the quorum and authorize a failover; otherwise a
    /// [`RedisError::Server`] with code `NOQUORUM` (or `ERR` for an unknown name).
    pub async fn sentinel_ckquorum(&mut self, name: &str) -> Result<String, RedisError> {
        let reply = self.command(&["SENTINEL", "CKQUORUM", name]).await?;
        match &reply {
            Reply::Simple(message) => Ok(message.clone()),
            _ => Err(unexpected("SENTINEL CKQUORUM", "a status", &reply)),
        }
    }

    /// `SENTINEL SET <name> option value [option value ...]`: live tuning
    /// (`down-after-milliseconds`, `failover-timeout`, `parallel-syncs`, `quorum`, ...).
    /// Nothing is sent for an empty list.
    pub async fn sentinel_set<N: AsRef<str>, V: AsRef<str>>(
        &mut self,
        name: &str,
        settings: &[(N, V)],
    ) -> Result<(), RedisError> {
        if settings.is_empty() {
            return Ok(());
        }
        let mut args: Vec<&str> = vec!["SENTINEL", "SET", name];
        for (option, value) in settings {
            args.push(option.as_ref());
            args.push(value.as_ref());
        }
        let reply = self.command(&args).await?;
        expect_ok("SENTINEL SET", &reply)
    }

    async fn sentinel_list(
        &mut self,
        what: &'static str,
        name: &str,
    ) -> Result<Vec<BTreeMap<String, String>>, RedisError> {
        let reply = self.command(&["SENTINEL", what, name]).await?;
        let bad = || unexpected("SENTINEL", "an array of name/value arrays", &reply);
        let Reply::Array(entries) = &reply else {
            return Err(bad());
        };
        entries
            .iter()
            .map(|entry| entry.as_pairs().ok_or_else(bad))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary(pairs: &[(&str, &str)]) -> SentinelPrimary {
        SentinelPrimary::from_fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_healthy_primary_reads_as_up_with_its_counts() {
        let p = primary(&[
            ("name", "mymaster"),
            ("ip", "redis-0.redis-headless"),
            ("port", "6379"),
            ("flags", "master"),
            ("num-slaves", "2"),
            ("num-other-sentinels", "2"),
            ("quorum", "2"),
        ]);
        assert_eq!(p.name(), Some("mymaster"));
        assert_eq!(p.ip(), Some("redis-0.redis-headless"));
        assert_eq!(p.port(), Some(6379));
        assert_eq!(p.flags(), ["master"]);
        assert!(!p.is_down());
        assert_eq!(p.num_replicas(), Some(2));
        assert_eq!(p.num_other_sentinels(), Some(2));
        assert_eq!(p.quorum(), Some(2));
    }

    #[test]
    fn subjective_or_objective_down_flags_read_as_down() {
        assert!(primary(&[("flags", "s_down,master")]).is_down());
        assert!(primary(&[("flags", "o_down,s_down,master")]).is_down());
        assert!(!primary(&[]).is_down());
        assert!(primary(&[]).flags().is_empty());
    }

    #[test]
    fn tunables_read_back_from_sentinel_master_and_changes_are_named() {
        let p = primary(&[
            ("quorum", "2"),
            ("down-after-milliseconds", "5000"),
            ("failover-timeout", "60000"),
            ("parallel-syncs", "1"),
        ]);
        let t = Tunables::of(&p).unwrap();
        assert_eq!(t.down_after_milliseconds, 5000);
        let mut next = t;
        next.down_after_milliseconds = 7000;
        assert_eq!(
            t.changed(&next),
            vec![("down-after-milliseconds", "7000".to_string())]
        );
        assert!(Tunables::of(&primary(&[("quorum", "2")])).is_none());
    }
}
