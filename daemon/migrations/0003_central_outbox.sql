-- Registry changes made on this node, waiting to be published to the centre's feed (issue 7 §1): written
-- when the change is applied here, published in order by the registry sync task once the centre is reachable.
CREATE TABLE central_outbox (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT NOT NULL,
    target            TEXT NOT NULL,
    reason            TEXT NOT NULL,
    issued_by         TEXT NOT NULL,
    payload           TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    published_version INTEGER
);
CREATE INDEX central_outbox_unpublished ON central_outbox (id) WHERE published_version IS NULL;
