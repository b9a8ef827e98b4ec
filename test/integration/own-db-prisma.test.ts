import { execFile } from 'node:child_process'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { prismaTx } from '../../src/prisma/index.js'
import { ownDbSuite } from '../support/own-db-suite.js'

const run = promisify(execFile)

/**
 * Generates a Prisma client for the suite's one table. Inside node_modules, so the generated code resolves
 * @prisma/client. Generating needs no engine binary (queries run through @prisma/adapter-pg and Prisma's
 * query compiler); the CLI still looks for the schema engine, used only by `prisma migrate`, so it is pointed
 * at a stand-in instead of being downloaded.
 */
const dir = join(process.cwd(), 'node_modules', '.concord-prisma', String(process.pid))

async function generateClient(): Promise<string> {
  await mkdir(dir, { recursive: true })
  await writeFile(
    join(dir, 'schema.prisma'),
    `generator client {
  provider = "prisma-client"
  output   = "./client"
}
datasource db {
  provider = "postgresql"
}
model Item {
  id Int @id
  @@map("items")
}
`,
  )
  await run(
    join(process.cwd(), 'node_modules', '.bin', 'prisma'),
    ['generate', '--schema', join(dir, 'schema.prisma')],
    {
      env: {
        ...process.env,
        PRISMA_SCHEMA_ENGINE_BINARY: '/bin/true',
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
        CHECKPOINT_DISABLE: '1',
      },
      timeout: 120_000,
    },
  )
  return join(dir, 'client', 'client.ts')
}

ownDbSuite({
  name: 'prisma',
  async open(pool) {
    const { PrismaPg } = await import('@prisma/adapter-pg')
    const { PrismaClient } = (await import(await generateClient())) as {
      PrismaClient: new (options: {
        adapter: unknown
      }) => {
        $transaction<T>(fn: (tx: PrismaTx) => Promise<T>): Promise<T>
        $disconnect(): Promise<void>
      }
    }
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
    return {
      transaction: (fn) =>
        prisma.$transaction((tx) =>
          fn(prismaTx(tx), async (id) => void (await tx.item.create({ data: { id } }))),
        ),
      adaptNonTransaction: () => prismaTx(prisma as never),
      async close() {
        await prisma.$disconnect()
        await rm(dir, { recursive: true, force: true })
      },
    }
  },
})

interface PrismaTx {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>
  item: { create(args: { data: { id: number } }): Promise<unknown> }
}
