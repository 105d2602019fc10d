//! The ACL files and the exporter's settings against the real servers the test bed
//! builds (Redis 7.2, Redis 7.4, Valkey 8) and the real redis_exporter, as processes on
//! loopback: every user runs what its list names and nothing else (NOPERM), whatever
//! command the server has; clients cannot lock the provider out; the exporter scrapes
//! with its small list and relays no password to another target.
//!
//! The binaries come from the test bed's tool cache (`acceptance-tests/testbed/testbed
//! build`, which acceptance-tests/run-all runs first).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use terraform_provider_redis::redis::acl::{self, Server};
use terraform_provider_redis::redis::files::{self, Passwords};
use terraform_provider_redis::redis::rdb;
use terraform_provider_redis::redis::replication::RdbStream;
use terraform_provider_redis::redis::{Auth, RedisConn, RedisError, Reply};
use tokio::net::TcpStream;
use tools::{free_port, tools, versions};

#[path = "support/tools.rs"]
mod tools;

const TIMEOUT: Duration = Duration::from_secs(5);
/// A user the tests add to the generated file to look at the server from above.
const ROOT: (&str, &str) = ("testroot", "testroot-pw");

/// The directory of a server build's binaries; panics naming how to build it.
fn server_dir(server: Server) -> PathBuf {
    let v = versions();
    let dir = match server {
        Server::Redis72 => format!("redis-{}", v["REDIS_72_VERSION"]),
        Server::Redis74 => format!("redis-{}", v["REDIS_74_VERSION"]),
        Server::Valkey8 => format!("valkey-{}", v["VALKEY_VERSION"]),
    };
    let dir = tools().join(dir);
    assert!(
        dir.join("redis-server").exists(),
        "{} is missing: run acceptance-tests/testbed/testbed build",
        dir.display()
    );
    dir
}

fn passwords() -> Passwords {
    Passwords {
        client: "client-pw".into(),
        client_previous: Vec::new(),
        admin: "admin-pw".into(),
        replication: "replication-pw".into(),
        exporter: "exporter-pw".into(),
        sentinel: "sentinel-pw".into(),
        backup: "backup-pw".into(),
    }
}

