-- People, grants and templates managed once, reaching every node (issue 7 §1, §3). A change made on a node
-- — under the regulation's approvals there, every act proved by the actor's biometric — is published to the
-- centre's feed with its origin; every other node applies it (audited before applied) and the centre keeps
-- the city's registry as the feed's latest state. Templates travel sealed: the payload holds the template's
-- ciphertext and its data key wrapped to each node's X25519 transport key; the centre cannot open either.

ALTER TABLE nodes ADD COLUMN transport_key BYTEA CHECK (transport_key IS NULL OR length(transport_key) = 32);

ALTER TABLE registry_changes DROP CONSTRAINT registry_changes_kind_check;
ALTER TABLE registry_changes ADD CONSTRAINT registry_changes_kind_check CHECK (kind IN (
    'grant.revoke', 'person.deactivate', 'person.upsert', 'grant.upsert', 'template.upsert', 'template.erase',
    'offhours.upsert', 'visit.upsert'));
-- NULL: published by the centre's administrator; otherwise the node the change was made on.
ALTER TABLE registry_changes ADD COLUMN origin TEXT REFERENCES nodes(id);
ALTER TABLE registry_changes ADD COLUMN payload TEXT NOT NULL DEFAULT '{}';
CREATE INDEX registry_changes_target ON registry_changes (kind, target, version);

ALTER TABLE registry_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone_reads_the_feed ON registry_changes FOR SELECT USING (true);
-- A node publishes only under its own name.
CREATE POLICY node_publishes_own ON registry_changes FOR INSERT
    WITH CHECK (origin = (SELECT id FROM nodes WHERE db_role = current_user));
CREATE TRIGGER registry_no_update BEFORE UPDATE OR DELETE ON registry_changes FOR EACH ROW EXECUTE FUNCTION audit_immutable();

-- A node announces its transport public key (its own row only; the caller's role names the node).
CREATE FUNCTION tobira_set_transport_key(k BYTEA) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE nodes SET transport_key = k WHERE db_role = session_user AND transport_key IS DISTINCT FROM k;
    IF FOUND THEN
        -- A node joined (or its key changed): the others wrap their templates' data keys to it now.
        PERFORM pg_notify('tobira_registry', 'transport');
    ELSIF NOT EXISTS (SELECT 1 FROM nodes WHERE db_role = session_user) THEN
        RAISE EXCEPTION 'role % is not a registered node', session_user USING ERRCODE = '42501';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION tobira_set_transport_key(BYTEA) FROM PUBLIC;

-- The city's registry as the feed leaves it.
CREATE VIEW central_people AS
    SELECT u.target AS person, u.payload, u.origin, u.version, u.issued_at,
           NOT EXISTS (SELECT 1 FROM registry_changes d
                       WHERE d.kind = 'person.deactivate' AND d.target = u.target AND d.version > u.version) AS active
    FROM (SELECT DISTINCT ON (target) target, payload, origin, version, issued_at FROM registry_changes
          WHERE kind = 'person.upsert' ORDER BY target, version DESC) u;
CREATE VIEW central_grants AS
    SELECT DISTINCT ON (target) target AS grant_id, kind = 'grant.upsert' AS live, payload, origin, version, issued_at
    FROM registry_changes WHERE kind IN ('grant.upsert', 'grant.revoke') AND position('@' in target) = 0
    ORDER BY target, version DESC;
-- Approvals of off-hours work (002 §5-2) and vendors' visits (003 §13(4)), as granted on the nodes.
CREATE VIEW central_approvals AS
    SELECT kind, target AS id, payload, origin, version, issued_at
    FROM registry_changes WHERE kind IN ('offhours.upsert', 'visit.upsert');
CREATE VIEW central_templates AS
    SELECT DISTINCT ON (target) target AS template_id, kind = 'template.upsert' AS live, origin, version, issued_at
    FROM registry_changes WHERE kind IN ('template.upsert', 'template.erase')
    ORDER BY target, version DESC;

DO $$
DECLARE
    r TEXT;
BEGIN
    FOR r IN SELECT db_role FROM nodes LOOP
        EXECUTE format('GRANT INSERT ON registry_changes TO %I', r);
        EXECUTE format('GRANT USAGE ON SEQUENCE registry_changes_version_seq TO %I', r);
        EXECUTE format('GRANT EXECUTE ON FUNCTION tobira_set_transport_key(BYTEA) TO %I', r);
    END LOOP;
END
$$;
