//! Warnings told once per Terraform command, although Terraform asks for them several times.
//!
//! `terraform apply` starts one provider process per graph walk (validate, plan, apply) and
//! plans each resource twice: once in the plan walk, once more in the apply walk, and shows
//! the warnings of both. What the provider processes of one command share is the process
//! that started them (the `terraform` or `tofu` CLI), so a [`RunLedger`] notes each warning
//! told under that process, in a private directory named after it (its pid and start time,
//! so a later process with the same pid starts afresh). Where that cannot be known (no
//! `/proc`, a directory another user owns), every warning is told, as before.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What was told under one run of the CLI.
#[derive(Clone, Debug)]
pub struct RunLedger {
    dir: PathBuf,
}

/// The start time of process `pid` in clock ticks since boot (field 22 of its stat).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `dir` is ours alone: owned by this user, no access for anyone else.
fn private_to_us(dir: &Path) -> bool {
    let Ok(own) = fs::metadata("/proc/self") else {
        return false;
    };
    fs::symlink_metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == own.uid() && m.permissions().mode() & 0o077 == 0)
}

impl RunLedger {
    /// The ledger of the process that started this one, under the system's temp directory.
    pub fn of_parent_process() -> Option<Self> {
        Self::of_parent_process_in(&std::env::temp_dir())
    }

    /// The ledger of the process that started this one, under `base`.
    pub fn of_parent_process_in(base: &Path) -> Option<Self> {
        let parent = std::os::unix::process::parent_id();
        let started = start_time(parent)?;
        let uid = fs::metadata("/proc/self").ok()?.uid();
        let root = base.join(format!("terraform-provider-redis-{uid}"));
        let _ = DirBuilder::new().mode(0o700).create(&root);
        if !private_to_us(&root) {
            tracing::debug!(dir = %root.display(), "warnings ledger not private: telling every warning");
            return None;
        }
        forget_finished_runs(&root);
        let dir = root.join(format!("{parent}-{started}"));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(_) => return None,
        }
        private_to_us(&dir).then_some(Self { dir })
    }

    /// True the first time `key` is told under this run (and whenever the ledger cannot
    /// tell): another process of the same run creating the same note sees false.
    pub fn first_time(&self, key: &[u8]) -> bool {
        let name = hex(&Sha256::digest(key));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.dir.join(name))
        {
            Ok(_) => true,
            Err(e) => e.kind() != ErrorKind::AlreadyExists,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes the notes of runs whose CLI process has ended (or is another process now).
fn forget_finished_runs(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, started)) = name.to_str().and_then(|n| n.split_once('-')) else {
            continue;
        };
        let (Ok(pid), Ok(started)) = (pid.parse::<u32>(), started.parse::<u64>()) else {
            continue;
        };
        if start_time(pid) != Some(started) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_told_once_per_run_and_again_in_the_next_run() {
        let base = tempfile::tempdir().unwrap();
        let ledger = RunLedger::of_parent_process_in(base.path()).expect("linux has /proc");
        assert!(ledger.first_time(b"a"));
        assert!(!ledger.first_time(b"a"), "the same run was told already");
        assert!(ledger.first_time(b"b"));
        let again = RunLedger::of_parent_process_in(base.path()).unwrap();
        assert!(!again.first_time(b"a"), "another process of the same run");

        // A run whose CLI process is gone is forgotten by the next one that starts.
        let root = ledger.dir.parent().unwrap().to_path_buf();
        let stale = root.join("999999999-1");
        fs::create_dir(&stale).unwrap();
        RunLedger::of_parent_process_in(base.path()).unwrap();
        assert!(!stale.exists());
        assert!(ledger.dir.exists(), "the live run keeps its notes");
    }

    #[test]
    fn a_ledger_directory_others_can_read_is_not_trusted() {
        let base = tempfile::tempdir().unwrap();
        let uid = fs::metadata("/proc/self").unwrap().uid();
        let root = base.path().join(format!("terraform-provider-redis-{uid}"));
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(RunLedger::of_parent_process_in(base.path()).is_none());
    }

    #[test]
    fn the_start_time_is_read_past_a_command_name_with_spaces() {
        let own = start_time(std::process::id()).expect("our own stat");
        assert!(own > 0);
    }
}
