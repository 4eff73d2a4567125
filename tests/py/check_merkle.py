#!/usr/bin/env python3
"""Independent check of paypki's transparency log proofs, written from RFC 9162 §2.1 only.

Usage: check_merkle.py REQUEST_JSON

REQUEST_JSON is a file holding one JSON object (hashes and entries base64):
  {"entries": [...]}                     -> {"root": MTH of the entries, "leaf_hashes": [...]}
  {"inclusion": {"leaf_hash", "leaf_index", "tree_size", "root_hash", "proof": [...]}}
                                         -> {"inclusion_valid": bool}
  {"inclusions": [{...as above...}, ...]} -> {"inclusions_valid": [bool, ...]}
  {"consistency": {"first", "second", "first_root", "second_root", "proof": [...]}}
                                         -> {"consistency_valid": bool}
Several keys may be given at once; each answer appears in the one JSON object printed.

Proofs are checked twice: with the verification algorithms of §2.1.3.2 and §2.1.4.2,
and (when the entries are given) by recomputing PATH and PROOF from the entries with the
recursive definitions of §2.1.3.1 and §2.1.4.1 and comparing. It shares no code with
paypki: it is the second opinion for the Rust integration tests.
"""

import base64
import hashlib
import json
import sys


def H(data):
    return hashlib.sha256(data).digest()


def leaf_hash(entry):
    # §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))
    return H(b"\x00" + entry)


def node(left, right):
    # §2.1.1: HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
    return H(b"\x01" + left + right)


def largest_power_below(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries):
    n = len(entries)
    if n == 0:
        return H(b"")
    if n == 1:
        return leaf_hash(entries[0])
    k = largest_power_below(n)
    return node(mth(entries[:k]), mth(entries[k:]))


def path(m, entries):
    # §2.1.3.1 PATH(m, D[n])
    n = len(entries)
    if n == 1:
        return []
    k = largest_power_below(n)
    if m < k:
        return path(m, entries[:k]) + [mth(entries[k:])]
    return path(m - k, entries[k:]) + [mth(entries[:k])]


def subproof(m, entries, b):
    # §2.1.4.1 SUBPROOF(m, D[n], b)
    n = len(entries)
    if m == n:
        return [] if b else [mth(entries)]
    k = largest_power_below(n)
    if m <= k:
        return subproof(m, entries[:k], b) + [mth(entries[k:])]
    return subproof(m - k, entries[k:], False) + [mth(entries[:k])]


def verify_inclusion(leaf, index, size, proof, root):
    # §2.1.3.2
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    # §2.1.4.2
    if first == second:
        return not proof and first_root == second_root
    if first == 0 or first > second:
        return False
    if first & (first - 1) == 0:  # a power of two
        proof = [first_root] + proof
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    if fn & 1:
        while fn & 1:
            fn >>= 1
            sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def b64d(text):
    return base64.b64decode(text, validate=True)


def b64e(data):
    return base64.b64encode(data).decode()


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1]) as f:
        request = json.load(f)
    answer = {}
    entries = None
    if "entries" in request:
        entries = [b64d(e) for e in request["entries"]]
        answer["root"] = b64e(mth(entries))
        answer["leaf_hashes"] = [b64e(leaf_hash(e)) for e in entries]
    def inclusion(q):
        proof = [b64d(p) for p in q["proof"]]
        ok = verify_inclusion(
            b64d(q["leaf_hash"]), q["leaf_index"], q["tree_size"], proof, b64d(q["root_hash"])
        )
        if entries is not None and len(entries) >= q["tree_size"]:
            tree = entries[: q["tree_size"]]
            ok = ok and path(q["leaf_index"], tree) == proof and mth(tree) == b64d(q["root_hash"])
            ok = ok and leaf_hash(entries[q["leaf_index"]]) == b64d(q["leaf_hash"])
        return ok

    if "inclusion" in request:
        answer["inclusion_valid"] = inclusion(request["inclusion"])
    if "inclusions" in request:
        answer["inclusions_valid"] = [inclusion(q) for q in request["inclusions"]]
    if "consistency" in request:
        q = request["consistency"]
        proof = [b64d(p) for p in q["proof"]]
        ok = verify_consistency(
            q["first"], q["second"], b64d(q["first_root"]), b64d(q["second_root"]), proof
        )
        if entries is not None and len(entries) >= q["second"]:
            ok = ok and subproof(q["first"], entries[: q["second"]], True) == proof
        answer["consistency_valid"] = ok
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
