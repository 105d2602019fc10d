//! Which server an image tag runs and which RDB files it can load: the one table of what
//! we know, for refusing image changes whose server cannot read the data on disk.
//!
//! A server writes RDB files (and AOF preambles, and replication streams) at its own RDB
//! version and refuses to load a newer one ("Can't handle RDB format version N"). Only
//! the images named in [`KNOWN`] are judged; any other tag (`latest`, `7`, a digest, a
//! repository we do not recognise) is unknown, never refused.

use std::fmt;

/// The server family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Redis (`redis`, `<registry>/library/redis`, `bitnami/redis`, ...).
    Redis,
    /// Valkey (`valkey/valkey`, ...).
    Valkey,
}

/// A server release line, e.g. Redis 7.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Server {
    /// Redis or Valkey.
    pub family: Family,
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.family {
            Family::Redis => "Redis",
            Family::Valkey => "Valkey",
        };
        write!(f, "{name} {}.{}", self.major, self.minor)
    }
}

/// The RDB version each release line writes, and the newest it loads.
///
/// Redis 7.2.6 and 7.4.1, Valkey 8.0.1: `RDB_VERSION` in their `src/rdb.h` (11, 12, 11);
/// the loader refuses any version above it. Redis 7.0 introduced RDB 10, 6.0 and 6.2 write
/// 9; Valkey 7.2 is the Redis 7.2 code base (11).
const KNOWN: &[(Family, u32, u32, u32)] = &[
    (Family::Redis, 6, 0, 9),
    (Family::Redis, 6, 2, 9),
    (Family::Redis, 7, 0, 10),
    (Family::Redis, 7, 2, 11),
    (Family::Redis, 7, 4, 12),
    (Family::Valkey, 7, 2, 11),
    (Family::Valkey, 8, 0, 11),
];

impl Server {
    /// The RDB version it writes and the newest it loads, when known.
    pub fn rdb_version(&self) -> Option<u32> {
        KNOWN
            .iter()
            .find(|(f, major, minor, _)| {
                *f == self.family && *major == self.major && *minor == self.minor
            })
            .map(|(.., rdb)| *rdb)
    }
}

/// The release line an image runs, from its repository and tag, when both say it:
/// `redis:7.4-alpine`, `docker.io/library/redis:7.2.6`, `valkey/valkey:8.0`.
pub fn of_image(image: &str) -> Option<Server> {
    let name = image.split('@').next()?;
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repository, tag) = name[last_slash..].split_once(':')?;
    let family = match repository {
        "redis" => Family::Redis,
        "valkey" => Family::Valkey,
        _ => return None,
    };
    let mut numbers = tag.split(|c: char| !c.is_ascii_digit());
    let major = numbers.next()?.parse().ok()?;
    // "7" alone names whatever 7.x is newest: not one release line.
    let minor = tag
        .strip_prefix(&format!("{major}."))?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(Server {
        family,
        major,
        minor,
    })
}

/// The release line of a running server, from the version INFO reports
/// (`valkey_version` on Valkey, else `redis_version`): `7.2.4` is Redis 7.2.
pub fn of_version(valkey: bool, version: &str) -> Option<Server> {
    let mut numbers = version.split('.');
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    Some(Server {
        family: if valkey {
            Family::Valkey
        } else {
            Family::Redis
        },
        major,
        minor,
    })
}

/// An image change whose server cannot load what the running one wrote.
#[derive(Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// The running server and the RDB version it writes.
    pub from: (Server, u32),
    /// The new server and the newest RDB version it loads.
    pub to: (Server, u32),
}

/// What is known about going from image `prior` to image `next` with data on disk.
#[derive(Debug, PartialEq, Eq)]
pub enum Compatibility {
    /// The new server loads what the old one wrote (or the image is the same).
    Readable,
    /// It cannot.
    Unreadable(Unreadable),
    /// One of the images is not in the table.
    Unknown,
}

/// Whether the server of image `next` can load the RDB files the server of `prior` wrote.
pub fn compatibility(prior: &str, next: &str) -> Compatibility {
    if prior == next {
        return Compatibility::Readable;
    }
    let known = |image: &str| of_image(image).and_then(|s| Some((s, s.rdb_version()?)));
    match (known(prior), known(next)) {
        (Some(from), Some(to)) if from.1 > to.1 => {
            Compatibility::Unreadable(Unreadable { from, to })
        }
        (Some(_), Some(_)) => Compatibility::Readable,
        _ => Compatibility::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(family: Family, major: u32, minor: u32) -> Server {
        Server {
            family,
            major,
            minor,
        }
    }

    #[test]
    fn tags_name_a_release_line_only_with_major_and_minor() {
        use Family::*;
        for (image, want) in [
            ("redis:7.4-alpine", Some(server(Redis, 7, 4))),
            ("redis:7.2.6", Some(server(Redis, 7, 2))),
            (
                "docker.io/library/redis:7.0.15-bookworm",
                Some(server(Redis, 7, 0)),
            ),
            ("valkey/valkey:8.0", Some(server(Valkey, 8, 0))),
            (
                "valkey/valkey:8.0.1-alpine@sha256:abc",
                Some(server(Valkey, 8, 0)),
            ),
            ("redis:7", None),
            ("redis:latest", None),
            ("redis", None),
            ("redis@sha256:abc", None),
            ("redis/redis-stack-server:7.4.0-v1", None),
        ] {
            assert_eq!(of_image(image), want, "{image}");
        }
        assert_eq!(server(Redis, 7, 4).to_string(), "Redis 7.4");
    }

    #[test]
    fn a_running_servers_version_names_its_release_line() {
        assert_eq!(
            of_version(false, "7.4.1"),
            Some(server(Family::Redis, 7, 4))
        );
        assert_eq!(
            of_version(true, "8.0.1"),
            Some(server(Family::Valkey, 8, 0))
        );
        assert_eq!(of_version(false, "7"), None);
        assert_eq!(of_version(false, ""), None);
    }

    #[test]
    fn the_rdb_versions_are_those_of_the_vendored_sources() {
        assert_eq!(server(Family::Redis, 7, 2).rdb_version(), Some(11));
        assert_eq!(server(Family::Redis, 7, 4).rdb_version(), Some(12));
        assert_eq!(server(Family::Valkey, 8, 0).rdb_version(), Some(11));
        assert_eq!(server(Family::Redis, 8, 0).rdb_version(), None);
    }

    #[test]
    fn a_downgrade_across_rdb_versions_is_unreadable_and_an_upgrade_is_not() {
        use Family::*;
        assert_eq!(
            compatibility("redis:7.4-alpine", "redis:7.2-alpine"),
            Compatibility::Unreadable(Unreadable {
                from: (server(Redis, 7, 4), 12),
                to: (server(Redis, 7, 2), 11),
            })
        );
        assert!(matches!(
            compatibility("redis:7.4.1", "valkey/valkey:8.0"),
            Compatibility::Unreadable(_)
        ));
        for (a, b) in [
            ("redis:7.2-alpine", "redis:7.4-alpine"),
            ("valkey/valkey:8.0", "redis:7.4"),
            ("valkey/valkey:8.0", "redis:7.2"),
            ("redis:7.4-alpine", "redis:7.4.1-bookworm"),
        ] {
            assert_eq!(compatibility(a, b), Compatibility::Readable, "{a} -> {b}");
        }
        assert_eq!(
            compatibility("redis:7.4-alpine", "redis:8.0"),
            Compatibility::Unknown
        );
        assert_eq!(
            compatibility("redis:latest", "redis:7.2"),
            Compatibility::Unknown
        );
    }
}
