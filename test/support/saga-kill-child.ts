// A saga orchestrator in a child process that kills itself with SIGKILL at a chosen boundary:
// after the n-th write to the saga log, or inside a step's effect (before or after its commit).
// argv[2]: JSON { urls, owner, lease, input, scenario: 'happy'|'compensate', killAtWrite?, killAt? }
import { createSagaEngine, createSqlSagaLog, sagaSqlFromShards } from 'concord/saga'
import {
  type FaultPoint,
  type Faults,
  type OrderInput,
  orderSaga,
  orderShards,
  scenarioFaults,
} from './saga-order.js'

interface ChildConfig {
  urls: string[]
  owner: string
  lease: number
  input: OrderInput
  scenario: 'happy' | 'compensate'
  killAtWrite?: number
  killAt?: { label: string; when: FaultPoint }
}

const config = JSON.parse(process.argv[2]!) as ChildConfig
const die = () => process.kill(process.pid, 'SIGKILL')

const base = scenarioFaults(config.scenario)
const faults: Faults = {
  hit(label, when) {
    if (config.killAt?.label === label && config.killAt.when === when) die()
    base.hit(label, when)
  },
}
const shards = await orderShards(config.urls, 4)
let writes = 0
const engine = createSagaEngine({
  log: createSqlSagaLog({ db: sagaSqlFromShards(shards) }),
  owner: config.owner,
  lease: config.lease,
  action: { attempts: 3, backoff: 1, maxBackoff: 5 },
  compensation: { attempts: 3, backoff: 1, maxBackoff: 5 },
  onEvent: () => {
    writes += 1
    if (writes === config.killAtWrite) die()
  },
})
const outcome = await engine.register(orderSaga(shards, faults)).run(config.input, {
  idempotencyKey: config.input.orderId,
})
console.log(JSON.stringify({ outcome, writes }))
await engine.close()
await shards.close()
