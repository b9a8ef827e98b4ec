/** pg's epoch (2000-01-01) in Unix milliseconds. */
const PG_EPOCH_MS = 946_684_800_000

/**
 * Sends a Standby Status Update ('r') reporting `lsn` as written, flushed and applied: the server then sets the
 * slot's confirmed_flush_lsn to it. Exactly `lsn` (a transaction's commit end), not one past it as
 * pg-logical-replication's `acknowledge` sends: a transaction whose commit record starts right there would
 * otherwise be skipped after a restart.
 */
export function sendStandbyStatus(connection: { sendCopyFromChunk(chunk: Buffer): void }, lsn: string): void {
  const [high, low] = lsn.split('/').map((part) => Number.parseInt(part, 16)) as [number, number]
  const message = Buffer.alloc(34)
  message[0] = 0x72 // 'r'
  for (const offset of [1, 9, 17]) {
    message.writeUInt32BE(high, offset)
    message.writeUInt32BE(low, offset + 4)
  }
  message.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25)
  message[33] = 0 // no reply requested
  connection.sendCopyFromChunk(message)
}
