import { generateSigningKey, liveKeys } from '../tokens/keys.js'
import { parseCommandLine, type CommandGroup } from './command.js'

// `oauth2-password keys rotate` (SPEC §7).

export const keyCommands: CommandGroup = {
  rotate: {
    usage: 'rotate',
    summary: 'make a new signing key (JWT_ALGORITHM) that signs from now on, and delete keys whose tokens have all expired',
    async run (args, { config, store, print }) {
      parseCommandLine(args, {}, [])
      const keys = await store()
      const key = generateSigningKey(config.JWT_ALGORITHM)
      await keys.addSigningKey(key)
      const all = await keys.listSigningKeys()
      const live = new Set(liveKeys(all, Date.now(), config.ACCESS_TOKEN_TTL).map(live => live.kid))
      const expired = all.filter(old => !live.has(old.kid)).map(old => old.kid)
      await keys.removeSigningKeys(expired)
      print(`new signing key ${key.kid} (${key.alg}); running servers sign with it within 5 seconds`)
      if (expired.length > 0) print(`removed ${expired.length} key(s) whose tokens have all expired`)
    }
  }
}
