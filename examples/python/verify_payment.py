#!/usr/bin/env python3
"""Verify a signed payment message with paypki's verification service (POST /v1/verify).

What a gateway or bank does for every signed message it receives: send the message,
the signature and the signer's certificate to the CA, and act on the verdict.

    PAYPKI_URL=http://127.0.0.1:8080 python3 verify_payment.py \
        --cert merchant/cert.pem --message order.json --signature order.sig \
        --require-role merchant

Exit status: 0 valid; 1 not valid (the CA answered with a reason); 2 the request is wrong
(the CA refused it: 400, 413, 415) or the arguments are; 3 no answer after the retries
(unreachable, time-out, 429, 5xx). A caller must fail closed on 3: no answer is not
"valid" (docs/verification.md, "What a caller must handle").

Needs `requests` (pip install requests).
"""

import argparse
import base64
import os
import random
import sys
import time

import requests

#: Where the CA is, unless --url says otherwise.
DEFAULT_URL = os.environ.get("PAYPKI_URL", "http://127.0.0.1:8080")

#: HTTP statuses after which the same request may succeed: the CA could not read its
#: records (503 unavailable), the request timed out (503 timeout), a fault (500), or a
#: proxy in front answered 502/504/429.
RETRYABLE = {429, 500, 502, 503, 504}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def verify(url, body, attempts, timeout):
    """POST the request, retrying what may succeed later. Returns (verdict, None) or
    (None, (exit_status, explanation))."""
    delay = 0.2
    last = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(f"{url}/v1/verify", json=body, timeout=timeout)
        except requests.RequestException as e:
            # Verification changes nothing on the CA: a retry is always safe.
            last = f"cannot reach {url}: {e}"
        else:
            if response.status_code == 200:
                return response.json(), None
            problem = problem_detail(response)
            if response.status_code not in RETRYABLE:
                return None, (2, f"the CA refused the request (HTTP {response.status_code}): {problem}")
            last = f"HTTP {response.status_code}: {problem}"
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = max(delay, float(retry_after))
        if attempt < attempts:
            # Exponential back-off with jitter, so that many gateways do not retry in step.
            time.sleep(delay * (0.5 + random.random()))
            delay *= 2
    return None, (3, f"no answer after {attempts} attempts: {last}")


def problem_detail(response):
    """The `detail` of an RFC 9457 problem document, or the body."""
    try:
        return response.json().get("detail", response.text)
    except ValueError:
        return response.text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="the CA (default: $PAYPKI_URL)")
    parser.add_argument("--cert", required=True, help="the signer's certificate, PEM")
    parser.add_argument("--message", required=True, help="the signed message, as received")
    parser.add_argument("--signature", required=True, help="the signature: raw bytes, or DER CMS with --cms")
    parser.add_argument("--cms", action="store_true", help="the signature is detached CMS / PKCS#7")
    parser.add_argument("--require-role", choices=["buyer", "merchant", "bank", "gateway"])
    parser.add_argument("--attempts", type=int, default=4, help="tries for retryable failures")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per attempt")
    args = parser.parse_args()

    try:
        body = {
            "certificate": open(args.cert).read(),
            "message": b64(open(args.message, "rb").read()),
            "signature": b64(open(args.signature, "rb").read()),
        }
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.cms:
        body["format"] = "cms"
    if args.require_role:
        body["require_role"] = args.require_role

    verdict, failure = verify(args.url.rstrip("/"), body, args.attempts, args.timeout)
    if failure:
        status, explanation = failure
        print(f"no verdict: {explanation}", file=sys.stderr)
        return status
    if verdict["valid"]:
        signer = verdict["signer"]
        print(f"valid: {signer['subject']} ({signer['role']}, serial {signer['serial']}), {verdict['algorithm']}")
        return 0
    # A verdict: the same request gets the same answer, so it is not retried. The one
    # exception, reason "unavailable", comes only inside batches.
    print(f"not valid: {verdict['reason']}: {verdict['message']}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
