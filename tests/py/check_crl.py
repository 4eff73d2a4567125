#!/usr/bin/env python3
"""Independent check of a CRL from paypki, with pyca/cryptography.

Usage: check_crl.py CRL_DER ISSUER_PEM

Loads the DER CRL, verifies its signature with the issuer's public key
(`is_signature_valid`), checks the issuer name, and prints one JSON object on stdout:
  {crl_number, this_update, next_update, issuer_matches, signature_valid,
   entries: [{serial, revocation_date, reason, invalidity_date}]}
A CRL whose signature does not verify exits non-zero.

This shares no code with paypki: it is the second opinion for the Rust integration tests.
"""

import json
import sys

from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID


def fail(message):
    print(f"check_crl.py: {message}", file=sys.stderr)
    sys.exit(1)


def serial_hex(number):
    """Lowercase hex of the magnitude octets (even length, like paypki prints it)."""
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big").hex()


def iso(value):
    return value.isoformat() if value is not None else None


def utc(obj, name):
    """`name_utc` where cryptography has it (>= 42), else the naive `name`."""
    aware = getattr(obj, f"{name}_utc", None)
    return aware if aware is not None else getattr(obj, name)


def entry_extension(entry, oid):
    try:
        return entry.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None


def main(argv):
    if len(argv) != 3:
        fail("usage: check_crl.py CRL_DER ISSUER_PEM")
    with open(argv[1], "rb") as handle:
        data = handle.read()
    with open(argv[2], "rb") as handle:
        issuer = x509.load_pem_x509_certificate(handle.read())
    try:
        crl = x509.load_der_x509_crl(data)
    except ValueError as e:
        fail(f"not a DER CRL: {e}")

    if not crl.is_signature_valid(issuer.public_key()):
        fail("the CRL signature does not verify with the issuer's public key")

    try:
        number = crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number
    except x509.ExtensionNotFound:
        fail("the CRL has no cRLNumber")

    entries = []
    for entry in crl:
        reason = entry_extension(entry, CRLEntryExtensionOID.CRL_REASON)
        invalidity = entry_extension(entry, CRLEntryExtensionOID.INVALIDITY_DATE)
        entries.append(
            {
                "serial": serial_hex(entry.serial_number),
                "revocation_date": iso(utc(entry, "revocation_date")),
                "reason": reason.reason.value if reason is not None else None,
                "invalidity_date": iso(
                    getattr(invalidity, "invalidity_date_utc", None)
                    or invalidity.invalidity_date
                )
                if invalidity is not None
                else None,
            }
        )

    summary = {
        "crl_number": number,
        "this_update": iso(utc(crl, "last_update")),
        "next_update": iso(utc(crl, "next_update")),
        "issuer": crl.issuer.rfc4514_string(),
        "issuer_matches": crl.issuer == issuer.subject,
        "signature_valid": True,
        "entries": entries,
    }
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv)
