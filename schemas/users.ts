import { Type, type Static } from '@sinclair/typebox'

export const Me = Type.Object({
  username: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  full_name: Type.Union([Type.String(), Type.Null()]),
  disabled: Type.Boolean(),
  scopes: Type.Array(Type.String(), { description: 'The scopes granted to this token' })
})
export type Me = Static<typeof Me>

export const Items = Type.Array(Type.Object({
  item_id: Type.String(),
  owner: Type.String()
}))

export const Status = Type.Object({ status: Type.String() })

export const Health = Type.Object({
  status: Type.String({ description: '`ok` or `unavailable`' }),
  unavailable: Type.Optional(Type.Array(Type.Union([Type.Literal('store'), Type.Literal('redis')]), {
    description: 'What does not answer: the store, Redis (when the server uses it)'
  }))
})
