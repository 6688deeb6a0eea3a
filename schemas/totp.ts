import { Type, type Static } from '@sinclair/typebox'

// The bodies of the second-factor endpoints (plugins/auth/totp.ts), JSON both ways.

export const TotpEnrollResponse = Type.Object({
  secret: Type.String({ description: 'The shared secret in base32 (RFC 4648), to type into an authenticator app; shown this once' }),
  otpauth_uri: Type.String({ description: 'The same as an otpauth:// URI (Key URI Format), to show as a QR code that an authenticator app scans' })
})
export type TotpEnrollResponse = Static<typeof TotpEnrollResponse>

export const TotpConfirmRequest = Type.Object({
  code: Type.String({ pattern: '^[0-9]{6}$', description: 'A current 6-digit code of the authenticator app (RFC 6238)' })
})
export type TotpConfirmRequest = Static<typeof TotpConfirmRequest>

export const RecoveryCodesResponse = Type.Object({
  recovery_codes: Type.Array(Type.String(), { description: 'Ten codes, each usable once in place of a one-time code; shown this once' })
})
export type RecoveryCodesResponse = Static<typeof RecoveryCodesResponse>

export const TotpRemovalRequest = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 64, description: 'A current 6-digit code, or a recovery code' })
})
export type TotpRemovalRequest = Static<typeof TotpRemovalRequest>
