//! Fuzzes the manifest reader: any bytes, read as a manifest file and, when valid, planned
//! against a workspace that has nothing. A panic anywhere is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/manifest_reader.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::exercise(data));
