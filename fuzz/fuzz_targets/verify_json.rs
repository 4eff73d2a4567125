//! The JSON bodies of `POST /v1/verify`, `POST /v1/verify/batch` and `POST /v1/validate`,
//! decoded as the handlers decode them and run through the Verifier of the fixture CA:
//! certificates (PEM or serial), raw and CMS signatures, times, roles, chains. Each
//! input is tried as all three bodies (at most one shape fits).
//!
//! Beyond not panicking: a verdict is valid exactly when it has no reason, a valid one
//! names the signer (and for /v1/verify the algorithm), the store is never reported
//! unavailable (it is healthy), and every verdict serializes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paypki::verify::{Reason, ValidateOutcome, VerifyOutcome};
use paypki_fuzz::world;

fn check_verify(outcome: &VerifyOutcome) {
    assert_eq!(outcome.valid, outcome.reason.is_none(), "{outcome:?}");
    assert_ne!(outcome.reason, Some(Reason::Unavailable), "{outcome:?}");
    if outcome.valid {
        assert!(
            outcome.signer.is_some() && outcome.algorithm.is_some(),
            "{outcome:?}"
        );
    }
    serde_json::to_string(outcome).expect("a verdict serializes");
}

fn check_validate(outcome: &ValidateOutcome) {
    assert_eq!(outcome.valid, outcome.reason.is_none(), "{outcome:?}");
    assert_ne!(outcome.reason, Some(Reason::Unavailable), "{outcome:?}");
    assert_eq!(outcome.valid, outcome.status == "good", "{outcome:?}");
    if outcome.valid {
        assert!(outcome.subject.is_some(), "{outcome:?}");
    }
    serde_json::to_string(outcome).expect("a verdict serializes");
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    if let Some(outcome) = paypki::fuzzing::verify_body(&world.verifier, data) {
        check_verify(&outcome);
    }
    if let Some(Ok(outcomes)) = paypki::fuzzing::verify_batch_body(&world.verifier, data) {
        outcomes.iter().for_each(check_verify);
    }
    if let Some(outcome) = paypki::fuzzing::validate_body(&world.verifier, data) {
        check_validate(&outcome);
    }
});
