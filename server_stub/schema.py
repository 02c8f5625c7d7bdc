"""The store's tables, indexes and triggers (server_stub/store.py opens a database with them).

``SCHEMA`` is idempotent (``IF NOT EXISTS`` everywhere): a database file from an earlier mobsim
opens as it is and gets what it lacks. ``SCHEMA_VERSION`` is kept in ``meta``; a file of another
version is refused at start (server_stub/storage.py).
"""

from __future__ import annotations

__all__ = ["SCHEMA", "SCHEMA_VERSION", "TABLES"]

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS applications (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, account TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS installations (
    reg_id TEXT PRIMARY KEY,
    app_code TEXT NOT NULL,
    person_id INTEGER,
    state TEXT NOT NULL DEFAULT 'active',
    platform TEXT NOT NULL,
    installation_id TEXT,
    is_primary INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS installations_person ON installations (person_id);
CREATE INDEX IF NOT EXISTS installations_app ON installations (app_code);
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS persons_account ON persons (account, id);
CREATE TABLE IF NOT EXISTS identities (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    person_id INTEGER NOT NULL,
    display TEXT NOT NULL,
    UNIQUE (account, kind, value)
);
CREATE INDEX IF NOT EXISTS identities_person ON identities (person_id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    person_id INTEGER,
    reg_id TEXT,
    app_code TEXT,
    definition_id TEXT NOT NULL,
    occurred TEXT NOT NULL,
    properties TEXT,
    received TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_person ON events (person_id);
CREATE INDEX IF NOT EXISTS events_reg ON events (reg_id);
CREATE INDEX IF NOT EXISTS events_definition ON events (account, definition_id);
CREATE TABLE IF NOT EXISTS sessions (
    reg_id TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT,
    PRIMARY KEY (reg_id, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_definitions (
    account TEXT NOT NULL,
    definition_id TEXT NOT NULL,
    key TEXT NOT NULL,
    title TEXT,
    description TEXT,
    fields TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (account, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejected_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    reg_id TEXT,
    definition_id TEXT,
    reason TEXT NOT NULL,
    received TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attribute_types (
    account TEXT NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
    PRIMARY KEY (account, scope, name)
) WITHOUT ROWID;
-- segments (server_stub/saved_segments.py, segments_sql.py): saved segments, the person tags
-- kept by triggers for tag conditions, App Launch windows, platform conditions
CREATE TABLE IF NOT EXISTS segments (
    account TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, query TEXT NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (account, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS person_tags (
    tag TEXT NOT NULL, person_id INTEGER NOT NULL, PRIMARY KEY (tag, person_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS person_tags_person ON person_tags (person_id);
CREATE TRIGGER IF NOT EXISTS person_tags_insert AFTER INSERT ON persons BEGIN
    INSERT OR IGNORE INTO person_tags SELECT value, new.id FROM json_each(new.data, '$.tags') WHERE type = 'text';
END;
CREATE TRIGGER IF NOT EXISTS person_tags_update AFTER UPDATE OF data ON persons
WHEN json_extract(old.data, '$.tags') IS NOT json_extract(new.data, '$.tags') BEGIN
    DELETE FROM person_tags WHERE person_id = old.id;
    INSERT OR IGNORE INTO person_tags SELECT value, new.id FROM json_each(new.data, '$.tags') WHERE type = 'text';
END;
CREATE TRIGGER IF NOT EXISTS person_tags_delete AFTER DELETE ON persons BEGIN
    DELETE FROM person_tags WHERE person_id = old.id;
END;
INSERT OR IGNORE INTO person_tags SELECT j.value, p.id FROM persons p, json_each(p.data, '$.tags') j
    WHERE j.type = 'text' AND NOT EXISTS (SELECT 1 FROM meta WHERE key = 'person_tags');
INSERT OR IGNORE INTO meta VALUES ('person_tags', 'filled');
CREATE INDEX IF NOT EXISTS events_segments ON events (account, lower(definition_id), person_id, occurred);
CREATE INDEX IF NOT EXISTS installations_platform ON installations (platform, state, person_id, app_code);
CREATE INDEX IF NOT EXISTS installations_segments ON installations (person_id, state, app_code);
-- messaging (server_stub/rules/messages.py): times are epoch milliseconds
CREATE TABLE IF NOT EXISTS api_keys (key TEXT PRIMARY KEY, account TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bulks (
    bulk_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    app_code TEXT,
    created INTEGER NOT NULL,
    send_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    request TEXT NOT NULL,
    target TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bulks_account ON bulks (account, created);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    bulk_id TEXT NOT NULL,
    account TEXT NOT NULL,
    app_code TEXT NOT NULL,
    reg_id TEXT,
    platform TEXT,
    push_token TEXT,
    route INTEGER,
    person_id INTEGER,
    destination TEXT NOT NULL,
    payload TEXT NOT NULL,
    extra TEXT NOT NULL,
    created INTEGER NOT NULL,
    send_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    deliver_at INTEGER NOT NULL,
    handed_at INTEGER,
    delivered_at INTEGER,
    seen_at INTEGER,
    opened_at INTEGER,
    done_at INTEGER,
    status TEXT NOT NULL,
    error TEXT,
    reported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_queue ON messages (app_code, deliver_at)
    WHERE status='PENDING' AND handed_at IS NULL AND route IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_reg ON messages (reg_id, send_at);
CREATE INDEX IF NOT EXISTS messages_bulk ON messages (bulk_id);
CREATE INDEX IF NOT EXISTS messages_account ON messages (account);
CREATE INDEX IF NOT EXISTS messages_pending ON messages (expires_at) WHERE status='PENDING';
CREATE INDEX IF NOT EXISTS messages_reports ON messages (account, done_at) WHERE reported=0 AND done_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS mo_messages (
    seq INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    app_code TEXT NOT NULL,
    reg_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    received INTEGER NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS mo_pending ON mo_messages (account, seq) WHERE reported=0;
"""

TABLES = (
    "applications",
    "installations",
    "persons",
    "identities",
    "events",
    "sessions",
    "event_definitions",
    "rejected_events",
    "attribute_types",
    "segments",
    "person_tags",
    "bulks",
    "messages",
    "mo_messages",
)
