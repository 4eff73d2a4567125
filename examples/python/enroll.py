#!/usr/bin/env python3
"""Enroll with paypki: a key made here, a CSR, POST /v1/enroll with a one-time token.

    PAYPKI_URL=http://127.0.0.1:8080 python3 enroll.py --token ppt_… --out-dir merchant

Writes OUT_DIR/key.pem (PKCS#8, 0600), cert.pem and chain.pem (the issuing CA, then the
root) and prints the serial.

The private key never leaves this machine: only the CSR (the public key, signed with the
private key as proof of possession) is sent. The key is written *before* the request,
so that an answer lost on the way (a broken connection after the CA issued) can be
fetched again: the same token with a CSR of the same key gets the certificate the token
already produced (HTTP 200 instead of 201), while the token alone cannot be used twice.
Running this program again with the same token and --out-dir does exactly that.

Exit status: 0 enrolled; 1 refused (the problem's detail is printed); 2 bad arguments;
3 no answer after the retries (the key is kept: run the same command again).

Needs `requests` and `cryptography` (pip install requests cryptography).
"""

import argparse
import os
import random
import sys
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEFAULT_URL = os.environ.get("PAYPKI_URL", "http://127.0.0.1:8080")
RETRYABLE = {429, 500, 502, 503, 504}


def load_or_make_key(key_path, cert_path):
    """The key of an earlier attempt whose answer was lost, or a new ECDSA P-256 key,
    written 0600 before anything is sent. Returns (key, made_now)."""
    if os.path.exists(key_path):
        if os.path.exists(cert_path):
            raise SystemExit(f"error: {key_path} and {cert_path} exist: this directory is enrolled")
        print(f"{key_path} exists without a certificate: enrolling with that key", file=sys.stderr)
        with open(key_path, "rb") as f:
            return serialization.load_pem_private_key(f.read(), password=None), False
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: never overwrite a key; 0600 from the start, not chmod afterwards.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key, True


def csr_pem(key):
    """A CSR with an empty subject: the token decides the names, the policy the rest."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def enroll(url, token, csr, attempts, timeout):
    """Returns (answer, None) or (None, (exit_status, explanation))."""
    delay = 0.5
    last = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(f"{url}/v1/enroll", json={"token": token, "csr": csr}, timeout=timeout)
        except requests.RequestException as e:
            # The CA may have issued before the connection broke: retrying with the same
            # key is safe, it answers 200 with that certificate.
            last = f"cannot reach {url}: {e}"
        else:
            if response.status_code in (200, 201):
                return response.json(), None
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            if response.status_code not in RETRYABLE:
                return None, (1, f"HTTP {response.status_code}: {detail}")
            last = f"HTTP {response.status_code}: {detail}"
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = max(delay, float(retry_after))
        if attempt < attempts:
            time.sleep(delay * (0.5 + random.random()))
            delay *= 2
    return None, (3, f"no answer after {attempts} attempts: {last}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="the CA (default: $PAYPKI_URL)")
    parser.add_argument("--token", required=True, help="the one-time enrollment token")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--attempts", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    os.makedirs(args.out_dir, exist_ok=True)
    key_path = os.path.join(args.out_dir, "key.pem")
    cert_path = os.path.join(args.out_dir, "cert.pem")
    key, made_now = load_or_make_key(key_path, cert_path)
    answer, failure = enroll(args.url.rstrip("/"), args.token.strip(), csr_pem(key), args.attempts, args.timeout)
    if failure:
        status, explanation = failure
        if status == 3:
            print(f"error: {explanation}; {key_path} is kept: run the same command again", file=sys.stderr)
        else:
            if made_now:
                os.remove(key_path)  # refused: no certificate exists for this key
            print(f"error: {explanation}", file=sys.stderr)
        return status
    with open(cert_path, "w") as f:
        f.write(answer["certificate"])
    with open(os.path.join(args.out_dir, "chain.pem"), "w") as f:
        f.write(answer["chain"])
    print(answer["serial"])
    print(f"enrolled as {answer['subject']} ({answer['role']}), valid until {answer['not_after']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
