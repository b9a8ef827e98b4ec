/** The waits concord's tests use are the ones its published contract suites use (concord/testing). */
export { signal, sleep, waitFor } from '../../src/testing/wait.js'
