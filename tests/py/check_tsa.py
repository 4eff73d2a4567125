#!/usr/bin/env python3
"""Independent check of an RFC 3161 TimeStampToken made by paypki's TSA, with
pyca/cryptography.

Usage: check_tsa.py TOKEN_OR_REPLY_DER ROOT_PEM DATA_FILE

TOKEN_OR_REPLY_DER is a TimeStampResp (.tsr) or a bare TimeStampToken (DER). The
script:
  * loads the certificates the token carries, finds the TSA certificate and checks its profile (RFC 3161 2.3): extendedKeyUsage
    critical with id-kp-timeStamping alone, digitalSignature, not a CA;
  * verifies the chain TSA <- issuing CA <- root by signature
    (verify_directly_issued_by) and that the root is the given one;
  * walks the CMS structure with a small DER reader (cryptography has no CMS
    verifier): checks the messageDigest attribute against SHA-256/384/512 of the
    TSTInfo, the content-type attribute, the ESSCertIDv2 hash of the TSA certificate,
    the imprint against the hash of DATA_FILE, and verifies the signature over the
    DER SET OF signed attributes with the TSA certificate's public key.
Prints one JSON object on stdout; any failure exits non-zero with a message on stderr.

It shares no code with paypki: it is the second opinion the Rust tests compare against.
"""

import hashlib
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def tlv(data, offset=0):
    """One DER TLV at offset: (tag, header_length, content_start, end)."""
    tag = data[offset]
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    return tag, start, start + length


def children(data, start, end):
    items = []
    while start < end:
        tag, content, stop = tlv(data, start)
        items.append((tag, start, content, stop))
        start = stop
    return items


