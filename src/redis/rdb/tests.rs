//! Unit tests on hand-built files.
