//! The `redis` module against real `redis-server` processes on loopback.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use terraform_provider_redis::redis::{
    wait_ready, wait_until, Auth, RedisConn, RedisError, Reply, Role, Transport,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);

/// A `redis-server` child on a free loopback port, killed when dropped (also on panic).
struct RedisServer {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server with `--save '' --appendonly no` plus `extra` arguments.
    fn start(extra: &[&str]) -> RedisServer {
        for _ in 0..5 {
            if let Some(server) = RedisServer::try_start(free_port(), extra) {
                return server;
            }
        }
        panic!("redis-server did not start after 5 attempts");
    }

    /// Starts a server on `port`, panicking with its log if it does not come up.
    fn start_on(port: u16, extra: &[&str]) -> RedisServer {
        RedisServer::try_start(port, extra)
            .unwrap_or_else(|| panic!("redis-server did not start on port {port}"))
    }

    fn try_start(port: u16, extra: &[&str]) -> Option<RedisServer> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir.path().display().to_string(),
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        RedisServer::spawn(port, dir, args)
    }

    /// Starts a Sentinel on a free port monitoring `mymaster` at `primary_port` (quorum 1).
    fn start_sentinel(primary_port: u16) -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("temp dir");
            // Sentinel rewrites its configuration file, so it lives in the temp dir.
            let conf = dir.path().join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\n\
                     sentinel monitor mymaster 127.0.0.1 {primary_port} 1\n\
                     sentinel down-after-milliseconds mymaster 5000\n",
                    dir.path().display()
                ),
            )
            .expect("sentinel.conf");
            let args = vec![conf.display().to_string(), "--sentinel".to_owned()];
            if let Some(server) = RedisServer::spawn(port, dir, args) {
                return server;
            }
        }
        panic!("redis sentinel did not start after 5 attempts");
    }

    /// Runs `redis-server args... --daemonize no --logfile <dir>/redis.log` and waits
    /// until `port` accepts connections.
    fn spawn(port: u16, dir: TempDir, mut args: Vec<String>) -> Option<RedisServer> {
        let log = dir.path().join("redis.log").display().to_string();
        args.extend(["--daemonize".into(), "no".into(), "--logfile".into(), log]);
        let child = Command::new("redis-server")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (Debian package redis-server)");
        let mut server = RedisServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                eprintln!(
                    "redis-server on port {port} exited with {status}:\n{}",
                    server.log()
                );
                return None;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "redis-server on port {port} never listened:\n{}",
            server.log()
        );
        None
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    async fn connect(&self, auth: Option<Auth>) -> Result<RedisConn<TcpStream>, RedisError> {
        RedisConn::connect_tcp(&self.addr(), auth, TIMEOUT).await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port never handed out before in this process: the tests run in
/// parallel, and two servers given the same port would let one test's readiness check
/// connect to the other's server (CI once saw a connection reset there when that server
/// was killed).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut given = GIVEN.lock().expect("the ports handed out");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Fails the test instead of hanging it.
async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the operation finished instead of hanging")
}

async fn text<S: Transport>(conn: &mut RedisConn<S>, args: &[&str]) -> String {
    conn.command(args)
        .await
        .unwrap()
        .as_text()
        .expect("a string reply")
}

#[tokio::test]
async fn handshake_without_auth_answers_ping_on_an_open_server() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connect(None).await.unwrap();
    conn.ping().await.unwrap();
    assert!(conn.is_usable());
}

#[tokio::test]
async fn handshake_with_the_right_password_succeeds() {
    let server = RedisServer::start(&["--requirepass", "s3cret"]);
    let mut conn = server
        .connect(Some(Auth::password("s3cret")))
        .await
        .unwrap();
    assert_eq!(text(&mut conn, &["ACL", "WHOAMI"]).await, "default");
}

#[tokio::test]
async fn handshake_with_a_wrong_password_surfaces_wrongpass() {
    let server = RedisServer::start(&["--requirepass", "s3cret"]);
    let err = server
        .connect(Some(Auth::password("wrong")))
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some("WRONGPASS"), "{err}");
    assert!(err.is_auth_failure());
    assert!(
        err.to_string().starts_with("redis refused AUTH: WRONGPASS"),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong "), "no password in: {err}");
}

