#!/usr/bin/env python3
"""A second SM2 implementation for tests/sm2.rs: the pure-Python `gmssl` package.

Usage:
  check_sm2.py check SIGNED SIGNER_CERT_PEM
      Checks the SM2-with-SM3 signature of SIGNED (a certificate, a CRL or an OCSP
      response; PEM or DER) with the public key of SIGNER_CERT_PEM (default
      distinguishing ID 1234567812345678, GM/T 0009 / GM/T 0015), and that the same
      signature fails over a TBS with one byte changed. Prints "ok".
  check_sm2.py split SIGNED TBS_OUT SIGNATURE_OUT
      Writes the to-be-signed DER and the signature of SIGNED, for another verifier
      (`openssl pkeyutl -verify -rawin`).
  check_sm2.py sign KEY_PEM MESSAGE_FILE SIGNATURE_OUT
      Signs MESSAGE_FILE with the unencrypted PKCS#8 SM2 key KEY_PEM (default
      distinguishing ID) and writes the DER signature to SIGNATURE_OUT.

Only gmssl does the mathematics; the DER is walked here with a few lines of code, so
that nothing of paypki's or OpenSSL's parsing is involved. Any failure exits non-zero
with a message on stderr.
"""

import base64
import secrets
import sys

from gmssl import sm2

SM2_CURVE = bytes.fromhex("06082a811ccf5501822d")  # OID 1.2.156.10197.1.301
SM2_WITH_SM3 = bytes.fromhex("06082a811ccf55018375")  # OID 1.2.156.10197.1.501


def fail(message):
    sys.stderr.write(f"check_sm2.py: {message}\n")
    sys.exit(1)


def tlv(data, at=0):
    """(tag, start of contents, end of contents) of the DER element at `at`."""
    tag = data[at]
    length = data[at + 1]
    start = at + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    return tag, start, start + length


def children(data, at=0):
    """The (start, end) of each element inside the constructed element at `at`."""
    _, start, end = tlv(data, at)
    out, pos = [], start
    while pos < end:
        _, _, element_end = tlv(data, pos)
        out.append((pos, element_end))
        pos = element_end
    return out


def pem_der(path, label):
    text = open(path).read()
    begin = f"-----BEGIN {label}-----"
    if begin not in text:
        fail(f"{path}: no {label}")
    body = text.split(begin, 1)[1].split(f"-----END {label}-----", 1)[0]
    return base64.b64decode("".join(body.split()))


def crypt_sm2(private_hex, public_hex):
    """gmssl's signer/verifier for x || y. Its constructor strips a leading "04" with
    str.lstrip, which also eats a coordinate's own leading 0 and 4 digits (gmssl 3.2.2),
    so the key is set afterwards, as its methods read it."""
    engine = sm2.CryptSM2(private_key=private_hex, public_key="", asn1=True)
    engine.public_key = public_hex
    return engine


def public_key_hex(spki):
    """x || y of an SM2 SubjectPublicKeyInfo, as gmssl wants it."""
    algorithm, key = children(spki)
    if SM2_CURVE not in spki[algorithm[0]:algorithm[1]]:
        fail("the public key is not on the SM2 curve")
    _, start, end = tlv(spki, key[0])
    point = spki[start + 1:end]  # skip the BIT STRING's unused-bits octet
    if len(point) != 65 or point[0] != 4:
        fail("the public key is not an uncompressed point")
    return point[1:].hex()


def read_der(path):
    data = open(path, "rb").read()
    if data.lstrip().startswith(b"-----BEGIN"):
        label = data.split(b"-----BEGIN ", 1)[1].split(b"-----", 1)[0].decode()
        return pem_der(path, label)
    return data


def signed_parts(der):
    """TBS, signature AlgorithmIdentifier and signature of a certificate, a CRL or an
    OCSP response (RFC 6960 §4.2.1: the BasicOCSPResponse inside responseBytes)."""
    first = children(der)[0]
    if der[first[0]] == 0x0A:  # OCSPResponse: responseStatus ENUMERATED, [0] responseBytes
        _, bytes_start, _ = tlv(der, children(der)[1][0])
        _, response = children(der, bytes_start)
        _, start, end = tlv(der, response[0])
        der = der[start:end]
    tbs, algorithm, signature = children(der)[:3]
    _, start, end = tlv(der, signature[0])
    return der[tbs[0]:tbs[1]], der[algorithm[0]:algorithm[1]], der[start + 1:end]


def certificate_parts(der):
    tbs, algorithm, signature = children(der)
    fields = children(der, tbs[0])
    first = 1 if der[fields[0][0]] == 0xA0 else 0  # [0] version
    spki = fields[first + 5]
    _, start, end = tlv(der, signature[0])
    return (
        der[tbs[0]:tbs[1]],
        der[algorithm[0]:algorithm[1]],
        der[start + 1:end],
        der[spki[0]:spki[1]],
    )


def check(signed_path, signer_path):
    tbs, algorithm, signature = signed_parts(read_der(signed_path))
    if SM2_WITH_SM3 not in algorithm:
        fail(f"{signed_path} is not signed with SM2-with-SM3")
    signer_spki = certificate_parts(pem_der(signer_path, "CERTIFICATE"))[3]
    verifier = crypt_sm2(None, public_key_hex(signer_spki))
    if not verifier.verify_with_sm3(signature.hex(), tbs):
        fail(f"the signature of {signed_path} does not verify with the key of {signer_path}")
    tampered = bytearray(tbs)
    tampered[-1] ^= 1
    if verifier.verify_with_sm3(signature.hex(), bytes(tampered)):
        fail("a changed TBS verified: the check cannot fail")
    print("ok")


def sign(key_path, message_path, out_path):
    pkcs8 = pem_der(key_path, "PRIVATE KEY")
    _, algorithm, private = children(pkcs8)
    if SM2_CURVE not in pkcs8[algorithm[0]:algorithm[1]]:
        fail("not an SM2 key")
    _, start, end = tlv(pkcs8, private[0])
    ec_private_key = pkcs8[start:end]  # RFC 5915 ECPrivateKey
    _, scalar = children(ec_private_key)[:2]
    _, s_start, s_end = tlv(ec_private_key, scalar[0])
    d = int.from_bytes(ec_private_key[s_start:s_end], "big")
    n = int(sm2.default_ecc_table["n"], 16)
    # The public key x || y, which the Z value hashes: d·G by gmssl's own arithmetic.
    signer = crypt_sm2(f"{d:064x}", "")
    signer.public_key = signer._kg(d, sm2.default_ecc_table["g"])
    message = open(message_path, "rb").read()
    signature = None
    while signature is None:
        k = secrets.randbelow(n - 1) + 1
        signature = signer.sign_with_sm3(message, f"{k:064x}")
    open(out_path, "wb").write(bytes.fromhex(signature))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "split":
        tbs, _, signature = signed_parts(read_der(sys.argv[2]))
        open(sys.argv[3], "wb").write(tbs)
        open(sys.argv[4], "wb").write(signature)
    elif len(sys.argv) == 5 and sys.argv[1] == "sign":
        sign(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main()
