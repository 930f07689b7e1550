-- The centre checks what it is given and witnesses each node's log (issue 7 §2, §4, "Bad input").
--
-- 1. Every event's chain hash is recomputed at ingest from its fields (the canonical encoding of
--    `tobira_audit::event::canonical_hash`, byte for byte): an event whose contents do not match its hash is
--    malformed and refused with TB004, so the centre never stores a history the node's chain does not vouch for.
-- 2. The receipt time is the centre's own clock (`clock_timestamp()`, whatever a node sends); an event dated
--    in the future beyond the allowed skew, or a batch whose sender's clock is off, raises a `clock.skew`
--    alarm at the centre (once an hour per node, not a storm).
-- 3. Nodes submit signed tree heads of their Merkle logs with a consistency proof from the last head the
--    centre countersigned; the centre's witness (`tobira-central witness`) checks the proof and the head
--    against its own copy of the events before it countersigns. Countersigned heads are never rewritten.

CREATE TABLE central_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO central_settings VALUES ('max_clock_skew_s', '120');

-- What the centre noticed: alarms an auditor reviews (003 §17, §20). Written only by the centre's own
-- functions and witness; nodes cannot write or hide them.
CREATE TABLE central_alarms (
    id      BIGSERIAL PRIMARY KEY,
    node    TEXT NOT NULL REFERENCES nodes(id),
    seq     BIGINT,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL,
    at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX central_alarms_node_kind_at ON central_alarms (node, kind, at);

CREATE FUNCTION tobira_max_skew() RETURNS interval LANGUAGE sql STABLE AS $$
    SELECT make_interval(secs => COALESCE((SELECT value::float8 FROM central_settings WHERE key = 'max_clock_skew_s'), 120))
$$;

-- Raises an alarm unless the same kind was raised for the node within the hour.
CREATE FUNCTION tobira_raise(a_node TEXT, a_seq BIGINT, a_kind TEXT, a_detail TEXT) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM central_alarms
                   WHERE node = a_node AND kind = a_kind AND at > clock_timestamp() - interval '1 hour') THEN
        INSERT INTO central_alarms(node, seq, kind, detail) VALUES (a_node, a_seq, a_kind, a_detail);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION tobira_raise(TEXT, BIGINT, TEXT, TEXT) FROM PUBLIC;

-- One length-prefixed field of the canonical encoding (NULL: 0xFFFFFFFF).
CREATE FUNCTION tobira_field(b BYTEA) RETURNS BYTEA LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN b IS NULL THEN '\xffffffff'::bytea ELSE int4send(octet_length(b)) || b END
$$;

CREATE FUNCTION tobira_event_hash(node TEXT, "time" TEXT, kind TEXT, actor TEXT, subject TEXT, place TEXT,
    outcome TEXT, reason TEXT, article TEXT, score FLOAT8, details TEXT, prev BYTEA) RETURNS BYTEA
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256('\x746f626972612d61756469742d7631'::bytea  -- "tobira-audit-v1"
        || tobira_field(convert_to(node, 'UTF8')) || tobira_field(convert_to("time", 'UTF8'))
        || tobira_field(convert_to(kind, 'UTF8')) || tobira_field(convert_to(actor, 'UTF8'))
        || tobira_field(convert_to(subject, 'UTF8')) || tobira_field(convert_to(place, 'UTF8'))
        || tobira_field(convert_to(outcome, 'UTF8')) || tobira_field(convert_to(reason, 'UTF8'))
        || tobira_field(convert_to(article, 'UTF8')) || tobira_field(float8send(score))
        || tobira_field(convert_to(details, 'UTF8')) || prev)
$$;

CREATE OR REPLACE FUNCTION audit_chain_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    prev BYTEA;
    at TIMESTAMPTZ;
BEGIN
    -- The node's time must be an RFC 3339 UTC instant as the node hashes it; a cast error of a
    -- well-shaped but impossible date (month 13) is refused by PostgreSQL itself (22008).
    IF NEW.time !~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$' THEN
        RAISE EXCEPTION 'malformed: node % event % has time %', NEW.node, NEW.seq, left(NEW.time, 40)
            USING ERRCODE = 'TB004';
    END IF;
    IF NEW.hash <> tobira_event_hash(NEW.node, NEW.time, NEW.kind, NEW.actor, NEW.subject, NEW.place,
                                     NEW.outcome, NEW.reason, NEW.article, NEW.score, NEW.details, NEW.prev_hash) THEN
        RAISE EXCEPTION 'malformed: node % event % does not match its hash', NEW.node, NEW.seq
            USING ERRCODE = 'TB004';
    END IF;
    IF NEW.seq = 1 THEN
        IF NEW.prev_hash <> decode(repeat('00', 32), 'hex') THEN
            RAISE EXCEPTION 'fork: node % event 1 does not start a chain', NEW.node USING ERRCODE = 'TB002';
        END IF;
    ELSE
        SELECT hash INTO prev FROM audit_events WHERE node = NEW.node AND seq = NEW.seq - 1;
        IF prev IS NULL THEN
            RAISE EXCEPTION 'gap: node % event % arrives before event %', NEW.node, NEW.seq, NEW.seq - 1
                USING ERRCODE = 'TB001';
        END IF;
        IF prev <> NEW.prev_hash THEN
            RAISE EXCEPTION 'fork: node % event % does not link to the stored event %', NEW.node, NEW.seq, NEW.seq - 1
                USING ERRCODE = 'TB002';
        END IF;
    END IF;
    -- The centre's clock, not the sender's say-so.
    NEW.received_at := clock_timestamp();
    at := NEW.time::timestamptz;
    IF at > NEW.received_at + tobira_max_skew() THEN
        PERFORM tobira_raise(NEW.node, NEW.seq, 'clock.skew',
            format('event %s is dated %s, ahead of the centre''s clock (%s)', NEW.seq, NEW.time, NEW.received_at));
    END IF;
    RETURN NEW;
