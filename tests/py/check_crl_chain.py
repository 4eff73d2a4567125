#!/usr/bin/env python3
"""Independent check of every CRL of a paypki hierarchy, with pyca/cryptography.

Usage: check_crl_chain.py ROOT_PEM ROOT_CRL_DER [ISSUING_PEM ISSUING_CRL_DER]...

Checks, exiting non-zero with a message on stderr at the first failure:
  * the root is self-signed and every issuing CA is signed by the root;
  * the root CRL names the root as its issuer, has a cRLNumber, and its signature
    verifies with the root's public key (`is_signature_valid`) and with no issuing CA's;
  * each issuing CRL names its own issuing CA, has a cRLNumber, and its signature
    verifies with that CA's public key and with neither the root's nor another issuing
    CA's;
  * where a CRL has an authorityKeyIdentifier, it names the signing CA's key.
Then prints one JSON object on stdout:
  {root: CRL, issuing: [CRL + {ca_serial, ca_subject, ca_crl_urls, on_root_crl,
   root_crl_reason}]}
where CRL is {crl_number, this_update, next_update, validity_seconds, issuer,
entries: [{serial, reason}]}.

This shares no code with paypki: it is the second opinion for the Rust integration tests.
"""

import json
import sys

from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID


def fail(message):
    print(f"check_crl_chain.py: {message}", file=sys.stderr)
    sys.exit(1)


def serial_hex(number):
    """Lowercase hex of the magnitude octets (even length, like paypki prints it)."""
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big").hex()


def utc(obj, name):
    """`name_utc` where cryptography has it (>= 42), else the naive `name`."""
    aware = getattr(obj, f"{name}_utc", None)
    return aware if aware is not None else getattr(obj, name)


def load_cert(path):
    with open(path, "rb") as handle:
        certs = x509.load_pem_x509_certificates(handle.read())
    if not certs:
        fail(f"{path}: no certificate")
    return certs[0]


def load_crl(path):
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return x509.load_der_x509_crl(data)
    except ValueError as e:
        fail(f"{path}: not a DER CRL: {e}")


def signature_valid(crl, public_key):
    """is_signature_valid, with a key of another type counting as 'does not verify'."""
    try:
        return crl.is_signature_valid(public_key)
    except (TypeError, ValueError):
        return False


def extension(obj, oid):
    try:
        return obj.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None


def describe(label, crl, signer, others):
    """Checks one CRL against the CA that must have signed it; returns its summary."""
    if crl.issuer != signer.subject:
        fail(
            f"{label}: issuer {crl.issuer.rfc4514_string()} is not "
            f"{signer.subject.rfc4514_string()}"
        )
    if not signature_valid(crl, signer.public_key()):
        fail(f"{label}: the signature does not verify with its CA's public key")
    for other_label, other in others:
        if signature_valid(crl, other.public_key()):
            fail(f"{label}: the signature also verifies with the key of {other_label}")
    number = extension(crl, ExtensionOID.CRL_NUMBER)
    if number is None:
        fail(f"{label}: no cRLNumber")
    aki = extension(crl, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    ski = extension(signer, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    if aki is not None and aki.key_identifier is not None and ski is not None:
        if aki.key_identifier != ski.digest:
            fail(f"{label}: authorityKeyIdentifier does not name its CA's key")
    this_update = utc(crl, "last_update")
    next_update = utc(crl, "next_update")
    entries = []
    for entry in crl:
        reason = None
        try:
            reason = entry.extensions.get_extension_for_oid(
                CRLEntryExtensionOID.CRL_REASON
            ).value.reason.value
        except x509.ExtensionNotFound:
            pass
        entries.append({"serial": serial_hex(entry.serial_number), "reason": reason})
    return {
        "crl_number": number.crl_number,
        "issuer": crl.issuer.rfc4514_string(),
        "this_update": this_update.isoformat(),
        "next_update": next_update.isoformat() if next_update is not None else None,
        "validity_seconds": int((next_update - this_update).total_seconds())
        if next_update is not None
        else None,
        "entries": entries,
    }


def crl_urls(cert):
    points = extension(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    urls = []
    for point in points or []:
        for name in point.full_name or []:
            urls.append(name.value)
    return urls


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0:
        fail("usage: check_crl_chain.py ROOT_PEM ROOT_CRL_DER [ISSUING_PEM ISSUING_CRL_DER]...")
    root = load_cert(argv[1])
    root_crl = load_crl(argv[2])
    pairs = [(load_cert(argv[i]), load_crl(argv[i + 1])) for i in range(3, len(argv), 2)]

    try:
        root.verify_directly_issued_by(root)
    except Exception as e:  # noqa: BLE001 - any failure is reported
        fail(f"the root is not self-signed: {e!r}")
    for index, (issuing, _) in enumerate(pairs, start=1):
        try:
            issuing.verify_directly_issued_by(root)
        except Exception as e:  # noqa: BLE001
            fail(f"issuing CA #{index} is not signed by the root: {e!r}")

    issuing_labels = [(f"issuing CA #{i}", cert) for i, (cert, _) in enumerate(pairs, start=1)]
    root_summary = describe("the root CRL", root_crl, root, issuing_labels)
    on_root = {entry["serial"]: entry["reason"] for entry in root_summary["entries"]}

    issuing_summaries = []
    for index, (issuing, crl) in enumerate(pairs, start=1):
        others = [("the root", root)] + [
            (label, cert) for label, cert in issuing_labels if cert is not issuing
        ]
        summary = describe(f"the CRL of issuing CA #{index}", crl, issuing, others)
        serial = serial_hex(issuing.serial_number)
        summary.update(
            {
                "ca_serial": serial,
                "ca_subject": issuing.subject.rfc4514_string(),
                "ca_crl_urls": crl_urls(issuing),
                "on_root_crl": serial in on_root,
                "root_crl_reason": on_root.get(serial),
            }
        )
        issuing_summaries.append(summary)

    json.dump(
        {"root": root_summary, "issuing": issuing_summaries},
        sys.stdout,
        indent=2,
        sort_keys=True,
    )
    print()


if __name__ == "__main__":
    main(sys.argv)
