//! A TimeStampReq as `POST /tsa` hands it to the RA (`RegistrationAuthority::timestamp`):
//! the decision of `ra::timestamp`, the CA's signing with the fixture's TSA (made on the
//! world's first load, as for any data directory from before the TSA), the reply's
//! encoding.
//!
//! Beyond not panicking: every answer is a TimeStampResp; a granted one carries a token
//! that `verify::timestamp::verify_token` accepts against the fixture's root, over the
//! request's own imprint, with the request's nonce.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paypki::tsp::{decode_reply, HashAlgorithm, PkiStatus, TimeStampReq};
use paypki::verify::timestamp::verify_token;
use paypki_fuzz::world;

fuzz_target!(|data: &[u8]| {
    use der::Decode;
    let world = world();
    let (reply, _) = world.ra.timestamp(data);
    let reply = decode_reply(&reply).expect("every answer is a TimeStampResp");
    if reply.status != PkiStatus::Granted {
        assert!(reply.token.is_none(), "a rejection carries no token");
        assert!(!reply.failures.is_empty(), "a rejection says why");
        return;
    }
    let request = TimeStampReq::from_der(data).expect("a granted answer was to a request");
    let hash = HashAlgorithm::from_oid(&request.message_imprint.hash_algorithm.oid)
        .expect("only supported hashes are granted");
    let token = reply.token.expect("a granted answer carries a token");
    let verified = verify_token(
        &token,
        Some((hash, request.message_imprint.hashed_message.as_bytes())),
        &world.ca.root().der,
        &[
            world.ca.tsa_certificate().expect("the TSA").der.clone(),
            world.ca.active().expect("active").certificate().der.clone(),
        ],
    )
    .expect("a granted token verifies against the root");
    assert_eq!(
        verified.nonce,
        request.nonce.map(|n| n.as_bytes().to_vec()),
        "the nonce is echoed"
    );
});
