import { z } from 'zod'

/** The shop's request bodies and ids, validated at the edge: bad input is a 4xx, never a 5xx. */
export const intId = z.coerce
  .number()
  .int()
  .positive()
  .max(2 ** 31 - 1)
export const orderId = z.string().uuid()

const name = z.string().trim().min(1).max(200)
const price = z.number().finite().nonnegative().max(1e9)
const count = z.number().int().nonnegative().max(1e9)

export const createProduct = z.strictObject({ name, price, stock: count })
export const updateProduct = z
  .strictObject({ name: name.optional(), price: price.optional(), stock: count.optional() })
  .refine((body) => Object.keys(body).length > 0, 'give at least one of name, price, stock')

export const placeOrder = z.strictObject({
  memberId: intId,
  productId: intId,
  quantity: z.number().int().positive().max(1000),
  points: z.number().int().nonnegative().max(1e9),
})

export const searchQuery = z.strictObject({
  q: z.string().trim().min(1).max(200),
  limit: z.coerce.number().int().positive().max(100).default(20),
})

export const orderMode = z.strictObject({ mode: z.enum(['saga', 'events']).default('saga') })

export type CreateProduct = z.infer<typeof createProduct>
export type UpdateProduct = z.infer<typeof updateProduct>
export type PlaceOrder = z.infer<typeof placeOrder>

export interface Product {
  id: number
  name: string
  price: number
  stock: number
  version: number
}

export interface Member {
  id: number
  points: number
}

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED'

export interface Order {
  id: string
  status: OrderStatus
  memberId: number
  productId: number
  quantity: number
  points: number
  unitPrice: number
}
