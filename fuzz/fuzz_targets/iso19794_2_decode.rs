//! ISO/IEC 19794-2 records arrive from enrollment stations and, later, the central store.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = tobira_biometrics::iso19794_2::decode(data) {
        // Whatever decodes re-encodes to a record that decodes to the same minutiae.
        let again = tobira_biometrics::iso19794_2::decode(&tobira_biometrics::iso19794_2::encode(&t)).expect("re-encoded record decodes");
        assert_eq!(again.minutiae, t.minutiae);
    }
});
