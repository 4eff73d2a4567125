//! A CSR as `paypki issue --csr` and `POST /v1/enroll` receive it: parsed, its
//! self-signature checked, then every role's policy decision on what it asks for, and
//! for what a policy approves, the CA's signing with its pre-issuance checks. Enrollment's
//! check that the CSR names only what the token grants runs too.
//!
//! First byte even: the rest is a CSR (PEM or DER). Odd: the rest is a
//! CertificationRequestInfo, which the target signs (Ed25519, fixed key) so that
//! mutated names and extensions get past the proof of possession.
//!
//! Beyond not panicking: what the RA approves, the CA signs (a refusal by the
//! pre-issuance checks would be a 500 for the participant), and a CSR always matches
//! its own names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paypki::model::Role;
use paypki::names::{SubjectAltName, SubjectName};
use paypki::ra::IssuanceRequest;
use paypki::store::IssuancePath;
use paypki_fuzz::{ed25519_signed_csr, mode, world};

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = mode(data) else {
        return;
    };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        ed25519_signed_csr(rest)
    };
    let Ok(csr) = paypki::ra::csr::parse(&bytes) else {
        return;
    };
    let world = world();
    for role in Role::ALL {
        let request = IssuanceRequest {
            role,
            csr: csr.clone(),
            subject: None,
            subject_alt_names: None,
            validity: None,
            via: IssuancePath::CliIssue,
            actor: "fuzz".into(),
            parent: None,
        };
        match paypki::fuzzing::decide_and_sign(&world.ra, request) {
            Ok(_) => {}
            Err(e) => panic!("the {role} policy approved this CSR but the CA did not sign: {e:?}"),
        }
    }
    if let (Ok(subject), Ok(sans)) = (&csr.subject, &csr.subject_alt_names) {
        if let Err(e) = paypki::fuzzing::check_csr_names_match(&csr, subject, sans) {
            panic!("a CSR does not match its own names: {e}");
        }
    }
    // A token for the fixture's merchant.
    let subject: SubjectName = "CN=Corner Shop,O=Corner Shop Ltd,serialNumber=M1234567"
        .parse()
        .expect("a subject");
    let sans: Vec<SubjectAltName> = vec!["dns:shop.example".parse().expect("a SAN")];
    let _ = paypki::fuzzing::check_csr_names_match(&csr, &subject, &sans);
});
