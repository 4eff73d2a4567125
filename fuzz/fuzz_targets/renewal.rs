//! A `POST /v1/renew` body: decoded as the handler decodes it (JSON, serial, base64
//! proof), the current certificate looked up in the fixture's store as `renew` does,
//! then the RA's checks that need only that certificate: the proof's time, the new CSR
//! (syntax and proof of possession), and the proof itself, a signature by the current
//! key over `paypki-renewal-v1\n<serial>\n<time>\n<SHA-256 of the CSR>`. The CA's clock
//! is the fixture's time, when the seeds' proofs were made.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paypki_fuzz::world;

fuzz_target!(|data: &[u8]| {
    let Some(Ok(request)) = paypki::fuzzing::renewal_body(data) else {
        return;
    };
    let world = world();
    let Ok(Some(current)) = world.store.certificate(&request.serial) else {
        return;
    };
    let _ = paypki::ra::enrollment::check_renewal_proof(
        &current.der,
        &current.serial,
        &request,
        world.made_at,
    );
});
