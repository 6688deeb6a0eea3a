import t from 'tap'
import { LoginAudit } from '../../grants/audit.js'
import { recordingLogger } from './helper.js'

t.test('one line per attempt; a username is written only once it is known to name a user', async t => {
  const instance = recordingLogger()
  const request = { ip: '192.0.2.1', log: recordingLogger() }
  const audit = new LoginAudit(instance)
  t.teardown(() => audit.close())
  audit.attempt(request, 'alice', 'first-party', 'success')
  audit.attempt(request, 'alice', 'first-party', 'wrong_password')
  audit.attempt(request, 'hunter2', 'first-party', 'unknown_user')
  audit.attempt(request, 'hunter2', 'first-party', 'unknown_user')
  const [success, wrong, unknown, again] = request.log.lines
  t.strictSame(success, { audit: 'login', username: 'alice', clientAddress: '192.0.2.1', clientId: 'first-party', outcome: 'success', level: 'info', msg: 'login attempt' })
  t.match(wrong, { username: 'alice', outcome: 'wrong_password' })
  t.notOk('username' in (unknown ?? {}), 'what was typed for an unknown user may be a password')
  t.notMatch(JSON.stringify(unknown), /hunter2/)
  t.equal(unknown?.usernameDigest, again?.usernameDigest, 'its digest tells repeated attempts apart')
  t.strictSame(instance.lines, [], 'attempts go to the request\'s logger')
})

t.test('refusals of a rate-limited address: the first in a minute is written, the rest counted into a later line', async t => {
  const instance = recordingLogger()
  const audit = new LoginAudit(instance)
  const flooding = { ip: '192.0.2.1', log: recordingLogger() }
  const other = { ip: '198.51.100.7', log: recordingLogger() }
  for (let attempt = 0; attempt < 5; attempt++) audit.attempt(flooding, `user${attempt}`, 'first-party', 'rate_limited')
  audit.attempt(other, 'bob', 'first-party', 'rate_limited')
  t.equal(flooding.log.lines.length, 1, 'one line for five refusals')
  t.match(flooding.log.lines[0], { outcome: 'rate_limited', repeated: 0, usernameDigest: String, clientAddress: '192.0.2.1' })
  t.notOk('username' in (flooding.log.lines[0] ?? {}), 'a rate-limited attempt names no user: its password was never checked')
  t.equal(other.log.lines.length, 1, 'each address is counted apart')
  audit.close()
  t.strictSame(instance.lines, [
    { audit: 'login', clientAddress: '192.0.2.1', outcome: 'rate_limited', repeated: 4, level: 'info', msg: 'login attempts refused' }
  ], 'closing writes what was counted, and nothing for an address with nothing counted')
})
