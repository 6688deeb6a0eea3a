import t from 'tap'
import { canonicalUsername, usernameProblem, USERNAME_MAX_LENGTH } from '../../passwords/username.js'

t.test('canonicalUsername: examples', async t => {
  const cases: Array<[string, string]> = [
    ['johndoe', 'johndoe'],
    ['JohnDoe', 'johndoe'],
    ['JOHNDOE', 'johndoe'],
    ['ＪｏｈｎＤｏｅ', 'johndoe'],
    ['ｊｏｈｎ１２３', 'john123'],
    ['ß', 'ss'],
    ['SS', 'ss'],
    ['ẞ', 'ss'],
    ['Straße', 'strasse'],
    ['STRASSE', 'strasse'],
    ['ﬁ', 'fi'],
    ['ﬁle', 'file'],
    ['\u212A', 'k'], // KELVIN SIGN
    ['\u2126', 'ω'], // OHM SIGN
    ['e\u0301', 'é'], // combining accent composes
    ['É', 'é'],
    ['²', '2'],
    ['用户', '用户']
  ]
  for (const [input, expected] of cases) {
    t.equal(canonicalUsername(input), expected, `${JSON.stringify(input)} → ${JSON.stringify(expected)}`)
  }
})

t.test('canonicalUsername: look-alikes name one account', async t => {
  const forms = ['strasse', 'Straße', 'STRAẞE', 'ＳＴＲＡＳＳＥ', 'ｓｔｒａßｅ']
  t.same(new Set(forms.map(canonicalUsername)), new Set(['strasse']))
})

t.test('canonicalUsername is idempotent over every code point up to U+2FFFF', async t => {
  const failures: string[] = []
  for (let codePoint = 0; codePoint <= 0x2FFFF; codePoint++) {
    if (codePoint >= 0xD800 && codePoint <= 0xDFFF) continue // lone surrogates are no characters
    const once = canonicalUsername(String.fromCodePoint(codePoint))
    const twice = canonicalUsername(once)
    if (twice !== once) failures.push(`U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`)
  }
  t.same(failures, [], 'canonical(canonical(c)) === canonical(c)')
})

t.test('canonicalUsername is idempotent over mixed strings', async t => {
  for (const input of ['ǅungla', 'ΣΑΣ', 'ǰ̌', 'İstanbul', 'ﬃx', 'ｶﾞ', 'Ⅻ', '㍿', 'ꭰꮼ']) {
    const once = canonicalUsername(input)
    t.equal(canonicalUsername(once), once, input)
  }
})

t.test('usernameProblem', async t => {
  const refused: Array<[string, string, RegExp]> = [
    ['empty', '', /empty/],
    ['too long', 'a'.repeat(USERNAME_MAX_LENGTH + 1), /longer than 128/],
    ['a space', 'john doe', /white space/],
    ['a tab', 'john\tdoe', /white space/],
    ['a newline', 'john\n', /white space/],
    ['a control character', 'john\u0000', /control/],
    ['DEL', 'john\u007f', /control/],
    ['a zero-width space (format)', 'john\u200bdoe', /control/],
    ['a right-to-left override (format)', '\u202ejohn', /control/],
    ['an ideographic space', 'john\u3000doe', /white space/],
    ['a line separator', 'john\u2028doe', /white space/]
  ]
  for (const [name, username, message] of refused) {
    t.match(usernameProblem(username), message, name)
  }

  const accepted = ['johndoe', 'john.doe', 'john_doe-2', 'jöhn', '用户', '😀', 'a'.repeat(USERNAME_MAX_LENGTH), '😀'.repeat(USERNAME_MAX_LENGTH)]
  for (const username of accepted) {
    t.equal(usernameProblem(username), null, `${JSON.stringify(username.slice(0, 12))} (length ${username.length})`)
  }
  t.match(usernameProblem('😀'.repeat(USERNAME_MAX_LENGTH + 1)), /longer than 128/, 'length counts code points')
})
