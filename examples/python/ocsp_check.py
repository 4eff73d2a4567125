#!/usr/bin/env python3
"""Check a certificate's status over OCSP, and verify the answer before believing it.

    python3 ocsp_check.py --cert merchant/cert.pem --chain merchant/chain.pem

An OCSP response is only as good as its signature. This program accepts one only when
(RFC 6960 §3.2 and §4.2.2.2):

1. it is `successful` and a BasicOCSPResponse;
2. its signer is the CA that issued the certificate, or a *delegated responder*: a
   certificate issued directly by that CA (its signature checked with the CA's key),
   carrying the id-kp-OCSPSigning extended key usage, and valid now. A responder
   certificate from any other CA, or without OCSPSigning, is refused: anyone can make
   a certificate with a matching name;
3. its signature verifies with that signer's key;
4. it answers for this certificate: the CertID's hash algorithm, issuer name hash,
   issuer key hash and serial all match;
5. it is fresh: thisUpdate not in the future, nextUpdate present and not past (5 minutes
   of clock skew either way);
6. it echoes the nonce that was sent (when fetched here).

Exit status: 0 good; 1 revoked or unknown; 2 bad arguments; 3 no answer (unreachable,
HTTP error, or tryLater/internalError); 4 the response failed a check above — do not
trust it, fail closed.

--response FILE checks a saved DER response instead of fetching one (no nonce then).
Needs `requests` and `cryptography` (pip install requests cryptography).
"""

import argparse
import datetime
import os
import sys

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

SKEW = datetime.timedelta(minutes=5)


class Untrusted(Exception):
    """The response failed a check: it must not be believed."""


def load_chain(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())


def issuer_of(cert, candidates):
    """The CA certificate among `candidates` that signed `cert`."""
    for candidate in candidates:
        try:
            cert.verify_directly_issued_by(candidate)
            return candidate
        except (ValueError, TypeError, InvalidSignature):
            continue
    raise SystemExit("error: no certificate of the chain issued the certificate")


def ocsp_url(cert):
    """The OCSP address the certificate itself names (AIA), as a relying party uses it."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        raise SystemExit("error: the certificate names no OCSP responder; give --url")
    for description in aia:
        if description.access_method == x509.oid.AuthorityInformationAccessOID.OCSP:
            return description.access_location.value
    raise SystemExit("error: the certificate names no OCSP responder; give --url")


def fetch(url, cert, issuer):
    """POST a request with a SHA-256 CertID and a nonce; returns (DER, nonce)."""
    nonce = os.urandom(16)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA256())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    try:
        response = requests.post(
            url,
            data=request.public_bytes(serialization.Encoding.DER),
            headers={"Content-Type": "application/ocsp-request"},
            timeout=10,
        )
    except requests.RequestException as e:
        raise NoAnswer(f"cannot reach {url}: {e}")
    if response.status_code != 200:
        raise NoAnswer(f"{url}: HTTP {response.status_code}")
    return response.content, nonce


class NoAnswer(Exception):
    pass


def key_hash(cert):
    """SHA-1 of the subjectPublicKey BIT STRING: a ResponderID byKey (RFC 6960 §4.2.1)."""
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def find_signer(response, issuer):
    """The certificate the ResponderID names: the issuer itself, or one carried in the
    response (a delegated responder)."""
    for candidate in [issuer, *response.certificates]:
        if response.responder_key_hash is not None:
            if key_hash(candidate) == response.responder_key_hash:
                return candidate
        elif candidate.subject == response.responder_name:
            return candidate
    raise Untrusted("no certificate matches the response's ResponderID")


def check_delegation(signer, issuer, now):
    """RFC 6960 §4.2.2.2: a delegated responder is authorized only by a certificate that
    the CA itself issued, with id-kp-OCSPSigning."""
    if signer.public_bytes(serialization.Encoding.DER) == issuer.public_bytes(serialization.Encoding.DER):
        return "the issuing CA itself"
    try:
        signer.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise Untrusted(f"the responder certificate ({signer.subject.rfc4514_string()}) was not issued by the certificate's CA")
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = []
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        raise Untrusted("the responder certificate lacks the id-kp-OCSPSigning extended key usage")
    if not signer.not_valid_before_utc - SKEW <= now <= signer.not_valid_after_utc + SKEW:
        raise Untrusted("the responder certificate is not valid now")
    return f"delegated responder {signer.subject.rfc4514_string()}"


def check_signature(response, signer):
    key = signer.public_key()
    data, signature, algorithm = response.tbs_response_bytes, response.signature, response.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        else:
            raise Untrusted(f"unsupported responder key {type(key).__name__}")
    except InvalidSignature:
        raise Untrusted("the response's signature does not verify with the responder's key")


def single_response_for(response, cert, issuer):
    """The SingleResponse whose CertID is this certificate's, under the hash it names."""
    for single in response.responses:
        expected = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, single.hash_algorithm).build()
        if (
            single.serial_number == cert.serial_number
            and single.issuer_name_hash == expected.issuer_name_hash
            and single.issuer_key_hash == expected.issuer_key_hash
        ):
            return single
    raise Untrusted("the response does not answer for this certificate (CertID mismatch)")


def check(der, cert, issuer, nonce, now):
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as e:
        raise Untrusted(f"not an OCSP response: {e}")
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise NoAnswer(f"the responder answered {response.response_status.name}")
    signer = find_signer(response, issuer)
    who = check_delegation(signer, issuer, now)
    check_signature(response, signer)
    single = single_response_for(response, cert, issuer)
    if single.this_update_utc > now + SKEW:
        raise Untrusted("thisUpdate is in the future")
    if single.next_update_utc is None or single.next_update_utc < now - SKEW:
        raise Untrusted("the response is stale (nextUpdate passed, or none given)")
    if nonce is not None:
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if echoed != nonce:
            raise Untrusted("the response does not echo the request's nonce (a replay?)")
    return single, who


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True, help="the certificate to check, PEM")
    parser.add_argument("--chain", required=True, help="its CA certificates, PEM (the chain.pem of enroll)")
    parser.add_argument("--url", help="the responder (default: the certificate's AIA OCSP URL)")
    parser.add_argument("--response", help="check this saved DER response instead of fetching")
    args = parser.parse_args()

    cert = load_chain(args.cert)[0]
    issuer = issuer_of(cert, load_chain(args.chain))
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        if args.response:
            with open(args.response, "rb") as f:
                der, nonce = f.read(), None
        else:
            der, nonce = fetch(args.url or ocsp_url(cert), cert, issuer)
        single, who = check(der, cert, issuer, nonce, now)
    except NoAnswer as e:
        print(f"no answer: {e}", file=sys.stderr)
        return 3
    except Untrusted as e:
        print(f"untrusted response: {e}", file=sys.stderr)
        return 4
    status = single.certificate_status
    if status == ocsp.OCSPCertStatus.GOOD:
        print(f"good (signed by {who}; next update {single.next_update_utc:%Y-%m-%dT%H:%M:%SZ})")
        return 0
    if status == ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason.name if single.revocation_reason else "unspecified"
        print(f"revoked at {single.revocation_time_utc:%Y-%m-%dT%H:%M:%SZ} ({reason}; signed by {who})")
        return 1
    print(f"unknown (signed by {who})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
