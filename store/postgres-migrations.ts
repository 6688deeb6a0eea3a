// The PostgreSQL schema, as numbered steps that PostgresStore applies in order at start-up. A step
// that has shipped never changes: a schema change is a new step, so every database reaches the same
// schema. Tables, columns, constraints and cascades are SQLite's (sqlite-migrations.ts), in
// PostgreSQL's types: BIGINT for epoch milliseconds, JSONB for scopes, BOOLEAN for flags.

import type { Migration } from './sqlite-migrations.js'

export const migrations: ReadonlyArray<Migration> = [
  {
    version: 1,
    name: 'create users and signing_keys',
    // COLLATE "C" orders usernames by code point, as SQLite's BINARY collation and MemoryStore do,
    // whatever the database's default collation; the unique index then serves listUsers too.
    // seq stands in for SQLite's rowid: it breaks ties between keys created in the same millisecond.
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT COLLATE "C" NOT NULL CONSTRAINT users_username_key UNIQUE,
        email TEXT,
        full_name TEXT,
        scopes JSONB NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
        disabled BOOLEAN NOT NULL DEFAULT false,
        password_hash TEXT NOT NULL,
        token_version INTEGER NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL
      );

      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        private_key TEXT NOT NULL,
        public_key TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        seq BIGINT GENERATED ALWAYS AS IDENTITY
      );
    `
  },
  {
    version: 2,
    name: 'create clients, refresh_families, refresh_tokens and revoked_tokens',
    // client_id has no foreign key: removing a client revokes its families rather than deleting
    // them, and they stay, as every family does, until prune finds them expired.
    sql: `
      CREATE TABLE clients (
        id TEXT COLLATE "C" PRIMARY KEY,
        secret_hash TEXT,
        scopes JSONB NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
        created_at BIGINT NOT NULL
      );

      CREATE TABLE refresh_families (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        client_id TEXT NOT NULL,
        scopes JSONB NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
        token_version INTEGER NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT
      );

      -- Without them, every user deletion's cascade and every client removal would scan all families.
      CREATE INDEX refresh_families_user_id ON refresh_families (user_id);
      CREATE INDEX refresh_families_client_id ON refresh_families (client_id);

      CREATE TABLE refresh_tokens (
        hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        spent_at BIGINT
      );

      CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

      CREATE TABLE revoked_tokens (
        jti TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
      );

      CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
    `
  },
  {
    version: 3,
    name: 'record when tokens were revoked and users changed, for the revocation feed',
    sql: `
      ALTER TABLE revoked_tokens ADD COLUMN revoked_at BIGINT NOT NULL DEFAULT 0;
      UPDATE revoked_tokens SET revoked_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
      ALTER TABLE revoked_tokens ALTER COLUMN revoked_at DROP DEFAULT;
      CREATE INDEX revoked_tokens_revoked_at ON revoked_tokens (revoked_at);
      CREATE INDEX refresh_families_revoked_at ON refresh_families (revoked_at);

      CREATE TABLE user_changes (
        user_id TEXT PRIMARY KEY,
        changed_at BIGINT NOT NULL
      );

      CREATE INDEX user_changes_changed_at ON user_changes (changed_at);
    `
  },
  {
    version: 4,
    name: 'accounts: verified e-mail addresses, one-time codes, and when each login was last used',
    // lower() under COLLATE "C" changes ASCII letters only, as SQLite's lower() and MemoryStore do.
    sql: `
      ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT false;
      CREATE INDEX users_email ON users (lower(email COLLATE "C"));

      ALTER TABLE refresh_families ADD COLUMN last_used_at BIGINT;
      UPDATE refresh_families f SET last_used_at = coalesce(
        (SELECT max(t.created_at) FROM refresh_tokens t WHERE t.family_id = f.id), f.created_at);
      ALTER TABLE refresh_families ALTER COLUMN last_used_at SET NOT NULL;

      CREATE TABLE one_time_codes (
        hash TEXT PRIMARY KEY,
        purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        email TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
      );

      CREATE INDEX one_time_codes_user_id ON one_time_codes (user_id);
      CREATE INDEX one_time_codes_expires_at ON one_time_codes (expires_at);
    `
  },
  {
    version: 5,
    name: 'create totp_enrollments and totp_recovery_codes',
    sql: `
      CREATE TABLE totp_enrollments (
        user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        secret TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'active')),
        last_step BIGINT,
        created_at BIGINT NOT NULL
      );

      CREATE TABLE totp_recovery_codes (
        user_id TEXT NOT NULL REFERENCES totp_enrollments (user_id) ON DELETE CASCADE,
        hash TEXT NOT NULL,
        PRIMARY KEY (user_id, hash)
      );
    `
  },
  {
    version: 6,
    name: 'bind refresh families to a DPoP key, and remember the DPoP proofs used',
    sql: `
      ALTER TABLE refresh_families ADD COLUMN jkt TEXT;

      CREATE TABLE dpop_proofs (
        id TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
      );

      CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
    `
  }
]
