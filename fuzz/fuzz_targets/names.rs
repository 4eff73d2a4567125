//! Subject names and subject alternative names in every form paypki reads them:
//!
//! - first byte 0 (mod 4): text, as in tokens, the admin API and the CLI: a subject
//!   (`CN=…,O=…` or `/CN=…/O=…`), a SAN (`dns:…`), an attribute name, and the other small
//!   parsers of text that reach the same code (serial, revocation reason, role);
//! - 1: a DER Name, as in a CSR or certificate (the X.509 name conversion);
//! - 2: a DER SubjectAltName extension value, each GeneralName converted;
//! - 3: a `POST /v1/admin/tokens` body turned into a grant.
//!
//! Beyond not panicking: a name round-trips through its text form (records store the
//! text and enrollment and renewal parse it back, so a name that does not would change
//! or break on the way), and an accepted name converts to rcgen's form, which the CA
//! signs.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use paypki::names::{AttributeType, SubjectAltName, SubjectName};
use paypki_fuzz::mode;
use x509_parser::prelude::FromDer;

fn check_subject(subject: &SubjectName) {
    let text = subject.to_string();
    assert_eq!(
        text.parse::<SubjectName>().as_ref(),
        Ok(subject),
        "the subject {subject:?} does not round-trip through {text:?}"
    );
    subject
        .to_rcgen()
        .expect("an accepted subject converts for rcgen");
}

fn check_san(san: &SubjectAltName) {
    let text = san.to_string();
    assert_eq!(
        text.parse::<SubjectAltName>().as_ref(),
        Ok(san),
        "the SAN {san:?} does not round-trip through {text:?}"
    );
    san.to_rcgen().expect("an accepted SAN converts for rcgen");
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = mode(data) else {
        return;
    };
    match mode % 4 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(subject) = SubjectName::from_str(text) {
                check_subject(&subject);
            }
            if let Ok(san) = SubjectAltName::from_str(text) {
                check_san(&san);
            }
            let _ = AttributeType::from_str(text);
            if let Ok(serial) = paypki::model::Serial::from_str(text) {
                assert_eq!(
                    serial.to_string().parse::<paypki::model::Serial>().ok(),
                    Some(serial)
                );
            }
            let _ = paypki::model::RevocationReason::from_str(text);
            let _ = paypki::model::Role::from_str(text);
        }
        1 => {
            let Ok((_, name)) = x509_parser::x509::X509Name::from_der(rest) else {
                return;
            };
            if let Ok(subject) = SubjectName::from_x509(&name) {
                check_subject(&subject);
            }
        }
        2 => {
            let Ok((_, sans)) = x509_parser::extensions::SubjectAlternativeName::from_der(rest)
            else {
                return;
            };
            for name in &sans.general_names {
                if let Ok(san) = SubjectAltName::from_x509(name) {
                    check_san(&san);
                }
            }
        }
        _ => {
            if let Some(Ok(grant)) = paypki::fuzzing::token_body(rest) {
                if let paypki::ra::enrollment::GrantNames::Explicit {
                    subject,
                    subject_alt_names,
                    ..
                } = &grant.names
                {
                    check_subject(subject);
                    subject_alt_names.iter().for_each(check_san);
                }
            }
        }
    }
});
