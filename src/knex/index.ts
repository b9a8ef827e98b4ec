/** concord/knex: Knex transactions (pg client) as concord's `Connection` (the optional peer dependency `knex`). */
export { knexTx } from './connection.js'
