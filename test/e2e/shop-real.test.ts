import { realShopBackdoor } from '../support/shop-backdoor.js'
import { shopSuite } from '../support/shop-suite.js'

// Redis, NATS and three PostgreSQL primaries with replicas, started here through the harness (so the C8 test can
// plant a divergence behind the shop's back), and one process per service instance.
shopSuite('the shop on real servers (npm run demo -- --real)', ['--real'], 180_000, {
  backdoor: realShopBackdoor,
})
