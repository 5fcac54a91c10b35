//! Any bytes: reading must not panic, and a notebook it reads must analyse, convert and render
//! without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    amlops::notebook::fuzzing::exercise(bytes);
});