#[tokio::test]
async fn handshake_without_a_password_on_a_protected_server_surfaces_noauth() {
    let server = RedisServer::start(&["--requirepass", "s3cret"]);
    let err = server.connect(None).await.unwrap_err();
    assert_eq!(err.server_code(), Some("NOAUTH"), "{err}");
    assert!(err.is_auth_failure());
}

#[tokio::test]
async fn handshake_with_a_password_on_an_open_server_is_an_auth_failure() {
    let server = RedisServer::start(&[]);
    let err = server
        .connect(Some(Auth::password("unneeded")))
        .await
        .unwrap_err();
    assert!(err.is_auth_failure(), "{err}");
}

#[tokio::test]
async fn handshake_as_an_acl_user_from_the_command_line_succeeds() {
    let server = RedisServer::start(&["--user", "alice", "on", ">alicepw", "~*", "&*", "+@all"]);
    let mut conn = server
        .connect(Some(Auth::user("alice", "alicepw")))
        .await
        .unwrap();
    assert_eq!(text(&mut conn, &["ACL", "WHOAMI"]).await, "alice");
}

#[tokio::test]
async fn handshake_as_an_acl_user_with_a_wrong_password_surfaces_wrongpass() {
    let server = RedisServer::start(&["--user", "alice", "on", ">alicepw", "~*", "&*", "+@all"]);
    let err = server
        .connect(Some(Auth::user("alice", "nope")))
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some("WRONGPASS"), "{err}");
}

#[tokio::test]
async fn a_user_created_with_acl_setuser_logs_in_and_is_refused_what_it_lacks() {
    let server = RedisServer::start(&[]);
    let mut admin = server.connect(None).await.unwrap();
    let reply = admin
        .command(&[
            "ACL", "SETUSER", "probe", "on", ">probepw", "-@all", "+ping", "+info", "+dbsize",
        ])
        .await
        .unwrap();
    assert!(reply.is_ok());

    let mut probe = server
        .connect(Some(Auth::user("probe", "probepw")))
        .await
        .unwrap();
    assert_eq!(probe.dbsize().await.unwrap(), 0);
    let err = probe.config_get("maxmemory").await.unwrap_err();
    assert_eq!(err.server_code(), Some("NOPERM"), "{err}");
    assert!(!err.is_auth_failure());
    assert!(probe.is_usable(), "a refusal keeps the connection usable");
    probe.ping().await.unwrap();
}

#[tokio::test]
async fn a_requirepass_set_live_is_required_by_new_connections() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connect(None).await.unwrap();
    conn.config_set(&[("requirepass", "rotated")])
        .await
        .unwrap();
    let err = server.connect(None).await.unwrap_err();
    assert_eq!(err.server_code(), Some("NOAUTH"), "{err}");
    server
        .connect(Some(Auth::password("rotated")))
        .await
        .unwrap();
}

#[tokio::test]
async fn info_reports_role_version_memory_and_keyspace() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connect(None).await.unwrap();
    for key in ["a", "b", "c"] {
        conn.command(&["SET", key, "1"]).await.unwrap();
    }
    conn.command(&["SELECT", "2"]).await.unwrap();
    conn.command(&["SET", "x", "1", "EX", "600"]).await.unwrap();
    assert_eq!(conn.dbsize().await.unwrap(), 1, "db 2 is selected");

    let info = conn.info("all").await.unwrap();
    assert_eq!(info.role(), Some("master"));
    assert!(info.redis_version().is_some_and(|v| v.starts_with('7')));
    assert_eq!(info.server_version(), info.redis_version());
    assert_eq!(info.connected_slaves(), Some(0));
    assert!(info.used_memory().is_some_and(|m| m > 0));
    assert_eq!(info.loading(), Some(false));
    assert_eq!(info.master_host(), None);
    let keyspace = info.keyspace();
    assert_eq!(keyspace.get(&0).map(|db| db.keys), Some(3));
    assert_eq!(
        keyspace.get(&2).map(|db| (db.keys, db.expires)),
        Some((1, 1))
    );
    assert_eq!(info.total_keys(), 4);

    let persistence = conn.info("persistence").await.unwrap();
    assert_eq!(persistence.loading(), Some(false));
    assert_eq!(persistence.role(), None, "only the persistence section");
}

