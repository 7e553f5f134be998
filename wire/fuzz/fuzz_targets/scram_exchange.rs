//! SCRAM-SHA-256 client messages and stored-credential strings.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    segmint_wire::fuzzing::scram_exchange(data);
});
