-- Registry changes the centre publishes to every node (issue 7 §3): an ordered feed nodes read from their
-- last applied version; a NOTIFY wakes them at once, so a revocation reaches connected nodes in seconds.

CREATE TABLE registry_changes (
    version    BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('grant.revoke', 'person.deactivate')),
    target     TEXT NOT NULL,                 -- grant id or person id
    reason     TEXT NOT NULL,
    issued_by  TEXT NOT NULL,
    issued_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE FUNCTION registry_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tobira_registry', NEW.version::text);
    RETURN NEW;
END
$$;
CREATE TRIGGER registry_changed AFTER INSERT ON registry_changes FOR EACH ROW EXECUTE FUNCTION registry_notify();
