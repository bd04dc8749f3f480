-- The SBC database of the Fusion SIP-trunk Kamailio driver (PostgreSQL, db_postgres).
-- Kamailio 5.6's standard tables (version, address, dispatcher, dialplan) with the table
-- versions the modules check, and three tables in htable format (key_name, key_type,
-- value_type, key_value, expires) plus a `trunk` column: the trunk key a row belongs to
-- (0 = shared: carriers, the group's block list). The driver creates it when missing;
-- every statement can run again.

CREATE TABLE IF NOT EXISTS version (
    id SERIAL PRIMARY KEY NOT NULL,
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT version_table_name_idx UNIQUE (table_name)
);
INSERT INTO version (table_name, table_version) VALUES ('version', 1) ON CONFLICT DO NOTHING;

-- permissions: grp 1 = carrier sources, grp <trunk key> = a trunk's PBX sources
CREATE TABLE IF NOT EXISTS address (
    id SERIAL PRIMARY KEY NOT NULL,
    grp INTEGER DEFAULT 1 NOT NULL,
    ip_addr VARCHAR(50) NOT NULL,
    mask INTEGER DEFAULT 32 NOT NULL,
    port SMALLINT DEFAULT 0 NOT NULL,
    tag VARCHAR(64)
);
INSERT INTO version (table_name, table_version) VALUES ('address', 6) ON CONFLICT DO NOTHING;

-- dispatcher: set 1 = carrier gateways, set <trunk key> = a trunk's PBXs
CREATE TABLE IF NOT EXISTS dispatcher (
    id SERIAL PRIMARY KEY NOT NULL,
    setid INTEGER DEFAULT 0 NOT NULL,
    destination VARCHAR(192) DEFAULT '' NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    priority INTEGER DEFAULT 0 NOT NULL,
    attrs VARCHAR(128) DEFAULT '' NOT NULL,
    description VARCHAR(64) DEFAULT '' NOT NULL
);
INSERT INTO version (table_name, table_version) VALUES ('dispatcher', 4) ON CONFLICT DO NOTHING;

-- dialplan: dpid = calling plan key, pr = rule priority, attrs = the class key
CREATE TABLE IF NOT EXISTS dialplan (
    id SERIAL PRIMARY KEY NOT NULL,
    dpid INTEGER NOT NULL,
    pr INTEGER NOT NULL,
    match_op INTEGER NOT NULL,
    match_exp VARCHAR(64) NOT NULL,
    match_len INTEGER NOT NULL,
    subst_exp VARCHAR(64) NOT NULL,
    repl_exp VARCHAR(256) NOT NULL,
    attrs VARCHAR(64) NOT NULL
);
INSERT INTO version (table_name, table_version) VALUES ('dialplan', 2) ON CONFLICT DO NOTHING;

-- htable "trunk": "<key>:<setting>" per trunk
CREATE TABLE IF NOT EXISTS sbc_trunk (
    id SERIAL PRIMARY KEY NOT NULL,
    key_name VARCHAR(64) DEFAULT '' NOT NULL,
    key_type INTEGER DEFAULT 0 NOT NULL,
    value_type INTEGER DEFAULT 0 NOT NULL,
    key_value VARCHAR(128) DEFAULT '' NOT NULL,
    expires INTEGER DEFAULT 0 NOT NULL,
    trunk INTEGER DEFAULT 0 NOT NULL
);
CREATE INDEX IF NOT EXISTS sbc_trunk_trunk_idx ON sbc_trunk (trunk);
INSERT INTO version (table_name, table_version) VALUES ('sbc_trunk', 2) ON CONFLICT DO NOTHING;

-- htable "did": "<e164>:<field>" per DID
CREATE TABLE IF NOT EXISTS sbc_did (
    id SERIAL PRIMARY KEY NOT NULL,
    key_name VARCHAR(64) DEFAULT '' NOT NULL,
    key_type INTEGER DEFAULT 0 NOT NULL,
    value_type INTEGER DEFAULT 0 NOT NULL,
    key_value VARCHAR(128) DEFAULT '' NOT NULL,
    expires INTEGER DEFAULT 0 NOT NULL,
    trunk INTEGER DEFAULT 0 NOT NULL
);
CREATE INDEX IF NOT EXISTS sbc_did_trunk_idx ON sbc_did (trunk);
INSERT INTO version (table_name, table_version) VALUES ('sbc_did', 2) ON CONFLICT DO NOTHING;

-- htable "prefix": block and allow prefixes
CREATE TABLE IF NOT EXISTS sbc_prefix (
    id SERIAL PRIMARY KEY NOT NULL,
    key_name VARCHAR(64) DEFAULT '' NOT NULL,
    key_type INTEGER DEFAULT 0 NOT NULL,
    value_type INTEGER DEFAULT 0 NOT NULL,
    key_value VARCHAR(128) DEFAULT '' NOT NULL,
    expires INTEGER DEFAULT 0 NOT NULL,
    trunk INTEGER DEFAULT 0 NOT NULL
);
CREATE INDEX IF NOT EXISTS sbc_prefix_trunk_idx ON sbc_prefix (trunk);
INSERT INTO version (table_name, table_version) VALUES ('sbc_prefix', 2) ON CONFLICT DO NOTHING;

-- Fusion's own: the tables written since their module's last successful reload. Set in the
-- transaction that changes the rows, cleared once the reload answered, so a sync retried in
-- another process (an rq work horse) still reloads what an earlier failed attempt wrote.
CREATE TABLE IF NOT EXISTS sbc_reload_pending (
    table_name VARCHAR(32) PRIMARY KEY NOT NULL
);
