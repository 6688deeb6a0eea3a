import t from 'tap'
import { build, addUser, login } from '../helper.js'

t.test('smoke', async t => {
  const { app } = await build(t)
  await addUser(app.authStore, 'johndoe')
  const tokens = await login(app, 'johndoe')
  const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json(), { username: 'johndoe', email: null, full_name: null, disabled: false, scopes: ['me', 'items'] })
})