/// A server started on the ACL file our start script would pick for it, plus [`ROOT`];
/// killed when dropped.
struct Running {
    server: Server,
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Running {
    fn start(server: Server, allow: &[String], disable: &[String]) -> Running {
        let bin = server_dir(server);
        // The file the start script's own `case` picks from this binary's --version.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{}printf %s \"$acl\"", files::acl_choice()))
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        let chosen = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            chosen,
            server.acl_file(),
            "the start script's choice for {server:?}"
        );

        let dir = tempfile::tempdir().unwrap();
        let mut text = files::users_acl(server, allow, disable, &passwords());
        text.push_str(&format!("user {} on >{} ~* &* +@all\n", ROOT.0, ROOT.1));
        let acl_path = dir.path().join(&chosen);
        std::fs::write(&acl_path, text).unwrap();
        let acl_arg = acl_path.to_string_lossy().into_owned();
        let (child, port) = tools::spawn_server(
            &bin.join("redis-server"),
            dir.path(),
            &[
                "--save",
                "",
                "--appendonly",
                "no",
                // Open, so that the ACL is what closes them.
                "--enable-debug-command",
                "yes",
                "--enable-module-command",
                "yes",
                "--aclfile",
                &acl_arg,
            ],
        );
        Running {
            server,
            child,
            port,
            dir,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn connect(&self, user: &str, password: &str) -> RedisConn<TcpStream> {
        RedisConn::connect_tcp(&self.addr(), Some(Auth::user(user, password)), TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{:?}: {user} cannot log in: {e}", self.server))
    }

    async fn root(&self) -> RedisConn<TcpStream> {
        self.connect(ROOT.0, ROOT.1).await
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every user of the file with its password and what it may run on `server`.
fn users(server: Server) -> Vec<(&'static str, String, BTreeSet<String>)> {
    let p = passwords();
    let list = |l: &[&str]| -> BTreeSet<String> {
        l.iter()
            .filter(|c| server.has(c))
            .map(|c| c.to_string())
            .collect()
    };
    vec![
        (acl::CLIENT_USER, p.client, list(acl::CLIENT_COMMANDS)),
        (
            acl::ADMIN_USER,
            p.admin,
            list(&[acl::ADMIN_COMMANDS, acl::ADMIN_STREAM_COMMANDS].concat()),
        ),
        (
            acl::REPLICATION_USER,
            p.replication,
            list(acl::REPLICATION_COMMANDS),
        ),
        (
            acl::PROBE_USER,
            "anything".into(),
            list(acl::PROBE_COMMANDS),
        ),
        (acl::EXPORTER_USER, p.exporter, list(acl::EXPORTER_COMMANDS)),
        (acl::BACKUP_USER, p.backup, list(acl::BACKUP_COMMANDS)),
        (acl::SENTINEL_USER, p.sentinel, list(acl::SENTINEL_COMMANDS)),
    ]
}

/// `args` as `user` sends them: the Sentinels publish and subscribe on their hello
/// channel only, so their Pub/Sub commands name it (any other channel is refused, see
/// `the_sentinel_user_publishes_and_subscribes_on_the_hello_channel_only`).
fn on_users_channel(user: &str, mut args: Vec<String>) -> Vec<String> {
    let pubsub = [
        "PUBLISH",
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SPUBLISH",
        "SSUBSCRIBE",
    ];
    if user == acl::SENTINEL_USER && pubsub.contains(&args[0].as_str()) && args.len() > 1 {
        args[1] = acl::SENTINEL_CHANNEL.into();
    }
    args
}

/// Every command the running server has, as (`name` or `container|sub`, arity); bare
/// containers are left out (they answer only with a subcommand).
async fn server_commands(conn: &mut RedisConn<TcpStream>) -> Vec<(String, i64)> {
    let Reply::Array(infos) = conn.command(&["COMMAND", "INFO"]).await.unwrap() else {
        panic!("COMMAND INFO is not an array")
    };
    let mut out = Vec::new();
    for info in infos {
        let Reply::Array(fields) = info else { continue };
        let name = fields[0].as_text().unwrap().to_ascii_lowercase();
        let arity = fields[1].as_integer().unwrap();
        match fields.get(9) {
            Some(Reply::Array(subs)) if !subs.is_empty() => {
                for sub in subs {
                    let Reply::Array(sf) = sub else { continue };
                    out.push((
                        sf[0].as_text().unwrap().to_ascii_lowercase(),
                        sf[1].as_integer().unwrap(),
                    ));
                }
                if name == "command" {
                    out.push((name, arity));
                }
            }
            _ => out.push((name, arity)),
        }
    }
    out
}

/// The command line for `name` with just enough (dummy) arguments for its arity.
fn call_args(name: &str, arity: i64) -> Vec<String> {
    let mut args: Vec<String> = name.split('|').map(|s| s.to_ascii_uppercase()).collect();
    while (args.len() as i64) < arity.abs() {
        args.push("0".into());
    }
    args
}

/// Whether `user` may run `name` per the lists (a container allowed whole counts).
fn listed(allowed: &BTreeSet<String>, name: &str) -> bool {
    allowed.contains(name)
        || name
            .split_once('|')
            .is_some_and(|(c, _)| allowed.contains(c))
}

async fn every_user_runs_exactly_its_commands_on(server: Server) {
    let running = Running::start(server, &[], &[]);
    let mut root = running.root().await;
    let commands = server_commands(&mut root).await;
    assert!(
        commands.len() > 300,
        "{server:?}: only {} commands",
        commands.len()
    );
    let mut wrong = Vec::new();
    for (user, password, allowed) in users(server) {
        let mut conn = running.connect(user, &password).await;
        for (name, arity) in &commands {
            let args = on_users_channel(user, call_args(name, *arity));
            if acl::UNRESTRICTED.contains(&name.as_str()) {
                continue;
            }
            if listed(&allowed, name) {
                // Allowed: the server's own dry run says so (running it could block).
                let mut dry = vec!["ACL".to_string(), "DRYRUN".into(), user.into()];
                dry.extend(args.clone());
                match root.command(&dry).await {
                    Ok(r) if r.is_ok() => {}
                    other => wrong.push(format!("{user} may not run {name}: {other:?}")),
                }
            } else {
                match conn.command(&args).await {
                    // EXEC's refusals come as EXECABORT with the reason.
                    Err(RedisError::Server { message, .. })
                        if message.starts_with("NOPERM")
                            || (message.starts_with("EXECABORT") && message.contains("NOPERM")) => {
                    }
                    other => {
                        wrong.push(format!("{user} ran {name} without NOPERM: {other:?}"));
                        conn = running.connect(user, &password).await;
                    }
                }
            }
        }
    }
    // Redis lets everyone authenticate, end or reset a connection: no ACL closes them.
    for name in acl::UNRESTRICTED {
        let mut probe = running.connect(acl::PROBE_USER, "x").await;
        let args = match *name {
            "auth" => vec!["AUTH", "probe", "x"],
            "hello" => vec!["HELLO", "2"],
            "quit" => vec!["QUIT"],
            _ => vec!["RESET"],
        };
        if let Err(RedisError::Server { message, .. }) = probe.command(&args).await {
            assert!(
                !message.starts_with("NOPERM"),
                "{server:?}: {name} refused: {message}"
            );
        }
    }
    assert!(wrong.is_empty(), "{server:?}:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn every_user_runs_exactly_its_commands_on_redis_7_2() {
    every_user_runs_exactly_its_commands_on(Server::Redis72).await;
}

#[tokio::test]
async fn every_user_runs_exactly_its_commands_on_redis_7_4() {
    every_user_runs_exactly_its_commands_on(Server::Redis74).await;
}

#[tokio::test]
async fn every_user_runs_exactly_its_commands_on_valkey_8() {
    every_user_runs_exactly_its_commands_on(Server::Valkey8).await;
}

#[tokio::test]
async fn the_sentinel_user_publishes_and_subscribes_on_the_hello_channel_only() {
    for server in Server::ALL {
        let running = Running::start(server, &[], &[]);
        let mut sentinel = running.connect(acl::SENTINEL_USER, "sentinel-pw").await;
        let hello = sentinel
            .command(&["PUBLISH", acl::SENTINEL_CHANNEL, "hello"])
            .await;
        assert!(
            matches!(hello, Ok(Reply::Integer(_))),
            "{server:?}: {hello:?}"
        );
        for attempt in [
            vec!["PUBLISH", "app:events", "x"],
            vec!["SUBSCRIBE", "app:events"],
            vec!["PSUBSCRIBE", "__sentinel__:*"],
        ] {
            let got = text(sentinel.command(&attempt).await);
            assert!(got.contains("NOPERM"), "{server:?}: {attempt:?}: {got}");
        }
        // Subscribed to the hello channel, it receives what another Sentinel publishes.
        let mut listening = running.connect(acl::SENTINEL_USER, "sentinel-pw").await;
        let subscribed = listening
            .command(&["SUBSCRIBE", acl::SENTINEL_CHANNEL])
            .await
            .unwrap_or_else(|e| panic!("{server:?}: SUBSCRIBE: {e}"));
        let Reply::Array(confirmed) = &subscribed else {
            panic!("{server:?}: SUBSCRIBE answered {subscribed:?}");
        };
        assert_eq!(
            confirmed[0].as_text().as_deref(),
            Some("subscribe"),
            "{server:?}"
        );
        let mut root = running.root().await;
        let receivers = root
            .command(&["PUBLISH", acl::SENTINEL_CHANNEL, "10.0.0.1,26379,id,0"])
            .await
            .unwrap();
        assert_eq!(receivers.as_integer(), Some(1), "{server:?}");
    }
}

fn text(r: Result<Reply, RedisError>) -> String {
    match r {
        Ok(r) => r.as_text().unwrap_or_else(|| format!("{r:?}")),
        Err(e) => format!("{e}"),
    }
}

#[tokio::test]
async fn clients_do_their_data_work_but_cannot_lock_the_provider_out() {
    for server in Server::ALL {
        let running = Running::start(server, &[], &[]);
        let mut c = running.connect("default", "client-pw").await;
        for cmd in [
            vec!["SET", "k", "v"],
            vec!["HSET", "h", "f", "1"],
            vec!["XADD", "s", "*", "f", "1"],
            vec!["CLIENT", "SETNAME", "app"],
            vec!["EVAL", "return redis.call('GET', KEYS[1])", "1", "k"],
            vec!["MULTI"],
            vec!["INCR", "n"],
            vec!["EXEC"],
            vec!["PUBLISH", "ch", "hi"],
            vec!["SELECT", "0"],
        ] {
            c.command(&cmd)
                .await
                .unwrap_or_else(|e| panic!("{server:?} {cmd:?}: {e}"));
        }
        assert_eq!(text(c.command(&["GET", "k"]).await), "v");
        assert_eq!(text(c.command(&["CLIENT", "GETNAME"]).await), "app");
        assert!(text(c.command(&["INFO", "server"]).await).contains("redis_version"));
        assert!(matches!(
            c.command(&["ROLE"]).await.unwrap(),
            Reply::Array(_)
        ));
        assert_eq!(text(c.command(&["ACL", "WHOAMI"]).await), "default");
        if server == Server::Redis74 {
            c.command(&["HEXPIRE", "h", "100", "FIELDS", "1", "f"])
                .await
                .unwrap();
        }
        for attempt in [
            vec!["ACL", "SETUSER", "terraform", "off"],
            vec!["ACL", "SETUSER", "terraform", "resetpass", ">mine"],
            vec!["ACL", "DELUSER", "terraform"],
            vec!["ACL", "SETUSER", "default", "+@all"],
            vec!["ACL", "SETUSER", "probe", "+@all"],
            vec!["ACL", "LOAD"],
            vec!["CONFIG", "SET", "dir", "/tmp"],
            vec!["CONFIG", "GET", "masterauth"],
            vec!["SHUTDOWN", "NOSAVE"],
            vec!["REPLICAOF", "127.0.0.1", "1"],
            vec!["CLIENT", "KILL", "USER", "terraform"],
            vec!["CLIENT", "LIST"],
            vec!["MONITOR"],
        ] {
            let got = text(c.command(&attempt).await);
            assert!(got.contains("NOPERM"), "{server:?} {attempt:?}: {got}");
        }
        let mut admin = running.connect("terraform", "admin-pw").await;
        admin.ping().await.unwrap();
        admin.config_set(&[("maxmemory", "10mb")]).await.unwrap();
    }
}

/// A snapshot as `redis_backup` takes one, through SYNC as the backup user, drained
/// through the RDB verifier.
async fn snapshot_as_backup_user(running: &Running) -> rdb::Summary {
    let conn = running.connect(acl::BACKUP_USER, "backup-pw").await;
    let mut stream = RdbStream::start(conn, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{:?}: SYNC as backup: {e}", running.server));
    let mut verifier = rdb::StreamVerifier::start();
    while let Some(chunk) = stream.next().await.unwrap() {
        verifier.feed(chunk).await.unwrap();
    }
    verifier.finish().await.unwrap()
}

#[tokio::test]
async fn the_backup_user_takes_a_verified_snapshot_in_both_forms_and_reads_nothing_else() {
    for server in Server::ALL {
        let running = Running::start(server, &[], &[]);
        let mut root = running.root().await;
        root.command(&["CONFIG", "SET", "repl-diskless-sync-delay", "0"])
            .await
            .unwrap();
        for (db, key) in [("0", "a"), ("0", "b"), ("5", "c")] {
            root.command(&["SELECT", db]).await.unwrap();
            root.command(&["SET", key, "v"]).await.unwrap();
        }
        // Diskless (`$EOF:<mark>`), then from a file on disk (`$<len>`).
        for diskless in ["yes", "no"] {
            root.command(&["CONFIG", "SET", "repl-diskless-sync", diskless])
                .await
                .unwrap();
            let summary = snapshot_as_backup_user(&running).await;
            assert_eq!(summary.keys, 3, "{server:?} diskless {diskless}");
            assert_eq!(summary.keys_per_db.get(&5), Some(&1), "{server:?}");
            assert!(summary.checksum.is_some(), "{server:?}");
        }
        let mut backup = running.connect(acl::BACKUP_USER, "backup-pw").await;
        for attempt in [
            vec!["GET", "a"],
            vec!["CONFIG", "GET", "masterauth"],
            vec!["PSYNC", "?", "-1"],
            vec!["FLUSHALL"],
            vec!["REPLICAOF", "127.0.0.1", "1"],
        ] {
            let got = text(backup.command(&attempt).await);
            assert!(got.contains("NOPERM"), "{server:?} {attempt:?}: {got}");
        }
        // Another user's SYNC is refused with a typed error, before any byte of data.
        let client = running.connect("default", "client-pw").await;
        let refused = RdbStream::start(client, Duration::from_secs(5)).await;
        assert!(
            matches!(&refused, Err(e) if e.is_permission()),
            "{server:?}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn the_provider_restores_keys_and_functions_but_reads_no_key() {
    for server in Server::ALL {
        let running = Running::start(server, &[], &[]);
        let mut root = running.root().await;
        root.command(&["SELECT", "3"]).await.unwrap();
        root.command(&["SET", "k", "v"]).await.unwrap();
        let lib = "#!lua name=restored\nredis.register_function('one', function() return 1 end)";
        root.command(&["FUNCTION", "LOAD", lib]).await.unwrap();
        let (Reply::Bulk(key), Reply::Bulk(functions)) = (
            root.command(&["DUMP", "k"]).await.unwrap(),
            root.command(&["FUNCTION", "DUMP"]).await.unwrap(),
        ) else {
            panic!("{server:?}: DUMP and FUNCTION DUMP answer bulk strings")
        };
        root.command(&["FLUSHALL"]).await.unwrap();
        root.command(&["FUNCTION", "FLUSH"]).await.unwrap();

        let mut admin = running.connect("terraform", "admin-pw").await;
        admin.command(&["SELECT", "3"]).await.unwrap();
        let at = b"4102444800000".as_slice(); // 2100-01-01, as an absolute time
        admin
            .command(&[b"RESTORE".as_slice(), b"k", at, &key, b"REPLACE", b"ABSTTL"])
            .await
            .unwrap_or_else(|e| panic!("{server:?}: RESTORE: {e}"));
        admin
            .command(&[b"FUNCTION".as_slice(), b"RESTORE", &functions, b"REPLACE"])
            .await
            .unwrap_or_else(|e| panic!("{server:?}: FUNCTION RESTORE: {e}"));
        assert_eq!(text(root.command(&["GET", "k"]).await), "v", "{server:?}");
        assert!(
            matches!(
                root.command(&["FCALL", "one", "0"]).await,
                Ok(Reply::Integer(1))
            ),
            "{server:?}: the library is back"
        );
        for read in [
            vec!["GET", "k"],
            vec!["DUMP", "k"],
            vec!["SCAN", "0"],
            vec!["KEYS", "*"],
            vec!["FUNCTION", "DUMP"],
            vec!["FLUSHALL"],
            vec!["FLUSHDB"],
        ] {
            // DEL is granted (streams' delete_on_remove deletes a stream); reading is not.
            let got = text(admin.command(&read).await);
            assert!(got.contains("NOPERM"), "{server:?} {read:?}: {got}");
        }
    }
}

#[tokio::test]
async fn disable_commands_take_commands_out_and_allow_commands_add_them() {
    let disable = vec![
        "FLUSHALL".to_string(),
        "XGROUP".into(),
        "command|docs".into(),
    ];
    let allow = vec!["CLIENT|LIST".to_string(), "SLOWLOG".into()];
    for server in Server::ALL {
        let running = Running::start(server, &allow, &disable);
        let mut c = running.connect("default", "client-pw").await;
        for refused in [
            vec!["FLUSHALL"],
            vec!["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            vec!["COMMAND", "DOCS", "get"],
        ] {
            let got = text(c.command(&refused).await);
            assert!(got.contains("NOPERM"), "{server:?} {refused:?}: {got}");
        }
        for ok in [
            vec!["FLUSHDB"],
            vec!["CLIENT", "LIST"],
            vec!["SLOWLOG", "GET"],
            vec!["COMMAND", "COUNT"],
            vec!["COMMAND"],
        ] {
            c.command(&ok)
                .await
                .unwrap_or_else(|e| panic!("{server:?} {ok:?}: {e}"));
        }
    }
}

/// `GET path` on 127.0.0.1:`port`: (status code, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_exporter_scrapes_with_its_list_only_and_relays_no_password() {
    let exporter = tools()
        .join(format!(
            "redis_exporter-{}",
            versions()["REDIS_EXPORTER_VERSION"]
        ))
        .join("redis_exporter");
    assert!(
        exporter.exists(),
        "{} is missing: run testbed build",
        exporter.display()
    );
    for server in Server::ALL {
        let running = Running::start(server, &[], &[]);
        let mut root = running.root().await;
        let pw_file = running.dir.path().join("exporter.json");
        std::fs::write(
            &pw_file,
            files::exporter_password_file(running.port, &passwords().exporter),
        )
        .unwrap();
        let web = free_port();
        // A listener standing for any other Redis a /scrape request could name.
        let foreign = TcpListener::bind("127.0.0.1:0").unwrap();
        foreign.set_nonblocking(true).unwrap();
        let foreign_port = foreign.local_addr().unwrap().port();

        let mut cmd = Command::new(&exporter);
        cmd.env_clear()
            .envs(files::exporter_env(
                running.port,
                &pw_file.display().to_string(),
            ))
            .env(
                "REDIS_EXPORTER_WEB_LISTEN_ADDRESS",
                format!("127.0.0.1:{web}"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _exporter = Killed(cmd.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        let metrics = loop {
            if std::net::TcpStream::connect(("127.0.0.1", web)).is_ok() {
                let (status, body) = http_get(web, "/metrics");
                if status == 200 && body.lines().any(|l| l == "redis_up 1") {
                    break body;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{server:?}: the exporter never scraped redis_up 1"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        for metric in [
            "redis_memory_max_bytes",
            "redis_connected_clients",
            "redis_slowlog_length",
            "redis_instance_info",
        ] {
            assert!(
                metrics.lines().any(|l| l.starts_with(metric)),
                "{server:?}: no {metric}"
            );
        }
        // Nothing the exporter sent was refused.
        let Reply::Array(log) = root.command(&["ACL", "LOG"]).await.unwrap() else {
            panic!()
        };
        assert!(
            log.is_empty(),
            "{server:?}: the exporter was refused: {log:?}"
        );

        let (status, body) = http_get(
            web,
            &format!("/scrape?target=redis://127.0.0.1:{foreign_port}"),
        );
        assert_ne!(status, 200, "{server:?}: /scrape answered: {body}");
        let (status, _) = http_get(
            web,
            &format!("/scrape?target=redis://exporter@127.0.0.1:{foreign_port}"),
        );
        assert_ne!(status, 200);
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            foreign.accept().is_err(),
            "{server:?}: the exporter connected to the foreign target"
        );
    }
}

#[tokio::test]
async fn the_provider_bootstraps_stream_groups_idempotently_but_reads_no_entry() {
    use terraform_provider_redis::redis::streams;
    for server in Server::ALL {
        let running = Running::start(server, &[], &[]);
        let mut root = running.root().await;
        let mut admin = running.connect("terraform", "admin-pw").await;
        // A new stream and its group, in database 2; again: already there.
        assert!(streams::ensure_group(&mut admin, 2, "jobs", "workers", "$")
            .await
            .unwrap_or_else(|e| panic!("{server:?}: XGROUP CREATE: {e}")));
        assert!(
            !streams::ensure_group(&mut admin, 2, "jobs", "workers", "$")
                .await
                .unwrap()
        );
        assert_eq!(
            streams::groups(&mut admin, 2, "jobs").await.unwrap(),
            vec!["workers".to_string()],
            "{server:?}"
        );
        assert!(streams::groups(&mut admin, 2, "missing")
            .await
            .unwrap()
            .is_empty());
        root.command(&["SELECT", "2"]).await.unwrap();
        for i in 0..500 {
            root.command(&["XADD", "jobs", "*", "job", &i.to_string()])
                .await
                .unwrap();
        }
        // A group added to a stream with entries starts at its end; the entries stay.
        assert!(streams::ensure_group(&mut admin, 2, "jobs", "audit", "$")
            .await
            .unwrap());
        assert_eq!(
            root.command(&["XLEN", "jobs"]).await.unwrap().as_integer(),
            Some(500)
        );
        // Trimming is approximate (whole nodes) and never below maxlen.
        streams::trim(&mut admin, 2, "jobs", 100).await.unwrap();
        let len = root
            .command(&["XLEN", "jobs"])
            .await
            .unwrap()
            .as_integer()
            .unwrap();
        assert!(
            (100..500).contains(&len),
            "{server:?}: {len} entries after XTRIM ~ 100"
        );
        // The provider reads no entry, and no other key.
        root.command(&["SET", "secret", "v"]).await.unwrap();
        for read in [
            vec!["XRANGE", "jobs", "-", "+"],
            vec!["XREAD", "STREAMS", "jobs", "0"],
            vec!["XINFO", "STREAM", "jobs"],
            vec![
                "XREADGROUP",
                "GROUP",
                "workers",
                "c",
                "STREAMS",
                "jobs",
                ">",
            ],
            vec!["GET", "secret"],
        ] {
            let got = text(admin.command(&read).await);
            assert!(got.contains("NOPERM"), "{server:?} {read:?}: {got}");
        }
        // Removals, asked for: the group, then the stream; a key of another type stays.
        assert!(streams::destroy_group(&mut admin, 2, "jobs", "audit")
            .await
            .unwrap());
        assert!(!streams::destroy_group(&mut admin, 2, "jobs", "audit")
            .await
            .unwrap());
        assert!(streams::delete_stream(&mut admin, 2, "jobs").await.unwrap());
        assert!(!streams::delete_stream(&mut admin, 2, "jobs").await.unwrap());
        assert!(streams::delete_stream(&mut admin, 2, "secret")
            .await
            .is_err());
        assert_eq!(text(root.command(&["GET", "secret"]).await), "v");
    }
}