#[tokio::test]
async fn info_with_several_sections_returns_all_of_them() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connect(None).await.unwrap();
    let info = conn.info("persistence replication").await.unwrap();
    assert_eq!(info.loading(), Some(false));
    assert_eq!(info.role(), Some("master"));
    assert_eq!(
        info.used_memory(),
        None,
        "the memory section was not asked for"
    );
}

#[tokio::test]
async fn config_set_then_config_get_round_trips_maxmemory_and_policy() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connect(None).await.unwrap();
    conn.config_set(&[
        ("maxmemory", "104857600".to_owned()),
        ("maxmemory-policy", "allkeys-lru".to_owned()),
    ])
    .await
    .unwrap();
    let got = conn.config_get("maxmemory*").await.unwrap();
    assert_eq!(got.get("maxmemory").map(String::as_str), Some("104857600"));
    assert_eq!(
        got.get("maxmemory-policy").map(String::as_str),
        Some("allkeys-lru")
    );
    assert_eq!(
        conn.info("memory").await.unwrap().maxmemory(),
        Some(104857600)
    );
}

#[tokio::test]
async fn config_set_with_one_invalid_value_is_refused_and_changes_nothing() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connect(None).await.unwrap();
    let err = conn
        .config_set(&[("maxmemory", "1mb"), ("maxmemory-policy", "sometimes-lru")])
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some("ERR"), "{err}");
    assert!(
        err.to_string().starts_with("redis refused CONFIG SET: "),
        "{err}"
    );
    let got = conn.config_get("maxmemory*").await.unwrap();
    assert_eq!(got.get("maxmemory").map(String::as_str), Some("0"));
    assert_eq!(
        got.get("maxmemory-policy").map(String::as_str),
        Some("noeviction")
    );
}

#[tokio::test]
async fn config_get_of_an_unknown_parameter_is_empty() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connect(None).await.unwrap();
    assert!(conn.config_get("no-such-thing").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_standalone_server_is_a_primary_without_replicas() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connect(None).await.unwrap();
    let role = conn.role().await.unwrap();
    assert!(
        matches!(&role, Role::Primary { replicas, .. } if replicas.is_empty()),
        "{role:?}"
    );
    assert_eq!(conn.dbsize().await.unwrap(), 0);
}

