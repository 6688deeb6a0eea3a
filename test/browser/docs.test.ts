import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { constants } from 'node:fs'
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { chromium, type ConsoleMessage, type Locator, type Page } from 'playwright-core'
import { PASSWORD, TEST_ARGON2, freePort } from '../helper.js'
import { CLI, ROOT, SERVER } from '../paths.js'

/** What the browser saw, for a person to look at: beside tap's own output, git-ignored and out of the sources. */
const SCREENSHOTS = join(ROOT, '.tap', 'screenshots')

/** Debian's package; a browser download is neither possible nor wanted here. */
const CHROMIUM = '/usr/bin/chromium'
// As root without a sandbox, and quiet: the machine's network is closed, and without the last four
// Chromium keeps trying to reach Google's services.
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]
const SCHEME = 'OAuth2PasswordBearer'

async function executable (path: string): Promise<boolean> {
  return await access(path, constants.X_OK).then(() => true, () => false)
}

/** Runs the compiled CLI to completion. */
async function cli (env: NodeJS.ProcessEnv, args: string[], stdin: string): Promise<{ code: number | null, output: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stdin.end(stdin)
  const [code] = await once(child, 'exit') as [number | null]
  return { code, output }
}

/** Starts the compiled server and resolves with its address once it listens; stopped in teardown. */
async function startServer (t: Test, env: NodeJS.ProcessEnv): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [SERVER], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(async () => {
    if (child.exitCode !== null) return
    child.kill('SIGTERM')
    await once(child, 'exit')
  })
  let output = ''
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  return await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not listen within 15 s: ${output}`)), 15_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const listening = /"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(output)
      if (listening?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(listening[1])
      }
    })
    child.once('exit', code => {
      clearTimeout(timer)
      reject(new Error(`the server exited with ${code}: ${output}`))
    })
  })
}

/** Swagger UI's Authorize dialog: logs in through the password flow with these scopes ticked. */
async function authorize (page: Page, scopes: string[]): Promise<Locator> {
  await page.locator('.scheme-container button.authorize').click()
  const dialog = page.locator('.modal-ux')
  await dialog.locator('#oauth_username').fill('johndoe')
  await dialog.locator('#oauth_password').fill(PASSWORD)
  // The checkboxes are drawn by their labels, as a person clicks them.
  for (const scope of scopes) await dialog.locator(`label[for="${scope}-password-checkbox-${SCHEME}"]`).click()
  return dialog
}

async function closeDialog (dialog: Locator): Promise<void> {
  await dialog.locator('button.btn-done').click()
  await dialog.waitFor({ state: 'detached' })
}

/** Try it out, Execute, and the status and body Swagger UI shows for the answer. */
async function execute (operation: Locator): Promise<{ status: string, body: string }> {
  if (!/\bis-open\b/.test(await operation.getAttribute('class') ?? '')) await operation.locator('.opblock-summary-control').click()
  // Once clicked, "Try it out" stays on as "Cancel".
  const tryItOut = operation.locator('button.try-out__btn')
  await tryItOut.waitFor()
  if (!/\bcancel\b/.test(await tryItOut.getAttribute('class') ?? '')) await tryItOut.click()
  // The answer of the previous run stays on screen until cleared.
  const clear = operation.locator('button.btn-clear')
  if (await clear.count() > 0) await clear.click()
  await operation.locator('button.execute').click()
  const row = operation.locator('.live-responses-table tr.response')
  await row.waitFor()
  return {
    status: (await row.locator('.response-col_status').innerText()).trim(),
    body: await row.locator('.response-col_description .highlight-code pre').innerText()
  }
}

/** The closed lock (`locked`) or the open one of an operation. */
async function lock (operation: Locator): Promise<string | null> {
  return await operation.locator('.opblock-summary button.authorization__btn').getAttribute('aria-label')
}

const chromiumMissing = !await executable(CHROMIUM)

t.test('Swagger UI at /docs, in headless Chromium', {
  skip: chromiumMissing ? `no Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium; .ci/run does) to run this test` : false,
  timeout: 120_000
}, async t => {
  const tmp = await mkdtemp(join(tmpdir(), 'docs-browser-'))
  t.teardown(() => rm(tmp, { recursive: true, force: true }))
  await mkdir(SCREENSHOTS, { recursive: true })
  const env = { PATH: process.env.PATH ?? '', DATABASE_URL: `sqlite:${join(tmp, 'auth.db')}`, ...TEST_ARGON2 }

  const created = await cli(env, ['user', 'add', 'johndoe', '--scopes', 'me items', '--password-stdin'], PASSWORD)
  t.equal(created.code, 0, created.output)
  const base = await startServer(t, { ...env, HOST: '127.0.0.1', PORT: String(await freePort()), LOG_LEVEL: 'info' })

  const context = await chromium.launchPersistentContext(join(tmp, 'chromium'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 1000 }
  })
  // Registered after startServer's, so it runs first: the browser goes before the server.
  t.teardown(() => context.close())
  const page = context.pages()[0] ?? await context.newPage()
  page.setDefaultTimeout(15_000)

  const consoleErrors: ConsoleMessage[] = []
  const pageErrors: Error[] = []
  page.on('console', message => { if (message.type() === 'error') consoleErrors.push(message) })
  page.on('pageerror', error => pageErrors.push(error))
  const authorizations = new Map<string, Array<string | undefined>>()
  page.on('request', request => {
    const path = new URL(request.url()).pathname
    authorizations.set(path, [...authorizations.get(path) ?? [], request.headers().authorization])
  })
  // Chromium reports a refused resource on the console too; this keeps what the policy refused.
  // A string, because the test is compiled without the DOM's types.
  await page.addInitScript({
    content: `
      window.cspViolations = []
      document.addEventListener('securitypolicyviolation', event => {
        window.cspViolations.push(event.violatedDirective + ' ' + event.blockedURI + ' ' + event.sourceFile + ':' + event.lineNumber)
      })`
  })

  const me = page.locator('#operations-users-get_users_me')
  const items = page.locator('#operations-users-get_users_me_items')

  t.test('the page lists the operations, with an Authorize button', async t => {
    const response = await page.goto(`${base}/docs`)
    t.equal(response?.status(), 200)
    t.match(response?.headers()['content-security-policy'], /script-src 'self'/)
    await me.waitFor()
    t.equal(await lock(me), 'authorization button unlocked')
    t.ok(await page.locator('.scheme-container button.authorize').isVisible())
    await page.screenshot({ path: join(SCREENSHOTS, '1-docs.png'), fullPage: true })
  })

  t.test('Authorize logs in with username and password, through Swagger UI\'s `Basic Og==`', async t => {
    const dialog = await authorize(page, ['me', 'items'])
    for (const [scope, description] of [['me', 'Read information about the current user.'], ['items', 'Read items.']]) {
      const label = dialog.locator(`label[for="${scope}-password-checkbox-${SCHEME}"]`)
      t.equal(await label.locator('.name').innerText(), scope)
      t.equal(await label.locator('.description').innerText(), description)
    }
    t.equal(await dialog.locator('code', { hasText: '/token' }).count(), 1, 'the token URL')
    await dialog.screenshot({ path: join(SCREENSHOTS, '2-authorize-dialog.png') })
    const [login] = await Promise.all([
      page.waitForResponse(response => new URL(response.url()).pathname === '/token'),
      dialog.locator('button.authorize', { hasText: 'Authorize' }).click()
    ])
    t.equal(login.status(), 200)
    t.same(authorizations.get('/token'), ['Basic Og=='])
    await dialog.locator('button', { hasText: 'Logout' }).waitFor()
    await dialog.screenshot({ path: join(SCREENSHOTS, '3-authorized-dialog.png') })
    await closeDialog(dialog)
  })

  t.test('protected operations show a closed lock, and Try it out on GET /users/me answers 200', async t => {
    t.equal(await lock(me), 'authorization button locked')
    t.equal(await lock(items), 'authorization button locked')
    t.equal(await lock(page.locator('#operations-status-get_status')), 'authorization button locked')
    t.equal(await page.locator('#operations-status-get_health .authorization__btn').count(), 0, 'no lock on /health')
    const { status, body } = await execute(me)
    t.equal(status, '200')
    t.match(JSON.parse(body), { username: 'johndoe', scopes: ['me', 'items'] })
    t.match(authorizations.get('/users/me'), [/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/])
    await me.scrollIntoViewIfNeeded()
    await me.screenshot({ path: join(SCREENSHOTS, '4-authorized-call.png') })
  })

  t.test('after Logout the same call is refused with 401', async t => {
    await page.locator('.scheme-container button.authorize').click()
    const dialog = page.locator('.modal-ux')
    await dialog.locator('button', { hasText: 'Logout' }).click()
    await closeDialog(dialog)
    t.equal(await lock(me), 'authorization button unlocked')
    const { status, body } = await execute(me)
    t.equal(status, '401')
    t.match(JSON.parse(body), { statusCode: 401, code: 'OAUTH2_TOKEN_MISSING' })
    t.equal(authorizations.get('/users/me')?.at(-1), undefined)
    await me.screenshot({ path: join(SCREENSHOTS, '5-logged-out-401.png') })
  })

  t.test('authorized with scope `me` only, GET /users/me/items is refused with 403', async t => {
    const dialog = await authorize(page, ['me'])
    const [login] = await Promise.all([
      page.waitForResponse(response => new URL(response.url()).pathname === '/token'),
      dialog.locator('button.authorize', { hasText: 'Authorize' }).click()
    ])
    t.equal(login.status(), 200)
    t.equal((await login.json() as { scope: string }).scope, 'me')
    await closeDialog(dialog)
    const { status, body } = await execute(items)
    t.equal(status, '403')
    t.match(JSON.parse(body), { statusCode: 403, code: 'OAUTH2_INSUFFICIENT_SCOPE' })
    await items.scrollIntoViewIfNeeded()
    await items.screenshot({ path: join(SCREENSHOTS, '6-scope-me-only-403.png') })
  })

  t.test('nothing went wrong in the page: no errors, nothing refused by the Content-Security-Policy', async t => {
    t.same(await page.evaluate('window.cspViolations'), [])
    t.same(pageErrors.map(error => error.message), [])
    // Chromium logs every 4xx answer as an error: the two refusals asked for above are expected.
    const unexpected = consoleErrors.filter(message => !(
      /^Failed to load resource: the server responded with a status of 40[13] /.test(message.text()) &&
      /\/users\/me(\/items)?$/.test(message.location().url)
    ))
    t.same(unexpected.map(message => `${message.text()} (${message.location().url})`), [])
    t.equal(consoleErrors.length - unexpected.length, 2, 'the 401 and the 403')
  })
})
