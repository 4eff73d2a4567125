//! What the time-stamping authority accepts (RFC 3161 §2.4.1–§2.4.2): the policy
//! decision on a TimeStampReq, and the TimeStampResp that answers it. The HTTP route
//! only carries bytes; the CA only signs what this accepted.
//!
//! | request | answer |
//! | --- | --- |
//! | not a DER TimeStampReq (garbage, empty, trailing bytes, version ≠ 1) | rejection, `badDataFormat` |
//! | a hash algorithm other than SHA-256, SHA-384, SHA-512 (SHA-1 included), or parameters other than absent or NULL | rejection, `badAlg` |
//! | a digest whose length is not the algorithm's | rejection, `badDataFormat` (as OpenSSL's TSA answers: the algorithm is fine, the data is not) |
//! | a reqPolicy other than [`TSA_POLICY`] | rejection, `unacceptedPolicy` |
//! | any extension (none is supported; §2.4.1: critical or not, an unrecognized one is refused) | rejection, `unacceptedExtension` |
//! | a nonce longer than 32 octets | rejection, `badDataFormat` (nonces are 64-bit in practice; a bound keeps answers small) |
//! | the CA cannot sign (no active issuing CA, key unavailable) | rejection, `systemFailure` |

use der::Decode;

use super::RegistrationAuthority;
use crate::ca::{CaError, TimestampRequest};
use crate::tsp::{FailureInfo, HashAlgorithm, TimeStampReq, TSA_POLICY};

/// Longest nonce accepted, in octets.
pub const MAX_NONCE_OCTETS: usize = 32;

/// Why a request gets no token: the failure bit and a sentence for statusString.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRejection {
    /// The PKIFailureInfo bit.
    pub failure: FailureInfo,
    /// What went wrong, for a person.
    pub reason: String,
}

impl TimestampRejection {
    fn new(failure: FailureInfo, reason: impl Into<String>) -> Self {
        TimestampRejection {
            failure,
            reason: reason.into(),
        }
    }
}

/// Decides on a DER TimeStampReq.
pub fn accept_request(der: &[u8]) -> Result<TimestampRequest, TimestampRejection> {
    let request = TimeStampReq::from_der(der).map_err(|e| {
        TimestampRejection::new(
            FailureInfo::BadDataFormat,
            format!("not a DER TimeStampReq (RFC 3161 section 2.4.1): {e}"),
        )
    })?;
    let algorithm = &request.message_imprint.hash_algorithm;
    let hash = HashAlgorithm::from_oid(&algorithm.oid).ok_or_else(|| {
        TimestampRejection::new(
            FailureInfo::BadAlg,
            format!(
                "hash algorithm {} is not accepted; use SHA-256, SHA-384 or SHA-512",
                algorithm.oid
            ),
        )
    })?;
    // RFC 5754 §2: the parameters of SHA-2 are absent or NULL.
    let hash_parameters_null = match &algorithm.parameters {
        None => false,
        Some(any) if der::Tagged::tag(any) == der::Tag::Null && any.value().is_empty() => true,
        Some(_) => {
            return Err(TimestampRejection::new(
                FailureInfo::BadAlg,
                "the hash algorithm's parameters must be absent or NULL",
            ))
        }
    };
    let digest = request.message_imprint.hashed_message.as_bytes();
    if digest.len() != hash.digest_len() {
        return Err(TimestampRejection::new(
            FailureInfo::BadDataFormat,
            format!(
                "a {} digest has {} octets, the request's has {}",
                hash.name(),
                hash.digest_len(),
                digest.len()
            ),
        ));
    }
    if let Some(policy) = request.req_policy {
        if policy != TSA_POLICY {
            return Err(TimestampRejection::new(
                FailureInfo::UnacceptedPolicy,
                format!("this TSA issues tokens under policy {TSA_POLICY} only, not {policy}"),
            ));
        }
    }
    if request.extensions.is_some() {
        return Err(TimestampRejection::new(
            FailureInfo::UnacceptedExtension,
            "this TSA supports no request extensions",
        ));
    }
    let nonce = request.nonce.map(|n| n.as_bytes().to_vec());
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_OCTETS) {
        return Err(TimestampRejection::new(
            FailureInfo::BadDataFormat,
            format!("the nonce is longer than {MAX_NONCE_OCTETS} octets"),
        ));
    }
    Ok(TimestampRequest {
        hash_algorithm: hash.oid(),
        hash_parameters_null,
        digest: digest.to_vec(),
        nonce,
        cert_req: request.cert_req,
        policy: request.req_policy,
    })
}

