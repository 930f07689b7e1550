-- The registry: who may go where. Changed only through audited daemon commands, never by hand.
-- Times are RFC 3339 text in UTC.
PRAGMA application_id = 1953456754; -- 'tobr': a tobira registry; any other value is a foreign file

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE people (
    id              TEXT PRIMARY KEY,           -- 操作者ID / ユーザID: authority
    match_id        TEXT NOT NULL UNIQUE,       -- 照合ID: identity for matching, kept apart from authority
    name            TEXT NOT NULL,
    affiliation     TEXT NOT NULL,
    appointment_end TEXT,                       -- 004 §7: authority ends with the appointment term
    active          INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL
);

CREATE TABLE person_roles (
    person_id TEXT NOT NULL REFERENCES people(id),
    role      TEXT NOT NULL,
    PRIMARY KEY (person_id, role)
);

CREATE TABLE templates (
    id          TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people(id),
    match_id    TEXT NOT NULL,
    modality    TEXT NOT NULL CHECK (modality IN ('finger', 'palm')),
    position    INTEGER NOT NULL,               -- ISO finger position, or 1 = right palm, 2 = left palm
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'erased')),
    quality     INTEGER NOT NULL,
    wrapped_key BLOB,                           -- NULL once erased: crypto-erase (000 §8(2))
    ciphertext  BLOB NOT NULL,                  -- AES-256-GCM, person and template id as associated data
    created_at  TEXT NOT NULL
);
CREATE INDEX templates_person ON templates(person_id);

CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    holder      TEXT NOT NULL REFERENCES people(id),
    place_kind  TEXT NOT NULL CHECK (place_kind IN ('zone', 'terminal')),
    place_id    TEXT NOT NULL,
    issued_by   TEXT NOT NULL REFERENCES people(id),
    issuer_role TEXT NOT NULL,
    valid_from  TEXT NOT NULL,
    valid_until TEXT NOT NULL,                  -- 004 §7: every grant has an end date
    schedule    TEXT NOT NULL CHECK (schedule IN ('always', 'office-hours')),
    revoked_at  TEXT,
    revoked_by  TEXT,
    created_at  TEXT NOT NULL
);
-- One live grant per holder and place: a duplicate is refused, not silently stacked.
CREATE UNIQUE INDEX grants_live ON grants(holder, place_kind, place_id) WHERE revoked_at IS NULL;

CREATE TABLE off_hours (                        -- 002 §5-2: prior approval for use outside office hours
    id          TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people(id),
    terminal_id TEXT NOT NULL,
    valid_from  TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    reason      TEXT NOT NULL,
    approved_by TEXT NOT NULL REFERENCES people(id),
    created_at  TEXT NOT NULL
);

CREATE TABLE visits (                           -- 003 §13(4), 002 §5-4, 000 §7(2)
    id            TEXT PRIMARY KEY,
    vendor_id     TEXT NOT NULL REFERENCES people(id),
    company       TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    name_tag      TEXT NOT NULL,
    doors         TEXT NOT NULL,                -- JSON array of door ids
    valid_from    TEXT NOT NULL,
    valid_until   TEXT NOT NULL,
    escorts       TEXT NOT NULL,                -- JSON array of person ids
    approved_by   TEXT NOT NULL REFERENCES people(id),
    media_allowed TEXT NOT NULL,                -- JSON array: devices/media approved to bring in
    created_at    TEXT NOT NULL
);

CREATE TABLE lockouts (                         -- NIST SP 800-63B throttling state survives restarts
    person_id TEXT NOT NULL,
    reader_id TEXT NOT NULL,
    state     TEXT NOT NULL,                    -- JSON
    PRIMARY KEY (person_id, reader_id)
);
