-- paypki schema 1: everything the sled store keeps, one table per tree.
-- Keys that sled orders as bytes are bytea (memcmp order) or text COLLATE "C" (byte
-- order), so listings come out in the same order on both backends.
-- Records are JSON (jsonb) exactly as sled stores them; the columns beside them are what
-- the indexes and the conditional updates need.

-- Small named values: the admin credential hash.
CREATE TABLE meta (
    key text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);

-- Monotonic counters (CRL numbers).
CREATE TABLE counters (
    name text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);

-- Serials reserved before signing (the primary key makes a serial single-use); plan is
-- NULL for serials reserved by an import.
CREATE TABLE serials (
    serial bytea PRIMARY KEY,
    plan jsonb
);

-- Issued certificates. role/status use sled's index bytes; not_after is Unix seconds.
CREATE TABLE certificates (
    serial bytea PRIMARY KEY,
    role smallint NOT NULL,
    status smallint NOT NULL,
    not_after bigint NOT NULL,
    issuer bigint NOT NULL,
    participant text COLLATE "C",
    record jsonb NOT NULL
);
CREATE INDEX certificates_by_role ON certificates (role, serial);
CREATE INDEX certificates_by_status ON certificates (status, serial);
CREATE INDEX certificates_by_expiry ON certificates (not_after, serial);
CREATE INDEX certificates_by_participant ON certificates (participant, serial)
    WHERE participant IS NOT NULL;

-- Revoked serials (with or without a certificate record), for CRLs and OCSP.
CREATE TABLE revoked (
    serial bytea PRIMARY KEY,
    reason smallint NOT NULL,
    revoked_at bigint NOT NULL,
    invalidity_date bigint,
    not_after bigint NOT NULL,
    issuer bigint NOT NULL
);

-- Enrollment tokens.
CREATE TABLE tokens (
    id text COLLATE "C" PRIMARY KEY,
    record jsonb NOT NULL
);

-- Renewals: child replaced parent.
CREATE TABLE children (
    parent bytea NOT NULL,
    child bytea NOT NULL,
    PRIMARY KEY (parent, child)
);

-- Used renewal proofs (single use until they expire, Unix seconds).
CREATE TABLE renewal_proofs (
    digest bytea PRIMARY KEY,
    expires bigint NOT NULL
);

-- Renewed parents to revoke as superseded when due (Unix seconds).
CREATE TABLE supersede (
    due bigint NOT NULL,
    serial bytea NOT NULL,
    PRIMARY KEY (due, serial)
);

CREATE TABLE officers (
    name text COLLATE "C" PRIMARY KEY,
    record jsonb NOT NULL
);

-- Requests under dual control; requested_ns (Unix nanoseconds) orders the listing.
CREATE TABLE approvals (
    id text COLLATE "C" PRIMARY KEY,
    requested_ns bigint NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX approvals_by_time ON approvals (requested_ns, id);

-- Role and status are sled's role byte and 1 active, 2 suspended, 3 terminated.
CREATE TABLE participants (
    id text COLLATE "C" PRIMARY KEY,
    role smallint NOT NULL,
    status smallint NOT NULL,
    record jsonb NOT NULL
);

-- The hash-chained audit trail.
CREATE TABLE audit (
    seq bigint PRIMARY KEY,
    entry jsonb NOT NULL
);

-- The one row every auditing transaction locks (SELECT … FOR UPDATE) before it appends:
-- the chain head, and the id of the last revocation event, numbered under the same lock.
CREATE TABLE audit_head (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq bigint NOT NULL,
    hash text NOT NULL,
    last_event bigint NOT NULL
);
INSERT INTO audit_head (id, seq, hash, last_event)
VALUES (true, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);

-- Certificate status changes in commit order.
CREATE TABLE revocation_events (
    id bigint PRIMARY KEY,
    event jsonb NOT NULL
);

-- The newest published CRL of each issuing CA.
CREATE TABLE crls (
    issuer bigint PRIMARY KEY,
    number bigint NOT NULL,
    crl jsonb NOT NULL
);
