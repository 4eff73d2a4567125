#!/usr/bin/env python3
"""Independent check of a certificate issued by paypki, with pyca/cryptography.

Usage: check_cert.py LEAF_PEM ISSUING_PEM ROOT_PEM

LEAF_PEM may hold a bundle (leaf, then chain): the first certificate is the leaf.
The script verifies the signatures leaf <- issuing CA <- root (and the root's
self-signature), then prints one JSON object describing the leaf on stdout.
Any failure exits non-zero with a message on stderr.

This deliberately shares no code with paypki: it is the second opinion the Rust
integration tests compare paypki's output against.
"""

import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, ed448, rsa
from cryptography.x509.oid import ExtensionOID, NameOID, AuthorityInformationAccessOID

NAME_OVERRIDES = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
}

SHORT_NAMES = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
}


def fail(message):
    print(f"check_cert.py: {message}", file=sys.stderr)
    sys.exit(1)


def load_first(path):
    with open(path, "rb") as handle:
        certs = x509.load_pem_x509_certificates(handle.read())
    if not certs:
        fail(f"{path}: no certificate")
    return certs[0], len(certs)


def extension(cert, oid):
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def general_name(name):
    if isinstance(name, x509.DNSName):
        return f"dns:{name.value}"
    if isinstance(name, x509.RFC822Name):
        return f"email:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"uri:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"ip:{name.value}"
    return f"other:{name!r}"


def describe_key(key):
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ec:{key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa:{key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    return f"other:{type(key).__name__}"


def serial_hex(number):
    """Lowercase hex of the magnitude octets (even length, like paypki prints it)."""
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big").hex()


def main(argv):
    if len(argv) != 4:
        fail("usage: check_cert.py LEAF_PEM ISSUING_PEM ROOT_PEM")
    leaf, bundle_len = load_first(argv[1])
    issuing, _ = load_first(argv[2])
    root, _ = load_first(argv[3])

    # Signatures (and issuer/subject name chaining) of the whole path.
    try:
        leaf.verify_directly_issued_by(issuing)
    except Exception as e:  # noqa: BLE001 - any failure is reported
        fail(f"the leaf is not signed by the issuing CA: {e!r}")
    try:
        issuing.verify_directly_issued_by(root)
    except Exception as e:  # noqa: BLE001
        fail(f"the issuing CA is not signed by the root: {e!r}")
    try:
        root.verify_directly_issued_by(root)
    except Exception as e:  # noqa: BLE001
        fail(f"the root is not self-signed: {e!r}")

    ext = {}

    san = extension(leaf, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    ext["sans"] = [general_name(n) for n in san.value] if san else []

    ku = extension(leaf, ExtensionOID.KEY_USAGE)
    if ku:
        v = ku.value
        ext["key_usage"] = {
            "digital_signature": v.digital_signature,
            "content_commitment": v.content_commitment,
            "key_encipherment": v.key_encipherment,
            "data_encipherment": v.data_encipherment,
            "key_agreement": v.key_agreement,
            "key_cert_sign": v.key_cert_sign,
            "crl_sign": v.crl_sign,
        }
        ext["key_usage_critical"] = ku.critical
    else:
        ext["key_usage"] = None
        ext["key_usage_critical"] = False

    eku = extension(leaf, ExtensionOID.EXTENDED_KEY_USAGE)
    ext["extended_key_usage"] = [oid.dotted_string for oid in eku.value] if eku else []

    bc = extension(leaf, ExtensionOID.BASIC_CONSTRAINTS)
    ext["basic_constraints_present"] = bc is not None
    ext["ca"] = bool(bc and bc.value.ca)
    ext["path_length"] = bc.value.path_length if bc else None

    cp = extension(leaf, ExtensionOID.CERTIFICATE_POLICIES)
    ext["certificate_policies"] = [p.policy_identifier.dotted_string for p in cp.value] if cp else []

    aia = extension(leaf, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    ext["ocsp_urls"] = []
    ext["ca_issuers_urls"] = []
    if aia:
        for desc in aia.value:
            if desc.access_method == AuthorityInformationAccessOID.OCSP:
                ext["ocsp_urls"].append(desc.access_location.value)
            elif desc.access_method == AuthorityInformationAccessOID.CA_ISSUERS:
                ext["ca_issuers_urls"].append(desc.access_location.value)

    crl = extension(leaf, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    ext["crl_urls"] = []
    if crl:
        for point in crl.value:
            for name in point.full_name or []:
                ext["crl_urls"].append(name.value)

    ski = extension(leaf, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    aki = extension(leaf, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    issuing_ski = extension(issuing, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    ext["ski_present"] = ski is not None
    ext["aki_present"] = aki is not None
    # The leaf's AKI must name the issuing CA's key (RFC 5280 4.2.1.1).
    ext["aki_matches_issuer_ski"] = bool(
        aki
        and issuing_ski
        and aki.value.key_identifier == issuing_ski.value.digest
    )

    summary = {
        "serial": serial_hex(leaf.serial_number),
        "version": leaf.version.name,
        "subject": leaf.subject.rfc4514_string(NAME_OVERRIDES),
        "subject_attributes": [
            [SHORT_NAMES.get(a.oid, a.oid.dotted_string), a.value] for a in leaf.subject
        ],
        "issuer": leaf.issuer.rfc4514_string(NAME_OVERRIDES),
        "issuer_matches": leaf.issuer == issuing.subject,
        "signature_algorithm": leaf.signature_algorithm_oid.dotted_string,
        "signature_algorithm_name": getattr(leaf.signature_algorithm_oid, "_name", ""),
        "public_key": describe_key(leaf.public_key()),
        "public_key_pem": leaf.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii"),
        "not_before": leaf.not_valid_before_utc.isoformat(),
        "not_after": leaf.not_valid_after_utc.isoformat(),
        "not_before_unix": int(leaf.not_valid_before_utc.timestamp()),
        "not_after_unix": int(leaf.not_valid_after_utc.timestamp()),
        "extension_oids": [e.oid.dotted_string for e in leaf.extensions],
        "certificates_in_file": bundle_len,
    }
    summary.update(ext)
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv)
