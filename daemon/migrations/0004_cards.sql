-- Cards and keypad IDs for card+biometric doors (issue 16 §2; 004 §2(9): user ID + biometric). Issued and
-- withdrawn by the system administrator, who distributes user IDs and keeps their ledger (003 §14(2)).
-- The number itself is not stored: only its SHA-256 (domain-separated) to find the holder, and its last
-- digits to show. A withdrawn card's row stays, with who withdrew it and when.
CREATE TABLE cards (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    card_hash   TEXT NOT NULL,
    last_digits TEXT NOT NULL,
    person      TEXT NOT NULL REFERENCES people(id),
    issued_by   TEXT NOT NULL REFERENCES people(id),
    issued_at   TEXT NOT NULL,
    removed_by  TEXT REFERENCES people(id),
    removed_at  TEXT
);
-- One live holder per card.
CREATE UNIQUE INDEX cards_live ON cards(card_hash) WHERE removed_at IS NULL;
