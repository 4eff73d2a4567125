#!/usr/bin/env python3
"""Independent check of an OCSP response from paypki, with pyca/cryptography.

Usage: check_ocsp.py RESPONSE_DER ISSUING_PEM [REQUEST_DER]

For a successful response the script
  * verifies the response signature with the public key of the responder certificate
    embedded in the response,
  * checks that the responder certificate is signed by the issuing CA (ISSUING_PEM),
    carries the OCSPSigning extended key usage, and that the ResponderID (by key hash)
    names it,
  * and, when REQUEST_DER is given, reads the request's nonce (to compare with the
    response's).
It prints one JSON object on stdout:
  {status, cert_status, serial, revocation_reason, revocation_time, this_update,
   next_update, invalidity_date, issuer_matches, nonce, request_nonce, extended_revoke,
   responses: [...]}
where the top-level certificate fields describe the first SingleResponse and `responses`
lists them all. For an unsuccessful response only {status, ...} is printed (exit 0): the
caller decides whether that is expected. Any signature or chain failure exits non-zero.

This shares no code with paypki: it is the second opinion for the Rust integration tests.
"""

import datetime
import json
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, ed448, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

EXTENDED_REVOKE_OID = "1.3.6.1.5.5.7.48.1.9"


def fail(message):
    print(f"check_ocsp.py: {message}", file=sys.stderr)
    sys.exit(1)


def serial_hex(number):
    """Lowercase hex of the magnitude octets (even length, like paypki prints it)."""
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big").hex()


def iso(value):
    return value.isoformat() if value is not None else None


def utc(obj, name):
    """`name_utc` where cryptography has it (>= 43), else the naive `name`."""
    aware = getattr(obj, f"{name}_utc", None)
    return aware if aware is not None else getattr(obj, name)


RSASSA_PSS = "1.2.840.113549.1.1.10"


def verify_signature(public_key, signature, data, hash_algorithm):
    if hash_algorithm == "pss-sha256":
        # RFC 4055 3.1 parameters as paypki signs them: SHA-256, MGF1-SHA-256, salt 32.
        public_key.verify(
            signature,
            data,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hash_algorithm))
    elif isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
    elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        public_key.verify(signature, data)
    else:
        fail(f"unsupported responder key {type(public_key).__name__}")


def issuer_hashes(issuing, algorithm):
    name_digest = hashes.Hash(algorithm)
    name_digest.update(issuing.subject.public_bytes())
    # RFC 6960 4.1.1: the key hash covers the subjectPublicKey BIT STRING value; the
    # SubjectKeyIdentifier "method 1" digest is exactly that, but only for SHA-1.
    spki = issuing.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_bits = subject_public_key_bits(spki)
    key_digest = hashes.Hash(algorithm)
    key_digest.update(key_bits)
    return name_digest.finalize(), key_digest.finalize()


def read_tlv(data, offset):
    """(tag, content_start, content_end) of the DER element at offset."""
    tag = data[offset]
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    return tag, start, start + length


def subject_public_key_bits(spki):
    """The BIT STRING value (without the unused-bits octet) of a DER SubjectPublicKeyInfo."""
    _, start, _ = read_tlv(spki, 0)
    _, _, alg_end = read_tlv(spki, start)  # AlgorithmIdentifier
    tag, bits_start, bits_end = read_tlv(spki, alg_end)
    if tag != 0x03:
        fail("SubjectPublicKeyInfo without a BIT STRING")
    return spki[bits_start + 1 : bits_end]


def invalidity_of(value):
    """An invalidityDate single extension, parsed or (if unrecognized) decoded here."""
    if isinstance(value, x509.InvalidityDate):
        return iso(getattr(value, "invalidity_date_utc", None) or value.invalidity_date)
    raw = getattr(value, "value", b"")
    tag, start, end = read_tlv(raw, 0)
    if tag != 0x18:
        fail("invalidityDate is not a GeneralizedTime")
    text = raw[start:end].decode("ascii")
    when = datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    return iso(when)


def nonce_of(extensions):
    try:
        return extensions.get_extension_for_class(x509.OCSPNonce).value.nonce.hex()
    except x509.ExtensionNotFound:
        return None


