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
  }
]
