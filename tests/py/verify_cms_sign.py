#!/usr/bin/env python3
"""Independent detached CMS signer for the verification-service tests.

Usage: verify_cms_sign.py CERT_PEM KEY_PEM MESSAGE_FILE OUT_DER

Writes a detached CMS SignedData (RFC 5652) over the bytes of MESSAGE_FILE to
OUT_DER: one SignerInfo (issuerAndSerialNumber of CERT_PEM), signed attributes
content-type (id-data) and message-digest, and CERT_PEM carried in `certificates`.

  Ed25519  digest SHA-512, signature id-Ed25519 (RFC 8419)
  ECDSA    digest SHA-256 (P-256) or SHA-384 (P-384), ecdsa-with-SHA256/384
  RSA      digest SHA-256, rsaEncryption (PKCS#1 v1.5)

OpenSSL 3.0's `openssl cms -sign` cannot sign with Ed25519 ("invalid digest"), and
pyca/cryptography's PKCS7SignatureBuilder only takes RSA and EC keys, so the DER is
assembled here by hand and only the signature primitive comes from pyca/cryptography.
It deliberately shares no code with paypki. Any failure exits non-zero.
"""

import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa


def fail(message):
    print(f"verify_cms_sign.py: {message}", file=sys.stderr)
    sys.exit(1)


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def set_of(*items):
    # DER: the elements of a SET OF in ascending order of their encodings.
    return tlv(0x31, b"".join(sorted(items)))


def oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return tlv(0x06, bytes(out))


def integer(value):
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=False))


def octets(data):
    return tlv(0x04, data)


NULL = b"\x05\x00"
ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
SHA256 = ("2.16.840.1.101.3.4.2.1", hashes.SHA256())
SHA384 = ("2.16.840.1.101.3.4.2.2", hashes.SHA384())
SHA512 = ("2.16.840.1.101.3.4.2.3", hashes.SHA512())


def main(argv):
    if len(argv) != 5:
        fail("usage: verify_cms_sign.py CERT_PEM KEY_PEM MESSAGE_FILE OUT_DER")
    cert_path, key_path, message_path, out_path = argv[1:5]
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(message_path, "rb") as f:
        message = f.read()

    if isinstance(key, ed25519.Ed25519PrivateKey):
        (digest_oid, digest) = SHA512
        signature_algorithm = seq(oid("1.3.101.112"))
        sign = key.sign
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name == "secp384r1":
            (digest_oid, digest), sig_oid = SHA384, "1.2.840.10045.4.3.3"
        else:
            (digest_oid, digest), sig_oid = SHA256, "1.2.840.10045.4.3.2"
        signature_algorithm = seq(oid(sig_oid))
        sign = lambda data: key.sign(data, ec.ECDSA(digest))  # noqa: E731
    elif isinstance(key, rsa.RSAPrivateKey):
        (digest_oid, digest) = SHA256
        signature_algorithm = seq(oid("1.2.840.113549.1.1.1"), NULL)
        sign = lambda data: key.sign(data, padding.PKCS1v15(), digest)  # noqa: E731
    else:
        fail(f"unsupported key type {type(key).__name__}")

    h = hashes.Hash(digest)
    h.update(message)
    message_digest = h.finalize()
    digest_algorithm = seq(oid(digest_oid))

    attributes = [
        seq(oid(ID_CONTENT_TYPE), set_of(oid(ID_DATA))),
        seq(oid(ID_MESSAGE_DIGEST), set_of(octets(message_digest))),
    ]
    # RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF...
    signed_attributes = set_of(*attributes)
    signature = sign(signed_attributes)
    # ... and they are carried as [0] IMPLICIT.
    carried_attributes = b"\xa0" + signed_attributes[1:]

    issuer_and_serial = seq(cert.issuer.public_bytes(), integer(cert.serial_number))
    signer_info = seq(
        integer(1),
        issuer_and_serial,
        digest_algorithm,
        carried_attributes,
        signature_algorithm,
        octets(signature),
    )
    certificate_der = cert.public_bytes(serialization.Encoding.DER)
    signed_data = seq(
        integer(1),
        set_of(digest_algorithm),
        seq(oid(ID_DATA)),  # detached: no eContent
        tlv(0xA0, certificate_der),
        set_of(signer_info),
    )
    content_info = seq(oid(ID_SIGNED_DATA), tlv(0xA0, signed_data))
    with open(out_path, "wb") as f:
        f.write(content_info)


if __name__ == "__main__":
    main(sys.argv)
