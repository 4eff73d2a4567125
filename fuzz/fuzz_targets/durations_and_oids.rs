//! Durations (`ttl`, `expiring_within`, CLI validities) and dotted OIDs (policy files'
//! certificate-policy OID and EKUs). Beyond not panicking: an accepted duration is within
//! the documented bound, and an accepted OID is exactly the OID the CA writes into
//! certificates (encoded as the CA encodes it, decoded by x509-parser).
#![no_main]

use libfuzzer_sys::fuzz_target;
use x509_parser::der_parser::der::parse_der;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(duration) = paypki::cli::parse_duration(text) {
        assert!(duration.is_positive(), "{text:?} gave {duration}");
        assert!(
            duration <= time::Duration::weeks(100_000),
            "{text:?} gave {duration}"
        );
    }
    if let Some(arcs) = paypki::model::parse_oid(text) {
        let der = paypki::fuzzing::certificate_policies_der(&arcs)
            .unwrap_or_else(|e| panic!("{text:?} parsed as {arcs:?} but does not encode: {e}"));
        // CertificatePolicies ::= SEQUENCE OF PolicyInformation ::= SEQUENCE { policyIdentifier, … }
        let (rest, policies) = parse_der(&der).expect("certificatePolicies decodes");
        assert!(rest.is_empty());
        let written: Vec<Vec<u64>> = policies
            .as_sequence()
            .expect("a SEQUENCE")
            .iter()
            .map(|info| {
                let id = info
                    .as_sequence()
                    .expect("PolicyInformation")
                    .first()
                    .expect("an OID");
                let oid = id.as_oid().expect("policyIdentifier is an OID");
                oid.iter().map(|arcs| arcs.collect()).expect("arcs fit u64")
            })
            .collect();
        assert_eq!(
            written,
            vec![arcs.clone()],
            "{text:?}: certificates would carry another OID"
        );
    }
    let _ = paypki::model::ExtendedKeyUsage::parse(text);
});
