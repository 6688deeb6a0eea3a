import type { Store } from './types.js'

/**
 * The methods of a Store, for the code that must know them at run time (checking a host's store,
 * guarding one, forwarding to the SQLite worker). A Record, so that the compiler fails here when the
 * interface gains or loses a method.
 */
export const STORE_METHODS = Object.keys({
  createUser: true,
  findUserByUsername: true,
  findUserById: true,
  updateUser: true,
  removeUser: true,
  listUsers: true,
  findUsersByEmail: true,
  countUsers: true,
  listSigningKeys: true,
  addFirstSigningKey: true,
  addSigningKey: true,
  removeSigningKeys: true,
  updateSigningKey: true,
  createRefreshFamily: true,
  rotateRefreshToken: true,
  findRefreshToken: true,
  revokeRefreshFamily: true,
  listSessions: true,
  createOneTimeCode: true,
  findOneTimeCode: true,
  useOneTimeCode: true,
  revokeAccessToken: true,
  revocationsSince: true,
  prune: true,
  useDPoPProof: true,
  createClient: true,
  findClient: true,
  setClientSecret: true,
  removeClient: true,
  listClients: true,
  findTotpEnrollment: true,
  startTotpEnrollment: true,
  activateTotpEnrollment: true,
  acceptTotpStep: true,
  spendRecoveryCode: true,
  removeTotpEnrollment: true,
  ping: true,
  close: true
} satisfies Record<keyof Store, true>) as Array<keyof Store>
