//! The `ROLE` reply: whether a server is a primary, a replica or a Sentinel, and its peers.

use super::resp::Reply;

/// What `ROLE` says a server is. Redis's words `master`/`slave` map to `Primary`/`Replica`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A primary (`master`) and the replicas attached to it.
    Primary {
        /// The primary's replication offset.
        replication_offset: i64,
        /// The attached replicas.
        replicas: Vec<RoleReplica>,
    },
    /// A replica (`slave`) of a primary.
    Replica {
        /// The primary's host as configured (`replicaof`).
        primary_host: String,
        /// The primary's port.
        primary_port: u16,
        /// Link state: `none`, `connect`, `connecting`, `sync` or `connected`.
        link_state: String,
        /// Offset of the data received from the primary (-1 before the first sync).
        replication_offset: i64,
    },
    /// A Sentinel and the names of the primaries it monitors.
    Sentinel {
        /// Monitored primary (master) names.
        primaries: Vec<String>,
    },
}

/// A replica as listed in a primary's `ROLE` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleReplica {
    /// Its address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The offset it acknowledged.
    pub replication_offset: i64,
}

impl Role {
    /// True for a primary.
    pub fn is_primary(&self) -> bool {
        matches!(self, Role::Primary { .. })
    }

    /// Interprets a `ROLE` reply; `None` when its shape is not one of the three known ones.
    pub fn from_reply(reply: &Reply) -> Option<Role> {
        let Reply::Array(items) = reply else {
            return None;
        };
        let kind = items.first()?.as_text()?;
        match kind.as_str() {
            "master" => {
                let replication_offset = items.get(1)?.as_integer()?;
                let Reply::Array(list) = items.get(2)? else {
                    return None;
                };
                let replicas = list
                    .iter()
                    .map(|entry| {
                        let Reply::Array(fields) = entry else {
                            return None;
                        };
                        Some(RoleReplica {
                            host: fields.first()?.as_text()?,
                            port: u16::try_from(fields.get(1)?.as_integer()?).ok()?,
                            replication_offset: fields.get(2)?.as_integer()?,
                        })
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(Role::Primary {
                    replication_offset,
                    replicas,
                })
            }
            "slave" => Some(Role::Replica {
                primary_host: items.get(1)?.as_text()?,
                primary_port: u16::try_from(items.get(2)?.as_integer()?).ok()?,
                link_state: items.get(3)?.as_text()?,
                replication_offset: items.get(4)?.as_integer()?,
            }),
            "sentinel" => {
                let Reply::Array(names) = items.get(1)? else {
                    return None;
                };
                Some(Role::Sentinel {
                    primaries: names.iter().map(Reply::as_text).collect::<Option<_>>()?,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn a_primary_role_lists_its_replicas() {
        let reply = Reply::Array(vec![
            bulk("master"),
            Reply::Integer(3129659),
            Reply::Array(vec![
                Reply::Array(vec![bulk("127.0.0.1"), bulk("9001"), bulk("3129242")]),
                Reply::Array(vec![bulk("127.0.0.1"), bulk("9002"), bulk("3129543")]),
            ]),
        ]);
        let role = Role::from_reply(&reply).unwrap();
        assert!(role.is_primary());
        assert_eq!(
            role,
            Role::Primary {
                replication_offset: 3129659,
                replicas: vec![
                    RoleReplica {
                        host: "127.0.0.1".into(),
                        port: 9001,
                        replication_offset: 3129242
                    },
                    RoleReplica {
                        host: "127.0.0.1".into(),
                        port: 9002,
                        replication_offset: 3129543
                    },
                ],
            }
        );
    }

    #[test]
    fn a_replica_role_names_its_primary_and_link_state() {
        let reply = Reply::Array(vec![
            bulk("slave"),
            bulk("redis-0.redis-headless"),
            Reply::Integer(6379),
            bulk("connected"),
            Reply::Integer(3167038),
        ]);
        assert_eq!(
            Role::from_reply(&reply),
            Some(Role::Replica {
                primary_host: "redis-0.redis-headless".into(),
                primary_port: 6379,
                link_state: "connected".into(),
                replication_offset: 3167038,
            })
        );
    }

    #[test]
    fn a_sentinel_role_lists_the_primaries_it_monitors() {
        let reply = Reply::Array(vec![
            bulk("sentinel"),
            Reply::Array(vec![bulk("mymaster"), bulk("other")]),
        ]);
        assert_eq!(
            Role::from_reply(&reply),
            Some(Role::Sentinel {
                primaries: vec!["mymaster".into(), "other".into()]
            })
        );
    }

    #[test]
    fn an_unknown_or_truncated_role_reply_is_none() {
        assert_eq!(Role::from_reply(&Reply::Simple("master".into())), None);
        assert_eq!(Role::from_reply(&Reply::Array(vec![bulk("leader")])), None);
        assert_eq!(
            Role::from_reply(&Reply::Array(vec![bulk("slave"), bulk("host")])),
            None
        );
        assert_eq!(
            Role::from_reply(&Reply::Array(vec![
                bulk("slave"),
                bulk("host"),
                Reply::Integer(70000),
                bulk("connected"),
                Reply::Integer(0),
            ])),
            None,
            "a port out of range"
        );
    }
}
