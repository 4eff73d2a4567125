//! An OCSP request as `POST /ocsp` (and `GET /ocsp/…`, once base64-decoded) hands it to
//! the responder: the pre-signed cache first, then `OcspResponder::respond`, against the
//! fixture CA (two issuing CAs, good, revoked and held certificates).
//!
//! Beyond not panicking: every answer is a DER OCSPResponse; a successful one answers
//! each CertID of the request, in order, and its signature verifies with the responder
//! certificate it carries.
#![no_main]

use der::{Decode, Encode};
use libfuzzer_sys::fuzz_target;
use paypki::model::PublicKey;
use paypki::verify::{verify_signature, SignatureScheme};
use paypki_fuzz::world;
use x509_ocsp::{BasicOcspResponse, OcspRequest, OcspResponse, OcspResponseStatus};

fuzz_target!(|data: &[u8]| {
    let world = world();
    let answer = match world.ocsp.respond_cached(data) {
        Some(answer) => answer,
        None => world.ocsp.respond(data),
    };
    let response = OcspResponse::from_der(&answer.der).expect("every answer is an OCSPResponse");
    if response.response_status != OcspResponseStatus::Successful {
        assert!(response.response_bytes.is_none());
        return;
    }
    let request = OcspRequest::from_der(data).expect("a successful answer was to a request");
    let bytes = response
        .response_bytes
        .expect("a successful answer has a body");
    let basic =
        BasicOcspResponse::from_der(bytes.response.as_bytes()).expect("a BasicOCSPResponse");
    let asked: Vec<_> = request
        .tbs_request
        .request_list
        .iter()
        .map(|r| &r.req_cert)
        .collect();
    let answered: Vec<_> = basic
        .tbs_response_data
        .responses
        .iter()
        .map(|r| &r.cert_id)
        .collect();
    assert_eq!(
        asked, answered,
        "the response must answer each CertID, in order"
    );
    let certs = basic.certs.as_ref().expect("the responder certificate");
    let [responder] = certs.as_slice() else {
        panic!("exactly one certificate, the responder's");
    };
    let spki = responder
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .expect("SPKI");
    let key = PublicKey::from_spki_der(&spki).expect("the responder key");
    let scheme = match basic.signature_algorithm.oid.to_string().as_str() {
        "1.2.840.10045.4.3.2" => SignatureScheme::EcdsaP256Sha256,
        "1.2.840.10045.4.3.3" => SignatureScheme::EcdsaP384Sha384,
        other => panic!("unexpected signature algorithm {other}"),
    };
    let tbs = basic.tbs_response_data.to_der().expect("ResponseData");
    verify_signature(&key, scheme, &tbs, basic.signature.raw_bytes())
        .expect("the response signature verifies");
});