def oid_text(content):
    first = content[0]
    arcs = [first // 40, first % 40]
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(str(a) for a in arcs)


HASHES = {
    "2.16.840.1.101.3.4.2.1": ("sha256", hashes.SHA256()),
    "2.16.840.1.101.3.4.2.2": ("sha384", hashes.SHA384()),
    "2.16.840.1.101.3.4.2.3": ("sha512", hashes.SHA512()),
}


def main():
    token_path, root_path, data_path = sys.argv[1:4]
    data = open(token_path, "rb").read()
    root = x509.load_pem_x509_certificate(open(root_path, "rb").read())
    # A TimeStampResp is SEQUENCE { PKIStatusInfo, ContentInfo }: take the second.
    _, content, end = tlv(data)
    parts = children(data, content, end)
    first_inner = children(data, parts[0][2], parts[0][3])
    if parts[0][0] == 0x30 and first_inner and first_inner[0][0] == 0x02:
        if len(parts) < 2:
            fail("the reply holds no token")
        token = data[parts[1][1]:parts[1][3]]
    else:
        token = data

    # ContentInfo { contentType, [0] SignedData }
    _, ci, ci_end = tlv(token)
    ci_parts = children(token, ci, ci_end)
    _, sd_outer, _ = tlv(token, ci_parts[1][1])
    _, sd, sd_end = tlv(token, sd_outer)
    sd_parts = children(token, sd, sd_end)
    # version, digestAlgorithms, encapContentInfo, [0] certificates?, [1] crls?, signerInfos
    # (pkcs7.load_der_pkcs7_certificates would do, but cryptography 48 does not know the
    # id-ct-TSTInfo content type and warns that it falls back to BER.)
    certs = []
    for part in sd_parts[3:-1]:
        if part[0] == 0xA0:
            for cert in children(token, part[2], part[3]):
                certs.append(x509.load_der_x509_certificate(token[cert[1]:cert[3]]))
    tsa = None
    issuing = None
    for cert in certs:
        try:
            eku = cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
        except x509.ExtensionNotFound:
            issuing = cert
            continue
        tsa = cert
        tsa_eku = eku
    if tsa is None:
        fail("no TSA certificate (with an extendedKeyUsage) in the token")
    if not tsa_eku.critical or list(tsa_eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        fail("the TSA certificate's EKU is not id-kp-timeStamping alone and critical")
    ku = tsa.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    if not ku.digital_signature:
        fail("the TSA certificate lacks digitalSignature")
    bc = tsa.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    if bc.ca:
        fail("the TSA certificate is a CA")
    if issuing is None:
        fail("no issuing CA certificate in the token")
    tsa.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)

    encap = sd_parts[2]
    encap_parts = children(token, encap[2], encap[3])
    if oid_text(token[encap_parts[0][2]:encap_parts[0][3]]) != "1.2.840.113549.1.9.16.1.4":
        fail("the content type is not id-ct-TSTInfo")
    _, explicit, _ = tlv(token, encap_parts[1][1])
    _, octets, octets_end = tlv(token, explicit)
    tst = token[octets:octets_end]
    signer_infos = sd_parts[-1]
    signer = children(token, signer_infos[2], signer_infos[3])[0]
    fields = children(token, signer[2], signer[3])
    # version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature
    digest_alg = children(token, fields[2][2], fields[2][3])[0]
    digest_name, digest_hash = HASHES[oid_text(token[digest_alg[2]:digest_alg[3]])]
    attrs = fields[3]
    if attrs[0] != 0xA0:
        fail("no signed attributes")
    signed = bytes([0x31]) + token[attrs[1] + 1:attrs[3]]
    found = {}
    for attr in children(token, attrs[2], attrs[3]):
        attr_parts = children(token, attr[2], attr[3])
        oid = oid_text(token[attr_parts[0][2]:attr_parts[0][3]])
        values = children(token, attr_parts[1][2], attr_parts[1][3])
        found[oid] = token[values[0][1]:values[0][3]]
    md = found.get("1.2.840.113549.1.9.4")
    if md is None or md[2:] != hashlib.new(digest_name, tst).digest():
        fail("the messageDigest attribute is not the digest of the TSTInfo")
    ct = found.get("1.2.840.113549.1.9.3")
    if ct is None or oid_text(ct[2:]) != "1.2.840.113549.1.9.16.1.4":
        fail("the content-type attribute is not id-ct-TSTInfo")
    ess = found.get("1.2.840.113549.1.9.16.2.47")
    if ess is None:
        fail("no signing-certificate-v2 attribute")
    tsa_der = tsa.public_bytes(Encoding.DER)
    if hashlib.sha256(tsa_der).digest() not in ess:
        fail("signing-certificate-v2 does not hold the SHA-256 of the TSA certificate")
    signature = token[fields[-1][2]:fields[-1][3]]
    key = tsa.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, signed, ec.ECDSA(digest_hash))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, signed, padding.PKCS1v15(), digest_hash)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, signed)
    else:
        fail("unexpected TSA key type")

    # TSTInfo { version, policy, messageImprint { alg, digest }, serialNumber, genTime, ... }
    _, tst_content, tst_end = tlv(tst)
    tst_parts = children(tst, tst_content, tst_end)
    policy = oid_text(tst[tst_parts[1][2]:tst_parts[1][3]])
    imprint = children(tst, tst_parts[2][2], tst_parts[2][3])
    imprint_alg = children(tst, imprint[0][2], imprint[0][3])[0]
    imprint_name, _ = HASHES[oid_text(tst[imprint_alg[2]:imprint_alg[3]])]
    message = tst[imprint[1][2]:imprint[1][3]]
    expected = hashlib.new(imprint_name, open(data_path, "rb").read()).digest()
    if message != expected:
        fail("the imprint is not the digest of the data")
    serial = tst[tst_parts[3][2]:tst_parts[3][3]].hex()
    gen_time = tst[tst_parts[4][2]:tst_parts[4][3]].decode()
    print(json.dumps({
        "tsa_subject": tsa.subject.rfc4514_string(),
        "policy": policy,
        "serial": serial,
        "gen_time": gen_time,
        "imprint_hash": imprint_name,
        "signature_ok": True,
        "chain_ok": True,
    }))


if __name__ == "__main__":
    main()
