// The SQLite schema, as numbered steps that SqliteStore applies in order at start-up. A step that
// has shipped never changes: a schema change is a new step, so every database reaches the same schema.

export interface Migration {
  version: number
  name: string
  sql: string
}

export const migrations: ReadonlyArray<Migration> = [
  {
    version: 1,
    name: 'create users and signing_keys',
    // STRICT so that a wrongly typed value fails the write instead of being stored as something else.
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        email TEXT,
        full_name TEXT,
        scopes TEXT NOT NULL CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
        disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        password_hash TEXT NOT NULL,
        token_version INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        private_key TEXT NOT NULL,
        public_key TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;
    `
  },
  {
    version: 2,
    name: 'create clients, refresh_families, refresh_tokens and revoked_tokens',
    // client_id has no foreign key: removing a client revokes its families rather than deleting
    // them, and they stay, as every family does, until prune finds them expired.
    sql: `
      CREATE TABLE clients (
        id TEXT PRIMARY KEY,
        secret_hash TEXT,
        scopes TEXT NOT NULL CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE refresh_families (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        client_id TEXT NOT NULL,
        scopes TEXT NOT NULL CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
        token_version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER
      ) STRICT;

      -- Without them, every user deletion's cascade and every client removal would scan all families.
      CREATE INDEX refresh_families_user_id ON refresh_families (user_id);
      CREATE INDEX refresh_families_client_id ON refresh_families (client_id);

      CREATE TABLE refresh_tokens (
        hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        spent_at INTEGER
      ) STRICT;

      CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

      CREATE TABLE revoked_tokens (
        jti TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) STRICT;

      CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
    `
  },
  {
    version: 3,
    name: 'record when tokens were revoked and users changed, for the revocation feed',
    // Tokens revoked before this step get the time of the step: an instance starting later still
    // learns of every one that can be live, since none outlives its revocation by more than its lifetime.
    sql: `
      ALTER TABLE revoked_tokens ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
      UPDATE revoked_tokens SET revoked_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
      CREATE INDEX revoked_tokens_revoked_at ON revoked_tokens (revoked_at);
      CREATE INDEX refresh_families_revoked_at ON refresh_families (revoked_at);

      CREATE TABLE user_changes (
        user_id TEXT PRIMARY KEY,
        changed_at INTEGER NOT NULL
      ) STRICT;

      CREATE INDEX user_changes_changed_at ON user_changes (changed_at);
    `
  },
  {
    version: 4,
    name: 'accounts: verified e-mail addresses, one-time codes, and when each login was last used',
    // lower(email) is what findUsersByEmail compares, ASCII letters only, as every store does.
    // A login made before this step was last used when its newest refresh token was made.
    sql: `
      ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
      CREATE INDEX users_email ON users (lower(email));

      ALTER TABLE refresh_families ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
      UPDATE refresh_families SET last_used_at = coalesce(
        (SELECT max(created_at) FROM refresh_tokens WHERE family_id = refresh_families.id), created_at);

      CREATE TABLE one_time_codes (
        hash TEXT PRIMARY KEY,
        purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        email TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
      ) STRICT;

      CREATE INDEX one_time_codes_user_id ON one_time_codes (user_id);
      CREATE INDEX one_time_codes_expires_at ON one_time_codes (expires_at);
    `
  },
  {
    version: 5,
    name: 'create totp_enrollments and totp_recovery_codes',
    // A recovery code hangs off its enrollment, so that removing the enrollment, or its user, removes it.
    sql: `
      CREATE TABLE totp_enrollments (
        user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        secret TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'active')),
        last_step INTEGER,
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE totp_recovery_codes (
        user_id TEXT NOT NULL REFERENCES totp_enrollments (user_id) ON DELETE CASCADE,
        hash TEXT NOT NULL,
        PRIMARY KEY (user_id, hash)
      ) STRICT;
    `
  },
  {
    version: 6,
    name: 'bind refresh families to a DPoP key, and remember the DPoP proofs used',
    // A proof's id is a digest of its key and jti, of one length: the table holds each proof only as
    // long as its iat lets it be presented again, and prune deletes it after that.
    sql: `
      ALTER TABLE refresh_families ADD COLUMN jkt TEXT;

      CREATE TABLE dpop_proofs (
        id TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) STRICT;

      CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
    `
  }
]
