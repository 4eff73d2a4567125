#!/usr/bin/env python3
"""Independent signer for the verification-service tests, with pyca/cryptography.

Usage: verify_sign.py KEY_PEM MESSAGE_FILE SIGNATURE_OUT [SCHEME]

Signs the bytes of MESSAGE_FILE with the unencrypted PEM private key KEY_PEM and
writes the raw signature bytes to SIGNATURE_OUT. SCHEME (default: chosen from the
key) is one of:

  ecdsa-sha256      ECDSA (any curve) with SHA-256, DER-encoded (r, s)
  ecdsa-sha384      ECDSA (any curve) with SHA-384, DER-encoded (r, s)
  rsa-pkcs1-sha256  RSASSA-PKCS1-v1_5 with SHA-256
  rsa-pss-sha256    RSASSA-PSS with SHA-256, MGF1-SHA-256, salt length 32
  ed25519           Ed25519 (RFC 8032)

Defaults: ECDSA P-256 -> ecdsa-sha256, P-384 -> ecdsa-sha384, RSA ->
rsa-pkcs1-sha256, Ed25519 -> ed25519. Prints the scheme used on stdout. Any
failure exits non-zero with a message on stderr.

This deliberately shares no code with paypki: it is a second, independent producer
of the signatures paypki's /v1/verify must accept.
"""

import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa


def fail(message):
    print(f"verify_sign.py: {message}", file=sys.stderr)
    sys.exit(1)


def default_scheme(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ecdsa-sha384" if key.curve.name == "secp384r1" else "ecdsa-sha256"
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa-pkcs1-sha256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    fail(f"unsupported key type {type(key).__name__}")
    return None


def sign(key, scheme, message):
    if scheme == "ecdsa-sha256" and isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    if scheme == "ecdsa-sha384" and isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA384()))
    if scheme == "rsa-pkcs1-sha256" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    if scheme == "rsa-pss-sha256" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    if scheme == "ed25519" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    fail(f"scheme {scheme!r} does not fit a {type(key).__name__}")
    return None


def main(argv):
    if len(argv) not in (4, 5):
        fail("usage: verify_sign.py KEY_PEM MESSAGE_FILE SIGNATURE_OUT [SCHEME]")
    key_path, message_path, out_path = argv[1:4]
    try:
        with open(key_path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        with open(message_path, "rb") as f:
            message = f.read()
    except Exception as e:  # noqa: BLE001 - any load error is a test failure
        fail(f"cannot load the key or the message: {e}")
    scheme = argv[4] if len(argv) == 5 else default_scheme(key)
    signature = sign(key, scheme, message)
    with open(out_path, "wb") as f:
        f.write(signature)
    print(scheme)


if __name__ == "__main__":
    main(sys.argv)
