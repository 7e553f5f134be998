//! A client's bytes from connect through login: framing limits, pgwire decoding, SCRAM.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    segmint_wire::fuzzing::client_stream(data);
});
