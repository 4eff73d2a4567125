-- paypki schema 2: the issuance transparency log (RFC 9162 Merkle tree), appended in
-- the transactions that record certificates and status changes, under the audit_head
-- row lock, so leaf indexes are dense and in commit order.

-- The log's size, moved under the same lock as the audit chain head.
ALTER TABLE audit_head ADD COLUMN tlog_size bigint NOT NULL DEFAULT 0;

-- The entries: leaf index → the serial it is about, the encoded entry (what the leaf
-- hash is taken over) and the leaf hash.
CREATE TABLE tlog_entries (
    idx bigint PRIMARY KEY,
    serial bytea NOT NULL,
    kind smallint NOT NULL,
    leaf_hash bytea NOT NULL,
    entry bytea NOT NULL
);
CREATE INDEX tlog_entries_by_leaf ON tlog_entries (leaf_hash, idx);
CREATE INDEX tlog_entries_by_serial ON tlog_entries (serial, idx);

-- Roots of complete subtrees: (level, idx) covers leaves [idx·2^level, (idx+1)·2^level).
-- Written once, by the append that completes them; proofs read O(log n) of them.
CREATE TABLE tlog_nodes (
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (level, idx)
);
