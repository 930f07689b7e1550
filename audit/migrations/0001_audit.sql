-- The audit store: append-only events in a hash chain, and signed checkpoints of its head.
PRAGMA application_id = 1953456737; -- 'toba': a tobira audit store

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,   -- per-node sequence, from 1, no gaps
    node      TEXT NOT NULL,
    time      TEXT NOT NULL,         -- RFC 3339 UTC, nanoseconds
    kind      TEXT NOT NULL,
    actor     TEXT,
    subject   TEXT,
    place     TEXT,
    outcome   TEXT NOT NULL CHECK (outcome IN ('granted', 'denied', 'info', 'alarm')),
    reason    TEXT NOT NULL,
    article   TEXT,
    score     REAL,
    details   TEXT NOT NULL,         -- canonical JSON
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
);
-- Period queries use this index; its keys only grow, so it costs appends little.
CREATE INDEX events_time ON events(time);

-- Who and where: postings derived from `events`, maintained behind the appends (by the writer when idle,
-- and before any query), not inside them. Random-key indexes in the append transaction cost about two
-- thirds of grouped throughput; a door must never wait for an auditor's index. `meta.indexed_upto` says how
-- far the postings reach; everything after it is indexed before a query runs.
CREATE TABLE event_people (
    person TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (person, seq)
) WITHOUT ROWID;

CREATE TABLE event_places (
    place TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (place, seq)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
    seq       INTEGER PRIMARY KEY,   -- the event seq the checkpoint covers (chain head)
    head      BLOB NOT NULL,
    time      TEXT NOT NULL,
    signature BLOB NOT NULL
);

-- A belt beside the chain's braces: history is not edited, and nothing younger than 7 years is deleted
-- (000 §9(3), 003 §17). Someone with root can drop these; the hash chain and signatures still catch it.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER events_keep_seven_years BEFORE DELETE ON events
WHEN old.time > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 years')
BEGIN
    SELECT RAISE(ABORT, 'audit events are kept at least 7 years (000 §9(3), 003 §17)');
END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
