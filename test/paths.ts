import path from 'node:path'
import { fileURLToPath } from 'node:url'

// The tests run as `npm run build:test` compiled them, from dist/test/: the files they read and the
// programs they start are found from the repository's root, whatever the depth of the test.

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** What the build made of the sources. */
export const DIST = path.join(ROOT, 'dist')
/** The compiled server and CLI, started as `npm start` and an administrator start them. */
export const SERVER = path.join(DIST, 'server.js')
export const CLI = path.join(DIST, 'cli', 'index.js')
