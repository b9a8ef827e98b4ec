/**
 * The adapter guide (docs/guides/adapters.md): the bus contract run against the adapter in map-bus.ts. A vitest
 * file's body: test/integration/docs-guides.test.ts imports it, which registers the suite there.
 */
// #region contract
import { runBusContract } from 'concord/testing'
import { createMapBus } from './map-bus.js'

runBusContract({ name: 'map bus', create: () => createMapBus() })
// #endregion contract