END
$$;

-- A node reports its clock with each batch; a difference beyond the allowed skew is an alarm. Returns the
-- difference in seconds (node minus centre) so the node can say so in its own audit. The node is the
-- caller's role, never a parameter.
CREATE FUNCTION tobira_clock(node_now TIMESTAMPTZ) RETURNS FLOAT8
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    me TEXT;
    skew FLOAT8;
BEGIN
    SELECT id INTO me FROM nodes WHERE db_role = session_user;
    IF me IS NULL THEN
        RAISE EXCEPTION 'role % is not a registered node', session_user USING ERRCODE = '42501';
    END IF;
    skew := extract(epoch FROM node_now - clock_timestamp());
    IF abs(skew) > extract(epoch FROM tobira_max_skew()) THEN
        PERFORM tobira_raise(me, NULL, 'clock.skew',
            format('node clock %s differs from the centre''s by %s s', node_now, round(skew::numeric, 1)));
    END IF;
    RETURN skew;
END
$$;

-- Places over a period, across nodes (the entry/exit ledger of a server room).
CREATE INDEX audit_events_place_time ON audit_events (place, time);

-- Signed tree heads the nodes submit, with the consistency proof from `proof_from` (the size the centre
-- last countersigned for the node; 0 for the first).
CREATE TABLE tree_heads (
    id           BIGSERIAL PRIMARY KEY,
    node         TEXT NOT NULL REFERENCES nodes(id),
    size         BIGINT NOT NULL CHECK (size > 0),
    root         BYTEA NOT NULL CHECK (length(root) = 32),
    time         TEXT NOT NULL,
    node_sig     BYTEA NOT NULL CHECK (length(node_sig) = 64),
    proof_from   BIGINT NOT NULL CHECK (proof_from >= 0),
    proof        BYTEA[] NOT NULL,
    submitted_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'cosigned', 'refused')),
    verdict      TEXT
);
CREATE INDEX tree_heads_pending ON tree_heads (id) WHERE state = 'pending';

CREATE FUNCTION tree_heads_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.submitted_at := clock_timestamp();
    NEW.state := 'pending';
    NEW.verdict := NULL;
    PERFORM pg_notify('tobira_heads', NEW.node);
    RETURN NEW;
END
$$;
CREATE TRIGGER tree_heads_submitted BEFORE INSERT ON tree_heads FOR EACH ROW EXECUTE FUNCTION tree_heads_notify();

ALTER TABLE tree_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY node_submits_own ON tree_heads FOR INSERT
    WITH CHECK (node = (SELECT id FROM nodes WHERE db_role = current_user));
CREATE POLICY node_reads_own_heads ON tree_heads FOR SELECT
    USING (node = (SELECT id FROM nodes WHERE db_role = current_user));

-- What the witness countersigned: the durable witness state (the last row per node) and what an auditor
-- checks a node's store against. Append-only.
CREATE TABLE cosigned_heads (
    node        TEXT NOT NULL REFERENCES nodes(id),
    size        BIGINT NOT NULL CHECK (size > 0),
    root        BYTEA NOT NULL CHECK (length(root) = 32),
    time        TEXT NOT NULL,
    node_sig    BYTEA NOT NULL,
    witness_sig BYTEA NOT NULL,
    cosigned_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (node, size)
);
CREATE TRIGGER cosigned_no_update BEFORE UPDATE OR DELETE ON cosigned_heads FOR EACH ROW EXECUTE FUNCTION audit_immutable();
ALTER TABLE cosigned_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY node_reads_own_cosigned ON cosigned_heads FOR SELECT
    USING (node = (SELECT id FROM nodes WHERE db_role = current_user));

-- Who looked at the central records, and for what (002 §7(11)): every central query is recorded here in
-- the same transaction as it runs.
CREATE TABLE record_views (
    id      BIGSERIAL PRIMARY KEY,
    viewer  TEXT NOT NULL,
    query   TEXT NOT NULL,
    rows    BIGINT NOT NULL,
    at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE TRIGGER record_views_no_update BEFORE UPDATE OR DELETE ON record_views FOR EACH ROW EXECUTE FUNCTION audit_immutable();

-- Nodes registered before this migration get what `register_node` now grants.
DO $$
DECLARE
    r TEXT;
BEGIN
    FOR r IN SELECT db_role FROM nodes LOOP
        EXECUTE format('GRANT SELECT, INSERT ON tree_heads TO %I', r);
        EXECUTE format('GRANT USAGE ON SEQUENCE tree_heads_id_seq TO %I', r);
        EXECUTE format('GRANT SELECT ON cosigned_heads TO %I', r);
        EXECUTE format('GRANT EXECUTE ON FUNCTION tobira_clock(TIMESTAMPTZ) TO %I', r);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION tobira_clock(TIMESTAMPTZ) FROM PUBLIC;
