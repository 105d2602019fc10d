//! The schema of `redis_backup`: inputs that take a new snapshot when they change, the
//! facts of the snapshot taken, and timeouts.

use crate::store::SCHEMES;
use crate::tf::{plan, timeouts, validate, Attribute, Block, Schema, Type};

use super::SCHEMA_VERSION;

fn computed(attr: Attribute) -> Attribute {
    attr.computed().plan_modifier(plan::use_state_for_unknown())
}

/// The resource's schema.
pub fn schema() -> Schema {
    Schema::new(
        Block::new(
            "A verified RDB snapshot of a `redis_deployment`, taken through the replication \
             protocol (as `redis-cli --rdb` does, no exec into pods) as the deployment's \
             least-privileged `backup` user, and streamed to a file or an object store. The \
             snapshot is verified on the way (every record and its CRC-64 trailer) and becomes \
             visible at the destination only once verified; a snapshot that fails leaves \
             nothing behind. Every backup is a new object, never overwritten: \
             `<destination>/<namespace>/<deployment>/<UTC time>-<random>.rdb` (`.rdb.zst` \
             compressed), with a manifest `<object>.json` next to it holding the facts below. \
             Refresh reads the object's size and version tag and the manifest (never the \
             object): an object gone removes the backup from state, a changed one is replaced \
             on the next apply. Default timeouts: create 30m, update 10m, delete 5m.",
        )
        .attribute(
            Attribute::string("deployment_id")
                .required()
                .description("The `id` of the `redis_deployment` to back up (`<namespace>/<name>`). Changing it takes a new snapshot.")
                .plan_modifier(plan::requires_replace()),
        )
        .attribute(
            Attribute::string("destination")
                .required()
                .description(format!(
                    "Where the snapshot goes: {SCHEMES}. `file://` is a directory on the machine \
                     running Terraform (created if missing). Stores are reached with the provider's \
                     `backup_store` settings, else the standard environment variables (`AWS_*`, \
                     `GOOGLE_*`, `AZURE_*`). Changing it takes a new snapshot (a trailing `/` \
                     alone changes nothing)."
                ))
                .plan_modifier(plan::requires_replace_if(
                    "changing this value replaces the resource, unless it names the same place",
                    |req| super::changes::other_place(req.state, req.plan),
                )),
        )
        .attribute(
            Attribute::string("compression")
                .optional()
                .description("`none` (default) or `zstd` (the object is a zstd frame, `.rdb.zst`). `sha256` is of the RDB file either way. Changing it takes a new snapshot.")
                .validator(validate::one_of(&["none", "zstd"]))
                .plan_modifier(plan::requires_replace()),
        )
        .attribute(
            Attribute::map("triggers", Type::String)
                .optional()
                .description("Arbitrary values; any change takes a new snapshot (like `replace_triggered_by`), e.g. `{ release = var.release }` for a backup before each release.")
                .plan_modifier(plan::requires_replace()),
        )
        .attribute(
            Attribute::string("source")
                .optional()
                .description("Which server the snapshot is taken from: `replica` or `primary`. Default: a replica in sync when the deployment has one (the primary does not fork for it), else the primary. Changing it takes a new snapshot.")
                .validator(validate::one_of(&["primary", "replica"]))
                .plan_modifier(plan::requires_replace()),
        )
        .attribute(
            Attribute::bool("retain_on_destroy")
                .optional()
                .description("Keep the object (and its manifest) when the resource is destroyed, and the `schedule`'s claim with its snapshots (also across a replacement: the new backup's schedule takes the claim over). Default false: destroy deletes them."),
        )
        .attribute(computed(Attribute::string("id").description("The object's URL.")))
        .attribute(computed(Attribute::string("url").description("The object's URL, for `redis_deployment.restore_from.url`.")))
        .attribute(computed(Attribute::number("size_bytes").description("Size of the object as stored (compressed when compressed).")))
        .attribute(computed(Attribute::string("sha256").description("Hex SHA-256 of the RDB file (before compression), for `redis_deployment.restore_from.sha256`.")))
        .attribute(computed(Attribute::number("rdb_version").description("RDB format version of the file (Redis 7.2 and Valkey 8: 11, Redis 7.4: 12).")))
        .attribute(computed(Attribute::string("redis_version").description("Version of the server the snapshot was taken from (INFO).")))
        .attribute(computed(Attribute::number("keys").description("Keys in the snapshot, all databases together, as the verifier counted them.")))
        .attribute(computed(Attribute::string("taken_at").description("When the snapshot was taken (RFC 3339, UTC).")))
        .attribute(computed(Attribute::string("source_pod").description("The pod the snapshot was taken from (`<namespace>/<pod>`).")))
        .attribute(super::schedule::attribute())
        .attribute(super::schedule::image_attribute())
        .attribute(super::schedule::last_run_attribute())
        .block(timeouts::block(&["create", "update", "delete"])),
    )
    .version(SCHEMA_VERSION)
}
