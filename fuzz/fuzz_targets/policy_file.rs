//! A role policy file (`policies/<role>.toml`) as `Policies::load` reads it:
//! `Profile::parse` for each role.
//!
//! Beyond not panicking: a profile that loads is for the role asked, its validities and
//! token lifetimes are within the loader's bounds, and its certificate-policy OID is
//! exactly what the CA writes into certificates.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use paypki::model::Role;
use paypki::ra::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for role in Role::ALL {
        let Ok(profile) = Profile::parse(Path::new("fuzz.toml"), text, role) else {
            continue;
        };
        assert_eq!(profile.role, role);
        assert!(profile.default_validity.is_positive());
        assert!(profile.default_validity <= profile.max_validity);
        assert!(profile.max_validity <= time::Duration::days(3 * 366));
        assert!(profile.enrollment.token_ttl <= profile.enrollment.token_max_ttl);
        assert!(!profile.key_usage.is_empty() && !profile.key_algorithms.is_empty());
        let der = paypki::fuzzing::certificate_policies_der(&profile.policy_oid)
            .unwrap_or_else(|e| panic!("{:?} loaded but does not encode: {e}", profile.policy_oid));
        let (_, policies) =
            x509_parser::der_parser::der::parse_der(&der).expect("certificatePolicies decodes");
        let written: Vec<u64> = policies.as_sequence().expect("SEQUENCE OF")[0]
            .as_sequence()
            .expect("PolicyInformation")[0]
            .as_oid()
            .expect("an OID")
            .iter()
            .expect("arcs fit u64")
            .collect();
        assert_eq!(written, profile.policy_oid);
    }
});
