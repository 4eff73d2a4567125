#!/usr/bin/env python3
"""OCSP responses for the tests of the OCSP examples (examples/*/ocsp_check, OcspCheck).

Usage: forge_ocsp.py KIND LEAF_PEM ISSUER_PEM ISSUER_KEY_PEM OUT_DER

Every response says "good" for LEAF (SHA-1 CertID, as RFC 5019 clients send), is signed
by a delegated responder whose certificate travels in the response, and differs from a
trustworthy one in exactly the way KIND names:

  delegated-ok  nothing: a responder certificate issued by ISSUER's key, with
                id-kp-OCSPSigning and id-pkix-ocsp-nocheck, valid now (the control: it
                must be accepted, so that the refusals below are for the stated reason)
  rogue-ca      the responder certificate is issued by another CA that has ISSUER's
                name (only its key differs): RFC 6960 §4.2.2.2 "issued directly by the CA"
  no-eku        the responder certificate is issued by ISSUER's key but without
                id-kp-OCSPSigning
  stale         nextUpdate an hour ago

Any failure exits non-zero.
"""

import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KINDS = ("delegated-ok", "rogue-ca", "no-eku", "stale")


def responder_certificate(kind, issuer, issuer_key, now):
    """A responder key and certificate, signed as KIND says."""
    key = ec.generate_private_key(ec.SECP256R1())
    signer_key = issuer_key
    if kind == "rogue-ca":
        # A CA of its own that copies the real issuing CA's name.
        signer_key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if kind == "no-eku" else [ExtendedKeyUsageOID.OCSP_SIGNING]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test responder ({kind})")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=2))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False
        )
    )
    return key, builder.sign(signer_key, hashes.SHA256())


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in KINDS:
        sys.exit(f"usage: forge_ocsp.py {{{'|'.join(KINDS)}}} LEAF ISSUER ISSUER_KEY OUT")
    kind, leaf_path, issuer_path, key_path, out_path = sys.argv[1:]
    leaf = x509.load_pem_x509_certificate(open(leaf_path, "rb").read())
    issuer = x509.load_pem_x509_certificate(open(issuer_path, "rb").read())
    issuer_key = serialization.load_pem_private_key(open(key_path, "rb").read(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    key, cert = responder_certificate(kind, issuer, issuer_key, now)
    this_update, next_update = now - datetime.timedelta(minutes=1), now + datetime.timedelta(hours=4)
    if kind == "stale":
        this_update, next_update = now - datetime.timedelta(hours=3), now - datetime.timedelta(hours=1)
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=issuer,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=this_update,
            next_update=next_update,
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, cert)
        .certificates([cert])
        .sign(key, hashes.SHA256())
    )
    with open(out_path, "wb") as f:
        f.write(response.public_bytes(serialization.Encoding.DER))


if __name__ == "__main__":
    main()