#[tokio::test]
async fn a_replica_reports_its_primary_through_role_and_info() {
    let primary = RedisServer::start(&["--repl-diskless-sync-delay", "0"]);
    let replica = RedisServer::start(&[]);
    let port = primary.port.to_string();
    let mut conn = replica.connect(None).await.unwrap();
    assert!(conn
        .command(&["REPLICAOF", "127.0.0.1", &port])
        .await
        .unwrap()
        .is_ok());

    let role = bounded(async {
        loop {
            let role = conn.role().await.unwrap();
            if matches!(&role, Role::Replica { link_state, .. } if link_state == "connected") {
                break role;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let Role::Replica {
        primary_host,
        primary_port,
        ..
    } = role
    else {
        unreachable!()
    };
    assert_eq!(primary_host, "127.0.0.1");
    assert_eq!(primary_port, primary.port);

    let info = conn.info("replication").await.unwrap();
    assert_eq!(info.role(), Some("slave"));
    assert_eq!(info.master_host(), Some("127.0.0.1"));
    assert_eq!(info.master_link_status(), Some("up"));

    // The primary lists the replica once it has acknowledged the end of the sync.
    let mut on_primary = primary.connect(None).await.unwrap();
    bounded(async {
        loop {
            let role = on_primary.role().await.unwrap();
            if matches!(&role, Role::Primary { replicas, .. } if replicas.len() == 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let info = on_primary.info("replication").await.unwrap();
    assert_eq!(info.connected_slaves(), Some(1));
    let replicas = info.replicas();
    assert_eq!(replicas.len(), 1);
    assert_eq!(replicas[0].port, replica.port);
    assert_eq!(replicas[0].state, "online");
}

#[tokio::test]
async fn an_unknown_command_is_a_server_error_carrying_the_message() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connect(None).await.unwrap();
    let err = conn.command(&["NOSUCHCOMMAND", "arg"]).await.unwrap_err();
    assert!(matches!(err, RedisError::Server { .. }));
    assert_eq!(err.server_code(), Some("ERR"));
    assert!(
        err.server_message()
            .is_some_and(|m| m.contains("unknown command")),
        "{err}"
    );
    assert!(!err.is_transient());
    assert_eq!(
        conn.command(&["ECHO", "still here"]).await.unwrap(),
        Reply::Bulk(b"still here".to_vec())
    );
}

#[tokio::test]
async fn a_large_binary_value_comes_back_intact() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connect(None).await.unwrap();
    let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let set = conn
        .command(&[&b"SET"[..], b"big\r\nkey", &big])
        .await
        .unwrap();
    assert!(set.is_ok());
    let got = conn.command(&[&b"GET"[..], b"big\r\nkey"]).await.unwrap();
    assert!(got == Reply::Bulk(big), "the same 3 MiB back");
    assert_eq!(conn.dbsize().await.unwrap(), 1);
}

#[tokio::test]
async fn a_listener_that_accepts_but_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let silent = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        // Hold the connection open and say nothing.
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(socket);
    });
    let err = bounded(RedisConn::connect_tcp(
        &addr,
        None,
        Duration::from_millis(300),
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, RedisError::Timeout { command, .. } if command == "PING"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "redis did not answer PING within 300ms");
    silent.abort();
}

#[tokio::test]
async fn connecting_to_a_closed_port_is_a_connect_error() {
    let addr = format!("127.0.0.1:{}", free_port());
    let err = RedisConn::connect_tcp(&addr, None, TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, RedisError::Connect { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("could not connect to redis at {addr}")
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn wait_ready_returns_a_ready_connection_to_a_running_server() {
    let server = RedisServer::start(&["--requirepass", "pw"]);
    let addr = server.addr();
    let mut conn = bounded(wait_ready(
        || RedisConn::connect_tcp(&addr, Some(Auth::password("pw")), TIMEOUT),
        Duration::from_secs(10),
    ))
    .await
    .unwrap();
    conn.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ready_keeps_retrying_until_a_late_server_starts() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let waiting = tokio::spawn(async move {
        wait_ready(
            || RedisConn::connect_tcp(&addr, None, TIMEOUT),
            Duration::from_secs(20),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "nothing is listening yet");
    let server = tokio::task::spawn_blocking(move || RedisServer::start_on(port, &[]))
        .await
        .unwrap();
    let mut conn = bounded(waiting).await.unwrap().unwrap();
    assert_eq!(conn.dbsize().await.unwrap(), 0);
    drop(server);
}

#[tokio::test]
async fn wait_ready_gives_up_at_the_deadline_naming_the_last_error() {
    let addr = format!("127.0.0.1:{}", free_port());
    let err = bounded(wait_ready(
        || RedisConn::connect_tcp(&addr, None, TIMEOUT),
        Duration::from_millis(800),
    ))
    .await
    .unwrap_err();
    let RedisError::ReadyTimeout { after, last } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*after, Duration::from_millis(800));
    assert!(
        matches!(last.as_deref(), Some(RedisError::Connect { .. })),
        "{last:?}"
    );
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(
        source,
        Some(format!("could not connect to redis at {addr}"))
    );
}

#[tokio::test]
async fn wait_ready_stops_at_once_on_a_wrong_password() {
    let server = RedisServer::start(&["--requirepass", "right"]);
    let addr = server.addr();
    let err = bounded(wait_ready(
        || RedisConn::connect_tcp(&addr, Some(Auth::password("wrong")), TIMEOUT),
        Duration::from_secs(600),
    ))
    .await
    .unwrap_err();
    assert_eq!(err.server_code(), Some("WRONGPASS"), "{err}");
}

#[tokio::test]
async fn the_raw_stream_can_be_taken_back_after_the_handshake() {
    let server = RedisServer::start(&["--requirepass", "pw"]);
    let conn = server.connect(Some(Auth::password("pw"))).await.unwrap();
    let (mut stream, unread) = conn.into_parts();
    assert!(unread.is_empty());
    // Still authenticated: the same session continues on the raw stream.
    stream.write_all(b"DBSIZE\r\n").await.unwrap();
    let mut answer = [0u8; 4];
    bounded(stream.read_exact(&mut answer)).await.unwrap();
    assert_eq!(&answer, b":0\r\n");
}

#[tokio::test]
async fn a_sentinel_names_the_primary_it_monitors() {
    let primary = RedisServer::start(&[]);
    let sentinel = RedisServer::start_sentinel(primary.port);
    let mut conn = sentinel.connect(None).await.unwrap();
    assert_eq!(
        conn.sentinel_primary_addr("mymaster").await.unwrap(),
        Some(("127.0.0.1".to_owned(), primary.port))
    );
    assert_eq!(conn.sentinel_primary_addr("nosuch").await.unwrap(), None);
    assert_eq!(
        conn.role().await.unwrap(),
        Role::Sentinel {
            primaries: vec!["mymaster".into()]
        }
    );
    let seen = conn.sentinel_primary("mymaster").await.unwrap();
    assert_eq!(seen.name(), Some("mymaster"));
    assert_eq!(seen.port(), Some(primary.port));
    assert_eq!(seen.quorum(), Some(1));
    assert_eq!(seen.num_other_sentinels(), Some(0));
    assert!(conn.sentinel_replicas("mymaster").await.unwrap().is_empty());
    assert!(conn
        .sentinel_sentinels("mymaster")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_sentinel_waited_for_until_it_sees_its_primary_up_passes_the_quorum_check() {
    let primary = RedisServer::start(&[]);
    let sentinel = RedisServer::start_sentinel(primary.port);
    let addr = sentinel.addr();
    let message = bounded(wait_until(
        || async {
            let mut conn = RedisConn::connect_tcp(&addr, None, TIMEOUT).await?;
            let seen = conn.sentinel_primary("mymaster").await?;
            if !seen.flags().contains(&"master") || seen.is_down() {
                return Err(RedisError::NotReady {
                    reason: format!("primary flags {:?}", seen.flags()),
                });
            }
            conn.sentinel_ckquorum("mymaster").await
        },
        Duration::from_secs(20),
    ))
    .await
    .unwrap();
    assert!(message.starts_with("OK 1 usable Sentinels"), "{message}");
}

#[tokio::test]
async fn a_quorum_check_for_an_unknown_primary_is_a_server_error() {
    let primary = RedisServer::start(&[]);
    let sentinel = RedisServer::start_sentinel(primary.port);
    let mut conn = sentinel.connect(None).await.unwrap();
    let err = conn.sentinel_ckquorum("nosuch").await.unwrap_err();
    assert_eq!(err.server_code(), Some("ERR"), "{err}");
    assert!(
        err.to_string()
            .starts_with("redis refused SENTINEL CKQUORUM: "),
        "{err}"
    );
    let err = conn.sentinel_primary("nosuch").await.unwrap_err();
    assert!(matches!(err, RedisError::Server { .. }), "{err}");
}

#[tokio::test]
async fn sentinel_set_changes_tunables_live() {
    let primary = RedisServer::start(&[]);
    let sentinel = RedisServer::start_sentinel(primary.port);
    let mut conn = sentinel.connect(None).await.unwrap();
    conn.sentinel_set(
        "mymaster",
        &[
            ("down-after-milliseconds", "3000"),
            ("failover-timeout", "60000"),
            ("parallel-syncs", "2"),
        ],
    )
    .await
    .unwrap();
    let seen = conn.sentinel_primary("mymaster").await.unwrap();
    assert_eq!(seen.get("down-after-milliseconds"), Some("3000"));
    assert_eq!(seen.get("failover-timeout"), Some("60000"));
    assert_eq!(seen.get("parallel-syncs"), Some("2"));
    let err = conn
        .sentinel_set("mymaster", &[("no-such-option", "1")])
        .await
        .unwrap_err();
    assert!(matches!(err, RedisError::Server { .. }), "{err}");
}
