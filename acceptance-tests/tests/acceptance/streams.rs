//! `redis_deployment.streams` against the test bed: the groups exist after apply; a group
//! deleted out of band is drift the plan names and the next apply restores, the entries
//! and the other groups' positions untouched; removing a group or stream from the
//! configuration leaves it in Redis unless `delete_on_remove` asks otherwise.

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::resp::Reply;
use acceptance_tests::{admin, client_conn, flat, PodRedis, TestNamespace};

fn deployment(ns: &str, streams: &str) -> String {
    format!(
        r#"resource "redis_deployment" "queue" {{
  name        = "queue"
  namespace   = "{ns}"
  persistence = {{ enabled = false }}
  streams     = [{streams}]
}}
"#
    )
}

/// The stream `raibid:jobs` (db 0) with `jobs_body`, and `events` (db 1) with its group.
fn two_streams(ns: &str, jobs_body: &str) -> String {
    deployment(
        ns,
        &format!(
            r#"
    {{ name = "raibid:jobs", {jobs_body} }},
    {{ name = "events", db = 1, groups = ["audit"], maxlen = 1000 }},
  "#
        ),
    )
}

/// The group names of `stream` in database `db`, sorted (none when the key is gone).
async fn groups(conn: &mut PodRedis, db: u32, stream: &str) -> Vec<String> {
    conn.call(&["SELECT", &db.to_string()]).await.unwrap();
    let reply = match conn.call(&["XINFO", "GROUPS", stream]).await {
        Ok(r) => r,
        Err(e) if e.to_string().contains("no such key") => return Vec::new(),
        Err(e) => panic!("XINFO GROUPS {stream}: {e}"),
    };
    let Reply::Array(items) = reply else {
        panic!("XINFO GROUPS {stream}: {reply:?}")
    };
    let mut names: Vec<String> = items
        .iter()
        .filter_map(|g| match g {
            Reply::Array(fields) => fields
                .chunks(2)
                .find(|p| p[0] == Reply::Text("name".into()))
                .and_then(|p| p[1].text().ok().map(str::to_owned)),
            _ => None,
        })
        .collect();
    names.sort();
    names
}

/// A field of group `group` of `stream` (database 0) as XINFO GROUPS reports it.
async fn group_field(conn: &mut PodRedis, stream: &str, group: &str, field: &str) -> Reply {
    conn.call(&["SELECT", "0"]).await.unwrap();
    let Reply::Array(items) = conn.call(&["XINFO", "GROUPS", stream]).await.unwrap() else {
        panic!("XINFO GROUPS {stream}")
    };
    for g in items {
        let Reply::Array(fields) = g else { continue };
        let get = |name: &str| {
            fields
                .chunks(2)
                .find(|p| p[0] == Reply::Text(name.into()))
                .map(|p| p[1].clone())
        };
        if get("name") == Some(Reply::Text(group.into())) {
            return get(field).unwrap_or_else(|| panic!("no {field} in {fields:?}"));
        }
    }
    panic!("no group {group} on {stream}")
}

async fn xlen(conn: &mut PodRedis, db: u32, stream: &str) -> Reply {
    conn.call(&["SELECT", &db.to_string()]).await.unwrap();
    conn.call(&["XLEN", stream]).await.unwrap()
}

#[tokio::test]
async fn stream_groups_are_created_restored_after_an_out_of_band_delete_and_never_dropped_unasked()
{
    let client = admin().await;
    let ns = TestNamespace::create(&client, "streams").await.unwrap();
    let w = Workdir::new(
        Tool::Terraform,
        &two_streams(&ns.name, r#"groups = ["raibid-workers", "audit"]"#),
    );
    w.apply();
    w.assert_plan_empty();
    let mut conn = client_conn(&client, &ns.name, "queue", "queue-0")
        .await
        .unwrap();
    assert_eq!(
        groups(&mut conn, 0, "raibid:jobs").await,
        ["audit", "raibid-workers"]
    );
    assert_eq!(groups(&mut conn, 1, "events").await, ["audit"]);

    // Jobs queued, one of them read by a worker: the group's position moves.
    conn.call(&["SELECT", "0"]).await.unwrap();
    for i in 0..3 {
        conn.call(&["XADD", "raibid:jobs", "*", "job_id", &i.to_string()])
            .await
            .unwrap();
    }
    conn.call(&[
        "XREADGROUP",
        "GROUP",
        "raibid-workers",
        "w1",
        "COUNT",
        "1",
        "STREAMS",
        "raibid:jobs",
        ">",
    ])
    .await
    .unwrap();
    let position = group_field(
        &mut conn,
        "raibid:jobs",
        "raibid-workers",
        "last-delivered-id",
    )
    .await;

    // A group deleted behind Terraform's back: the plan names it, the apply restores it.
    conn.call(&["XGROUP", "DESTROY", "raibid:jobs", "audit"])
        .await
        .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "the plan restores the group: {plan}");
    assert!(
        plan.contains("+ \"audit\""),
        "the plan names the group: {plan}"
    );
    assert!(plan.contains("1 to change"), "{plan}");
    w.apply();
    w.assert_plan_empty();
    assert_eq!(
        groups(&mut conn, 0, "raibid:jobs").await,
        ["audit", "raibid-workers"]
    );
    // The entries and the workers' position and pending entry are untouched.
    assert_eq!(xlen(&mut conn, 0, "raibid:jobs").await, Reply::Int(3));
    assert_eq!(
        group_field(
            &mut conn,
            "raibid:jobs",
            "raibid-workers",
            "last-delivered-id"
        )
        .await,
        position
    );
    assert_eq!(
        group_field(&mut conn, "raibid:jobs", "raibid-workers", "pending").await,
        Reply::Int(1)
    );

    // Removed from the configuration: a group and a whole stream stay in Redis, and the
    // plan says so.
    w.write(&deployment(
        &ns.name,
        r#"{ name = "raibid:jobs", groups = ["raibid-workers"] }"#,
    ));
    let plan = flat(&w.ok(&["plan", "-input=false", "-no-color"]));
    assert!(plan.contains("Removed streams stay in Redis"), "{plan}");
    assert!(
        plan.contains(r#"group "audit" of stream "raibid:jobs""#)
            && plan.contains(r#"stream "events" (db 1)"#),
        "{plan}"
    );
    w.apply();
    w.assert_plan_empty();
    assert_eq!(
        groups(&mut conn, 0, "raibid:jobs").await,
        ["audit", "raibid-workers"]
    );
    assert_eq!(groups(&mut conn, 1, "events").await, ["audit"]);

    // Asked for: with delete_on_remove, a group removed is destroyed; the entries stay.
    w.write(&deployment(
        &ns.name,
        r#"{ name = "raibid:jobs", groups = ["audit"], delete_on_remove = true }"#,
    ));
    let plan = flat(&w.ok(&["plan", "-input=false", "-no-color"]));
    assert!(plan.contains("Streams data will be deleted"), "{plan}");
    w.apply();
    w.assert_plan_empty();
    assert_eq!(groups(&mut conn, 0, "raibid:jobs").await, ["audit"]);
    assert_eq!(xlen(&mut conn, 0, "raibid:jobs").await, Reply::Int(3));
}
