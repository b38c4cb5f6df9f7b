-- The customer table, the change log and the feed cursors (issue 18).
-- Portable SQL (SQLite and PostgreSQL): TEXT and INTEGER only, times as RFC 3339 text.

-- One row per customer, with the members the vendors exchange (BiQ CustomerShadow's
-- Customer/Contact/Address, flattened as BiQ's demo customer system stores them).
CREATE TABLE customer (
    customer_number TEXT PRIMARY KEY NOT NULL,
    category TEXT,
    name TEXT,
    care_of TEXT,
    attention TEXT,
    cpr TEXT,
    birth_date TEXT,
    cvr TEXT,
    p_number TEXT,
    phone1 TEXT,
    phone2 TEXT,
    email TEXT,
    po_box TEXT,
    address_composite TEXT,
    street TEXT,
    street_code TEXT,
    house_number TEXT,
    house_letter TEXT,
    floor TEXT,
    suite TEXT,
    postal_code TEXT,
    postal_city TEXT,
    postal_sub_city TEXT,
    municipality_code TEXT,
    country_name TEXT,
    country_code TEXT,
    dar_address_id TEXT,
    secondary_name TEXT,
    secondary_cpr TEXT,
    secondary_phone1 TEXT,
    secondary_phone2 TEXT,
    secondary_email TEXT,
    -- JSON object, member name -> string value.
    extra_data TEXT,
    active TEXT,
    created_at TEXT,
    created_by TEXT,
    changed_at TEXT,
    changed_by TEXT,
    latest_change_id TEXT
);

-- Every change handled, once: the key makes a second apply of the same change a no-op.
CREATE TABLE change_log (
    source TEXT NOT NULL,
    change_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    event_type TEXT,
    -- 'applied' | 'not_applied' | 'unknown'
    outcome TEXT NOT NULL,
    detail TEXT,
    customer_number TEXT,
    PRIMARY KEY (source, change_id)
);

-- Where each flow resumes (e.g. the `committed` time of the last handled BiQ change).
CREATE TABLE flow_cursor (
    flow TEXT PRIMARY KEY NOT NULL,
    cursor TEXT NOT NULL
);