def describe_single(single, issuing):
    name_hash, key_hash = issuer_hashes(issuing, single.hash_algorithm)
    status = single.certificate_status
    reason = single.revocation_reason if status == ocsp.OCSPCertStatus.REVOKED else None
    return {
        "cert_status": status.name.lower(),
        "serial": serial_hex(single.serial_number),
        "hash_algorithm": single.hash_algorithm.name,
        "issuer_matches": single.issuer_name_hash == name_hash
        and single.issuer_key_hash == key_hash,
        "revocation_reason": reason.value if reason is not None else None,
        "revocation_time": iso(utc(single, "revocation_time"))
        if status == ocsp.OCSPCertStatus.REVOKED
        else None,
        "this_update": iso(utc(single, "this_update")),
        "next_update": iso(utc(single, "next_update")),
    }


def main(argv):
    if len(argv) not in (3, 4):
        fail("usage: check_ocsp.py RESPONSE_DER ISSUING_PEM [REQUEST_DER]")
    with open(argv[1], "rb") as handle:
        response_der = handle.read()
    with open(argv[2], "rb") as handle:
        issuing = x509.load_pem_x509_certificate(handle.read())
    request_nonce = None
    if len(argv) == 4:
        with open(argv[3], "rb") as handle:
            request = ocsp.load_der_ocsp_request(handle.read())
        request_nonce = nonce_of(request.extensions)

    try:
        resp = ocsp.load_der_ocsp_response(response_der)
    except ValueError as e:
        fail(f"not an OCSP response: {e}")

    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        json.dump(
            {"status": resp.response_status.name.lower(), "request_nonce": request_nonce},
            sys.stdout,
            indent=2,
            sort_keys=True,
        )
        print()
        return

    # The responder certificate embedded in the response.
    if len(resp.certificates) != 1:
        fail(f"expected one embedded responder certificate, got {len(resp.certificates)}")
    responder = resp.certificates[0]
    try:
        responder.verify_directly_issued_by(issuing)
    except Exception as e:  # noqa: BLE001 - any failure is reported
        fail(f"the responder certificate is not signed by the issuing CA: {e!r}")
    try:
        eku = responder.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
    except x509.ExtensionNotFound:
        fail("the responder certificate has no extendedKeyUsage")
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        fail("the responder certificate lacks the OCSPSigning extended key usage")

    # ResponderID: by key hash, naming the embedded certificate.
    responder_key_hash = x509.SubjectKeyIdentifier.from_public_key(responder.public_key()).digest
    if resp.responder_key_hash is not None:
        if resp.responder_key_hash != responder_key_hash:
            fail("the ResponderID key hash does not name the embedded certificate")
        responder_id = "by_key"
    elif resp.responder_name is not None:
        if resp.responder_name != responder.subject:
            fail("the ResponderID name does not name the embedded certificate")
        responder_id = "by_name"
    else:
        fail("no ResponderID")

    # The signature over tbsResponseData.
    try:
        verify_signature(
            responder.public_key(),
            resp.signature,
            resp.tbs_response_bytes,
            # cryptography's OCSP API names no hash for RSASSA-PSS responses.
            "pss-sha256"
            if resp.signature_algorithm_oid.dotted_string == RSASSA_PSS
            else resp.signature_hash_algorithm,
        )
    except InvalidSignature:
        fail("the OCSP response signature does not verify with the responder's key")

    singles = [describe_single(single, issuing) for single in resp.responses]
    if not singles:
        fail("a successful response without SingleResponses")
    first = singles[0]

    invalidity_date = None
    if len(singles) == 1:
        for extension in resp.single_extensions:
            if extension.oid == x509.oid.CRLEntryExtensionOID.INVALIDITY_DATE:
                invalidity_date = invalidity_of(extension.value)

    summary = dict(first)
    summary.update(
        {
            "status": "successful",
            "responder_id": responder_id,
            "responder_subject": responder.subject.rfc4514_string(),
            "produced_at": iso(utc(resp, "produced_at")),
            "signature_algorithm": resp.signature_algorithm_oid.dotted_string,
            "nonce": nonce_of(resp.extensions),
            "request_nonce": request_nonce,
            "extended_revoke": any(
                e.oid.dotted_string == EXTENDED_REVOKE_OID for e in resp.extensions
            ),
            "invalidity_date": invalidity_date,
            "responses": singles,
        }
    )
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv)
