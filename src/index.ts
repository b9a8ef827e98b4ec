export * from './errors.js'
export type { Duration } from './options.js'
