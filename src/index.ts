export * from './errors.js'
export type { Duration } from './options.js'
export { duration, parseOptions } from './options.js'
