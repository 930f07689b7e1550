-- The central store of a multi-node site (issue 7). Each node connects with its own database role and
-- client certificate; row-level security lets it write and read only its own audit rows.

CREATE TABLE nodes (
    id         TEXT PRIMARY KEY,
    db_role    TEXT NOT NULL UNIQUE,          -- the PostgreSQL role (= the CN of its client certificate)
    public_key BYTEA NOT NULL,                -- Ed25519, verifies its checkpoints and tree heads
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE audit_events (
    node        TEXT NOT NULL REFERENCES nodes(id),
    seq         BIGINT NOT NULL CHECK (seq > 0),
    time        TEXT NOT NULL,                -- the node's clock, as hashed
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),  -- the centre's clock: a skew is visible
    kind        TEXT NOT NULL,
    actor       TEXT,
    subject     TEXT,
    place       TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('granted', 'denied', 'info', 'alarm')),
    reason      TEXT NOT NULL,
    article     TEXT,
    score       DOUBLE PRECISION,
    details     TEXT NOT NULL,
    prev_hash   BYTEA NOT NULL CHECK (length(prev_hash) = 32),
    hash        BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (node, seq)
);
-- An auditor's questions: one person (as actor or subject) over a period, across nodes.
CREATE INDEX audit_events_subject_time ON audit_events (subject, time);
CREATE INDEX audit_events_actor_time ON audit_events (actor, time);

-- Chain continuity at ingest: event n links to the stored event n-1 of the same node. A gap or a fork is
-- refused with its own SQLSTATE, so the node's shipper and the centre's alarms can tell them apart.
CREATE FUNCTION audit_chain_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev BYTEA;
BEGIN
    IF NEW.seq = 1 THEN
        IF NEW.prev_hash <> decode(repeat('00', 32), 'hex') THEN
            RAISE EXCEPTION 'fork: node % event 1 does not start a chain', NEW.node USING ERRCODE = 'TB002';
        END IF;
        RETURN NEW;
    END IF;
    SELECT hash INTO prev FROM audit_events WHERE node = NEW.node AND seq = NEW.seq - 1;
    IF prev IS NULL THEN
        RAISE EXCEPTION 'gap: node % event % arrives before event %', NEW.node, NEW.seq, NEW.seq - 1
            USING ERRCODE = 'TB001';
    END IF;
    IF prev <> NEW.prev_hash THEN
        RAISE EXCEPTION 'fork: node % event % does not link to the stored event %', NEW.node, NEW.seq, NEW.seq - 1
            USING ERRCODE = 'TB002';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_chain BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_chain_check();

-- History is never rewritten, by anyone.
CREATE FUNCTION audit_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'TB003';
END
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_immutable();

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY node_inserts_own ON audit_events FOR INSERT
    WITH CHECK (node = (SELECT id FROM nodes WHERE db_role = current_user));
CREATE POLICY node_reads_own ON audit_events FOR SELECT
    USING (node = (SELECT id FROM nodes WHERE db_role = current_user));
