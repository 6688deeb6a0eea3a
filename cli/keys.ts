import type { SigningKey } from '../store/index.js'
import { generateSigningKey, liveKeys } from '../tokens/keys.js'
import { KeyEncryption, KeyEncryptionError, isEncrypted } from '../tokens/key-encryption.js'
import { CliError, EXIT, parseCommandLine, type CommandGroup } from './command.js'

// `oauth2-password keys rotate` and `keys encrypt`.

/**
 * Fails unless every stored key decrypts with `encryption`, before anything is written: a key the
 * servers could not decrypt, or one added in clear among encrypted ones, would be worse than none.
 * A missing or wrong secret is the configuration's fault, so it exits as a configuration error does.
 */
export function checkDecrypts (keys: readonly SigningKey[], encryption: KeyEncryption): void {
  try {
    for (const key of keys) encryption.open(key)
  } catch (error) {
    if (error instanceof KeyEncryptionError) throw new CliError(error.message, EXIT.usage)
    throw error
  }
}

export const keyCommands: CommandGroup = {
  rotate: {
    usage: 'rotate',
    summary: 'make a new signing key (JWT_ALGORITHM) that signs from now on, and delete keys whose tokens have all expired',
    async run (args, { config, store, print }) {
      parseCommandLine(args, {}, [])
      const encryption = new KeyEncryption(config.SIGNING_KEY_SECRET)
      const keys = await store()
      checkDecrypts(await keys.listSigningKeys(), encryption)
      const key = generateSigningKey(config.JWT_ALGORITHM)
      await keys.addSigningKey(encryption.seal(key))
      const all = await keys.listSigningKeys()
      const live = new Set(liveKeys(all, Date.now(), config.ACCESS_TOKEN_TTL).map(live => live.kid))
      const expired = all.filter(old => !live.has(old.kid)).map(old => old.kid)
      await keys.removeSigningKeys(expired)
      print(`new signing key ${key.kid} (${key.alg}); running servers sign with it within 5 seconds`)
      if (expired.length > 0) print(`removed ${expired.length} key(s) whose tokens have all expired`)
    }
  },
  encrypt: {
    usage: 'encrypt',
    summary: 'encrypt the private signing keys stored in clear with SIGNING_KEY_SECRET (give every server the secret first)',
    async run (args, { config, store, print }) {
      parseCommandLine(args, {}, [])
      if (config.SIGNING_KEY_SECRET === undefined) throw new CliError('SIGNING_KEY_SECRET must be set to the secret to encrypt the signing keys with', EXIT.usage)
      const encryption = new KeyEncryption(config.SIGNING_KEY_SECRET)
      const keys = await store()
      const all = await keys.listSigningKeys()
      checkDecrypts(all, encryption)
      const inClear = all.filter(key => !isEncrypted(key))
      // A key `keys rotate` removed meanwhile is simply not there to encrypt any more.
      for (const key of inClear) await keys.updateSigningKey(key.kid, encryption.seal(key).privateKey)
      print(`encrypted ${inClear.length} signing key(s); ${all.length - inClear.length} already were`)
    }
  }
}
