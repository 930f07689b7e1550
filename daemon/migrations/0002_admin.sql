-- Administration workflows (issue 8): requests awaiting the system administrator's approval (003 §7), lent
-- viewer IDs (004 §11), alarms for the security manager (003 §20), and the key generation that wraps
-- template data keys (001 §15(4)).

CREATE TABLE requests (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('enroll', 'delete-person', 'grant', 'revoke', 'view-records')),
    subject      TEXT NOT NULL,                 -- the person the request is about (or the section, for view-records)
    params       TEXT NOT NULL,                 -- JSON: what applying it does
    requested_by TEXT NOT NULL REFERENCES people(id),
    requested_at TEXT NOT NULL,
    -- pending → approved → applied; pending → rejected | withdrawn. "approved" without "applied" only
    -- survives a crash between the two, and is finished at the next start.
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'applied', 'rejected', 'withdrawn')),
    decided_by   TEXT REFERENCES people(id),
    decided_at   TEXT,
    note         TEXT,
    applied_at   TEXT
);
CREATE INDEX requests_status ON requests(status);

CREATE TABLE viewer_loans (                     -- 004 §11: lent viewer IDs, name, ID and time
    id          TEXT PRIMARY KEY,
    viewer_id   TEXT NOT NULL,
    lent_to     TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    lent_at     TEXT NOT NULL,
    lent_by     TEXT NOT NULL REFERENCES people(id),
    returned_at TEXT,
    returned_by TEXT REFERENCES people(id)
);
-- A viewer ID is out to one borrower at a time.
CREATE UNIQUE INDEX viewer_loans_out ON viewer_loans(viewer_id) WHERE returned_at IS NULL;

CREATE TABLE alarms (                           -- 003 §20, 001 §10: incidents for the security manager
    id          INTEGER PRIMARY KEY,
    audit_seq   INTEGER NOT NULL UNIQUE,        -- the alarm event in the audit chain: one alarm per event
    kind        TEXT NOT NULL,
    place       TEXT,
    subject     TEXT,
    reason      TEXT NOT NULL,
    raised_at   TEXT NOT NULL,
    notified_at TEXT,                           -- the notifier ran (once per alarm)
    acked_at    TEXT,
    acked_by    TEXT REFERENCES people(id),
    note        TEXT
);
CREATE INDEX alarms_open ON alarms(acked_at);