/// The outcome of a TimeStampReq, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampOutcome {
    /// A token was issued.
    Granted,
    /// Refused with this failure bit.
    Rejected(FailureInfo),
}

impl RegistrationAuthority {
    /// Answers a DER TimeStampReq with a DER TimeStampResp: a token, or a rejection with
    /// its RFC 3161 §2.4.2 failure bit. Every outcome is a TimeStampResp.
    pub fn timestamp(&self, der: &[u8]) -> (Vec<u8>, TimestampOutcome) {
        let rejected = |rejection: TimestampRejection| {
            let reply = crate::tsp::rejection_reply(rejection.failure, &rejection.reason)
                .unwrap_or_default();
            (reply, TimestampOutcome::Rejected(rejection.failure))
        };
        let request = match accept_request(der) {
            Ok(request) => request,
            Err(rejection) => return rejected(rejection),
        };
        let token = match self.ca().timestamp(&request) {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(error = %e, "the TSA could not sign a timestamp token");
                let reason = match e {
                    CaError::KeyUnavailable(_) => "the TSA key is unavailable now; retry later",
                    CaError::NoActiveIssuer => "the CA has no active issuing CA",
                    _ => "the TSA could not sign the token",
                };
                return rejected(TimestampRejection::new(FailureInfo::SystemFailure, reason));
            }
        };
        match crate::tsp::granted_reply(&token) {
            Ok(reply) => (reply, TimestampOutcome::Granted),
            Err(e) => rejected(TimestampRejection::new(
                FailureInfo::SystemFailure,
                format!("the token could not be encoded: {e}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::{Int, OctetString};
    use der::Encode;
    use x509_tsp::{MessageImprint, TspVersion};

    fn request(oid: &str, digest: Vec<u8>) -> TimeStampReq {
        TimeStampReq {
            version: TspVersion::V1,
            message_imprint: MessageImprint {
                hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                    oid: der::asn1::ObjectIdentifier::new_unwrap(oid),
                    parameters: Some(der::Any::from(der::asn1::Null)),
                },
                hashed_message: OctetString::new(digest).unwrap(),
            },
            req_policy: None,
            nonce: Some(Int::new(&[0x01, 0x02]).unwrap()),
            cert_req: true,
            extensions: None,
        }
    }

    const SHA256: &str = "2.16.840.1.101.3.4.2.1";

    #[test]
    fn decisions() {
        let good = request(SHA256, vec![0; 32]);
        let accepted = accept_request(&good.to_der().unwrap()).unwrap();
        assert!(accepted.cert_req && accepted.hash_parameters_null);
        assert_eq!(accepted.nonce, Some(vec![1, 2]));
        let failure =
            |req: &TimeStampReq| accept_request(&req.to_der().unwrap()).unwrap_err().failure;
        assert_eq!(
            failure(&request("1.3.14.3.2.26", vec![0; 20])),
            FailureInfo::BadAlg
        );
        assert_eq!(
            failure(&request("1.2.3.4", vec![0; 32])),
            FailureInfo::BadAlg
        );
        assert_eq!(
            failure(&request(SHA256, vec![0; 31])),
            FailureInfo::BadDataFormat
        );
        let mut policy = good.clone();
        policy.req_policy = Some(der::asn1::ObjectIdentifier::new_unwrap("1.2.3.4"));
        assert_eq!(failure(&policy), FailureInfo::UnacceptedPolicy);
        policy.req_policy = Some(TSA_POLICY);
        assert!(accept_request(&policy.to_der().unwrap()).is_ok());
        let mut nonce = good.clone();
        nonce.nonce = Some(Int::new(&[0x11; 33]).unwrap());
        assert_eq!(failure(&nonce), FailureInfo::BadDataFormat);
        for garbage in [&b""[..], b"\x30\x00", b"hello", &[0x30, 0x80, 0x00, 0x00]] {
            assert_eq!(
                accept_request(garbage).unwrap_err().failure,
                FailureInfo::BadDataFormat
            );
        }
        let mut trailing = good.to_der().unwrap();
        trailing.push(0);
        assert_eq!(
            accept_request(&trailing).unwrap_err().failure,
            FailureInfo::BadDataFormat
        );
    }
}
