/**
 * concord/msgpack: a msgpackr serializer for the cache (`createCache({ serializer: msgpackSerializer() })`).
 * Needs the optional peer dependency `msgpackr`.
 */
export { msgpackSerializer } from './serializer.js'
