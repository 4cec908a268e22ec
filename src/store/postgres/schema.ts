/**
 * The PostgreSQL schema as forward migrations, numbered on their own: the
 * first creates what SQLite's twelve built (sqlite/schema.ts); a change to
 * the tables is a migration for both engines, a fix of PostgreSQL's own
 * triggers one here alone. Times are milliseconds
 * since the epoch (bigint) and archive ids microseconds, as in SQLite, so
 * that rows move between the engines unchanged (`xmppctl db copy`).
 *
 * Booleans are 0/1 smallints where SQLite's are, so that one row shape
 * serves both engines' code.
 */

/** The table that marks a database as ours and holds its schema version. */
export const SCHEMA_TABLE = 'xmppctl_schema'

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE accounts (
    host            text     NOT NULL,
    username        text     NOT NULL,
    state           text     NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'disabled')),
    disabled_reason text,
    created_at      bigint   NOT NULL,
    plaintext       text,
    PRIMARY KEY (host, username)
  );

  CREATE TABLE scram_credentials (
    host       text    NOT NULL,
    username   text    NOT NULL,
    hash       text    NOT NULL CHECK (hash IN ('sha1', 'sha256', 'sha512')),
    salt       bytea   NOT NULL,
    iterations integer NOT NULL CHECK (iterations > 0),
    stored_key bytea   NOT NULL,
    server_key bytea   NOT NULL,
    PRIMARY KEY (host, username, hash),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  CREATE TABLE roster_items (
    host         text     NOT NULL,
    username     text     NOT NULL,
    contact      text     NOT NULL,
    name         text,
    subscription text     NOT NULL DEFAULT 'none' CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask          smallint NOT NULL DEFAULT 0,
    groups       text     NOT NULL DEFAULT '[]',
    approved     smallint NOT NULL DEFAULT 0 CHECK (approved IN (0, 1)),
    PRIMARY KEY (host, username, contact),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  -- Roster versions (RFC 6121 §2.6): a counter per account with a random epoch, as in SQLite's migration 8.
  CREATE TABLE roster_versions (
    host     text    NOT NULL,
    username text    NOT NULL,
    version  bigint  NOT NULL CHECK (version > 0),
    epoch    text    NOT NULL,
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  CREATE TABLE subscription_requests (
    host       text   NOT NULL,
    username   text   NOT NULL,
    contact    text   NOT NULL,
    stanza     text   NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (host, username, contact),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  CREATE TABLE offline_messages (
    id         bigserial PRIMARY KEY,
    host       text      NOT NULL,
    username   text      NOT NULL,
    stanza     text      NOT NULL,
    created_at bigint    NOT NULL,
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );
  CREATE INDEX offline_messages_owner ON offline_messages (host, username, id);

  CREATE TABLE last_activity (
    host     text   NOT NULL,
    username text   NOT NULL,
    at       bigint NOT NULL,
    status   text   NOT NULL DEFAULT '',
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  CREATE TABLE vcards (
    host     text NOT NULL,
    username text NOT NULL,
    vcard    text NOT NULL,
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  CREATE TABLE private_storage (
    host      text NOT NULL,
    username  text NOT NULL,
    namespace text NOT NULL,
    name      text NOT NULL,
    xml       text NOT NULL,
    PRIMARY KEY (host, username, namespace, name),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  CREATE TABLE blocklist_items (
    host     text NOT NULL,
    username text NOT NULL,
    jid      text NOT NULL,
    PRIMARY KEY (host, username, jid),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  CREATE TABLE pep_nodes (
    host                     text     NOT NULL,
    username                 text     NOT NULL,
    node                     text     NOT NULL,
    access_model             text     NOT NULL CHECK (access_model IN ('open', 'presence', 'whitelist')),
    persist_items            smallint NOT NULL CHECK (persist_items IN (0, 1)),
    max_items                integer  CHECK (max_items > 0),
    send_last_published_item text     NOT NULL CHECK (send_last_published_item IN ('never', 'on_sub', 'on_sub_and_presence')),
    PRIMARY KEY (host, username, node),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  CREATE TABLE pep_items (
    seq          bigserial PRIMARY KEY,
    host         text      NOT NULL,
    username     text      NOT NULL,
    node         text      NOT NULL,
    item_id      text      NOT NULL,
    payload      text      NOT NULL,
    publisher    text      NOT NULL,
    published_at bigint    NOT NULL,
    UNIQUE (host, username, node, item_id),
    FOREIGN KEY (host, username, node) REFERENCES pep_nodes (host, username, node) ON DELETE CASCADE
  );
  CREATE INDEX pep_items_order ON pep_items (host, username, node, seq);

  CREATE TABLE pep_subscriptions (
    host          text   NOT NULL,
    username      text   NOT NULL,
    node          text   NOT NULL,
    subscriber    text   NOT NULL,
    subscribed_at bigint NOT NULL,
    PRIMARY KEY (host, username, node, subscriber),
    FOREIGN KEY (host, username, node) REFERENCES pep_nodes (host, username, node) ON DELETE CASCADE
  );
  CREATE INDEX pep_subscriptions_subscriber ON pep_subscriptions (subscriber text_pattern_ops);

  -- A deleted account's subscriptions to others' nodes go with it: its bare JID, or a full JID (bare + '/' + resource).
  CREATE FUNCTION pep_subscriptions_of_deleted_account() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    DELETE FROM pep_subscriptions
    WHERE subscriber = OLD.username || '@' || OLD.host
       OR (subscriber >= OLD.username || '@' || OLD.host || '/' AND subscriber < OLD.username || '@' || OLD.host || '0');
    RETURN NULL;
  END $$;
  CREATE TRIGGER pep_subscriptions_of_deleted_account AFTER DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION pep_subscriptions_of_deleted_account();

  -- The archive (XEP-0313) keeps each message once for all the archives that hold it, as SQLite's migration 9.
  CREATE TABLE archive_owners (
    owner    bigserial PRIMARY KEY,
    host     text      NOT NULL,
    username text      NOT NULL,
    UNIQUE (host, username),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  CREATE TABLE archive_stanzas (
    id     bigint  PRIMARY KEY,
    stanza text    NOT NULL,
    refs   integer NOT NULL CHECK (refs > 0)
  );

  CREATE TABLE archive_entries (
    owner         bigint NOT NULL REFERENCES archive_owners (owner) ON DELETE CASCADE,
    id            bigint NOT NULL,
    with_jid      text   NOT NULL,
    with_resource text   NOT NULL DEFAULT '',
    PRIMARY KEY (owner, id)
  );
  CREATE INDEX archive_entries_with ON archive_entries (owner, with_jid, id);

  CREATE FUNCTION archive_entries_release() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    DELETE FROM archive_stanzas WHERE id = OLD.id AND refs = 1;
    UPDATE archive_stanzas SET refs = refs - 1 WHERE id = OLD.id;
    RETURN NULL;
  END $$;
  CREATE TRIGGER archive_entries_release AFTER DELETE ON archive_entries
    FOR EACH ROW EXECUTE FUNCTION archive_entries_release();

  CREATE VIEW archive_messages AS
    SELECT o.host, o.username, e.id, e.with_jid, e.with_resource, s.stanza
    FROM archive_entries e JOIN archive_owners o ON o.owner = e.owner JOIN archive_stanzas s ON s.id = e.id;

  CREATE TABLE archive_prefs (
    host     text NOT NULL,
    username text NOT NULL,
    mode     text NOT NULL CHECK (mode IN ('always', 'never', 'roster')),
    always   text NOT NULL DEFAULT '[]',
    never    text NOT NULL DEFAULT '[]',
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
  );

  CREATE TABLE muc_rooms (
    service    text   NOT NULL,
    name       text   NOT NULL,
    config     text   NOT NULL,
    subject    text   NOT NULL DEFAULT '',
    subject_by text   NOT NULL DEFAULT '',
    created_at bigint NOT NULL,
    PRIMARY KEY (service, name)
  );

  CREATE TABLE muc_affiliations (
    service     text NOT NULL,
    name        text NOT NULL,
    jid         text NOT NULL,
    affiliation text NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
    reason      text NOT NULL DEFAULT '',
    PRIMARY KEY (service, name, jid),
    FOREIGN KEY (service, name) REFERENCES muc_rooms (service, name) ON DELETE CASCADE
  );

  CREATE TABLE muc_archive (
    service text   NOT NULL,
    name    text   NOT NULL,
    id      bigint NOT NULL,
    nick    text   NOT NULL,
    stanza  text   NOT NULL,
    PRIMARY KEY (service, name, id),
    FOREIGN KEY (service, name) REFERENCES muc_rooms (service, name) ON DELETE CASCADE
  );
  `,
  // 2. Two triggers of the first migration fixed (found in review, both PostgreSQL's alone):
  // - a deleted account's full-JID subscriptions were matched by a range whose order follows the
  //   database's collation; under en_US.UTF-8, which sorts past punctuation, "alice@x/phone" fell
  //   outside it and stayed, for whoever registers that name next. A prefix equality holds in any collation.
  // - two transactions releasing entries of one message at once: the second's DELETE saw refs = 2,
  //   its UPDATE then waited, read 1, and failed CHECK (refs > 0). The UPDATE now comes first (it takes
  //   the row's lock and reads the committed count), and the row goes when it reaches 0.
  `
  CREATE OR REPLACE FUNCTION pep_subscriptions_of_deleted_account() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    DELETE FROM pep_subscriptions
    WHERE subscriber = OLD.username || '@' || OLD.host
       OR left(subscriber, length(OLD.username || '@' || OLD.host) + 1) = OLD.username || '@' || OLD.host || '/';
    RETURN NULL;
  END $$;

  ALTER TABLE archive_stanzas DROP CONSTRAINT archive_stanzas_refs_check;
  ALTER TABLE archive_stanzas ADD CONSTRAINT archive_stanzas_refs_check CHECK (refs >= 0);
  -- Accounts are listed in byte order, as SQLite lists them (user list, scram convert); without an index in
  -- that order, each page of 1,000 scanned and sorted the whole table.
  CREATE INDEX accounts_byte_order ON accounts (host COLLATE "C", username COLLATE "C");

  CREATE OR REPLACE FUNCTION archive_entries_release() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    UPDATE archive_stanzas SET refs = refs - 1 WHERE id = OLD.id;
    DELETE FROM archive_stanzas WHERE id = OLD.id AND refs = 0;
    RETURN NULL;
  END $$;
  `,
]

export const SCHEMA_VERSION = MIGRATIONS.length

/** The tables a store at SCHEMA_VERSION has (a view is not a table). */
export const SCHEMA_TABLES: readonly string[] = [...new Set(MIGRATIONS.flatMap((migration) => [...migration.matchAll(/CREATE TABLE (\w+)/g)].map((match) => match[1])))]
