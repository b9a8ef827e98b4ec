import { shopSuite } from '../support/shop-suite.js'

// Starts Redis, NATS and three PostgreSQL primaries with replicas through the harness, and one process
// per service instance.
shopSuite('the shop on real servers (npm run demo -- --real)', ['--real'], 180_000)
