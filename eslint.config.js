import neostandard from 'neostandard'

// The style of Fastify's own packages: standard, for TypeScript too.
export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'examples/host/dist/**', 'examples/host/node_modules/**', '.tap/**']
  }),
  {
    // A TypeBox schema and its Static type share one name, as TypeBox documents: `X` the schema, `X` the type.
    files: ['schemas/**/*.ts'],
    rules: { '@typescript-eslint/no-redeclare': 'off' }
  }
]
