import { shopSuite } from '../support/shop-suite.js'

shopSuite('the shop, embedded (npm run demo)', [], 120_000)
