-- The flows (issue 18): what the shadow writer still has to send, each flow's status and
-- lease, and the notifications read. Portable SQL (SQLite and PostgreSQL), as 0001.

-- Local edits not yet sent to a vendor (an outbox per target, one row per customer): a write
-- to `customer` sets it for every target, the target's writer deletes it once the customer's
-- current state is sent, but only while `version` is still the one it sent (a later edit stays
-- pending).
CREATE TABLE pending_upload (
    -- Which writer sends it: 'biq-customer-shadow' or 'consumer-intelligence'.
    target TEXT NOT NULL,
    customer_number TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- 1: the customer was deleted locally (send a delete); 0: send its row.
    deleted INTEGER NOT NULL,
    PRIMARY KEY (target, customer_number)
);

-- One row per flow: what `sync status` shows.
CREATE TABLE flow_status (
    flow TEXT PRIMARY KEY NOT NULL,
    passes BIGINT NOT NULL,
    items BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    last_success_at TEXT,
    last_error TEXT,
    last_error_at TEXT
);

-- At most one instance runs a flow: the holder of an unexpired lease (milliseconds since the
-- Unix epoch). Taken and renewed in one statement each, so two instances cannot both hold it.
-- (BIGINT: counters and epoch milliseconds outgrow PostgreSQL's 32-bit INTEGER; SQLite reads
-- it as INTEGER.)
CREATE TABLE flow_lease (
    flow TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Notifications read from a vendor feed (e.g. BiQ `deceased`), recorded once each.
CREATE TABLE notification (
    source TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    event_type TEXT,
    customer_number TEXT,
    committed TEXT,
    -- The vendor's payload as JSON text.
    payload TEXT,
    PRIMARY KEY (source, notification_id)
);
