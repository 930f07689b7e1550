-- The media register (記録媒体管理簿, issue 21 §5): storage media taken out of the office, the consents that let
-- them go and their return (003 §11(3)), media disposed of — how, witnessed by whom (§11(5)) — and the results
-- of checking media for faults (§11(6)); 001 §8(2) and 002 §6④(6) ask their officers for the same record.
-- Changed only through audited daemon commands. The ledger itself is a view over the audit log, like every
-- ledger; this table is the register's state: what is out, what still awaits a consent, what is overdue.
CREATE TABLE media_register (
    id          TEXT PRIMARY KEY,            -- M-0001, numbered per site
    kind        TEXT NOT NULL CHECK (kind IN ('take-out', 'disposal', 'fault')),
    medium      TEXT NOT NULL,               -- the medium's own number (管理番号)
    media_kind  TEXT NOT NULL,               -- 媒体の種類
    quantity    INTEGER NOT NULL,
    records     INTEGER,                     -- take-out: how many records it holds (件数)
    recipient   TEXT,                        -- take-out: to whom or where (相手方)
    purpose     TEXT,
    container   TEXT,                        -- take-out: locked container or strict packaging
    due         TEXT,                        -- take-out: due back (exclusive end, UTC)
    method      TEXT,                        -- disposal: how (破砕…)
    witness     TEXT REFERENCES people(id),  -- disposal: who witnessed it (立会者)
    faulty      INTEGER,                     -- fault check: 1 faulty, 0 sound
    finding     TEXT,                        -- fault check: what was found
    note        TEXT,
    status      TEXT NOT NULL CHECK (status IN ('awaiting-consent', 'out', 'returned', 'disposed', 'recorded')),
    consents    TEXT NOT NULL DEFAULT '[]',  -- take-out: JSON [{"person", "roles", "at"}]
    recorded_by TEXT NOT NULL REFERENCES people(id),
    recorded_at TEXT NOT NULL,
    returned_by TEXT REFERENCES people(id),
    returned_at TEXT,
    condition   TEXT                         -- what was checked on return
);
-- A medium is out, or awaiting consent to go out, once at a time.
CREATE UNIQUE INDEX media_register_out ON media_register(medium) WHERE status IN ('awaiting-consent', 'out');
