//! The acceptance test binary: every scenario runs against the test bed brought up by
//! `acceptance-tests/testbed/testbed up`.

mod backup;
mod backup_faults;
mod backup_schedule;
mod backup_stores;
mod day_two;
mod deployment;
mod ephemeral;
mod faults;
mod least_privilege;
mod monitoring;
mod ownership;
mod plans;
mod provider_errors;
mod rbac;
mod restore;
mod rotation;
mod runtime;
mod scale;
mod sentinel;
mod sentinel_faults;
mod sentinel_netpol;
mod sentinel_tls;
mod stacks;
mod startup;
mod streams;
mod testbed_faults;
mod testbed_policies;
mod testbed_services;
mod testbed_smoke;
mod testbed_storage;
mod testbed_versions;
mod tls;
mod tls_lifecycle;
