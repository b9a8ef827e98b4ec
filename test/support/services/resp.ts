import { connect } from 'node:net'

/** A reply of the RESP2 kinds the harness needs (no arrays): status, integer or bulk string. */
export type RespReply = string | number | null

export interface RespOptions {
  host?: string
  password?: string
  timeoutMs?: number
}

/** Sends one command (see `redisCommands`) and returns its reply. */
export async function redisCommand(
  port: number,
  args: (string | number)[],
  options: RespOptions = {},
): Promise<RespReply> {
  const replies = await redisCommands(port, [args], options)
  return replies[0]!
}

/**
 * Sends commands on one short-lived raw connection and returns their replies (an error reply rejects).
 * Used for readiness probes and admin commands, where a client library's reconnect and queueing logic
 * would only get in the way. `password` sends AUTH first (its reply is not returned).
 */
export function redisCommands(
  port: number,
  list: (string | number)[][],
  { host = '127.0.0.1', password, timeoutMs = 2_000 }: RespOptions = {},
): Promise<RespReply[]> {
  return new Promise((resolve, reject) => {
    const commands = password ? [['AUTH', password], ...list] : list
    const socket = connect({ host, port })
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`redis ${host}:${port} timed out`)))
    let buffer = ''
    const replies: RespReply[] = []
    socket.once('error', reject)
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8')
      try {
        for (;;) {
          const parsed = parseReply(buffer)
          if (!parsed) return
          replies.push(parsed.reply)
          buffer = buffer.slice(parsed.length)
          if (replies.length === commands.length) {
            socket.end()
            resolve(password ? replies.slice(1) : replies)
            return
          }
        }
      } catch (error) {
        socket.destroy()
        reject(error)
      }
    })
    socket.write(commands.map(encode).join(''))
  })
}

function encode(args: (string | number)[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`
}

/** Parses one reply from the start of `text`; undefined when incomplete. Byte counts assume ASCII replies. */
function parseReply(text: string): { reply: RespReply; length: number } | undefined {
  const end = text.indexOf('\r\n')
  if (end < 0) return undefined
  const kind = text[0]
  const line = text.slice(1, end)
  if (kind === '+') return { reply: line, length: end + 2 }
  if (kind === ':') return { reply: Number(line), length: end + 2 }
  if (kind === '-') throw new Error(`redis error: ${line}`)
  if (kind === '$') {
    const size = Number(line)
    if (size < 0) return { reply: null, length: end + 2 }
    if (text.length < end + 2 + size + 2) return undefined
    return { reply: text.slice(end + 2, end + 2 + size), length: end + 2 + size + 2 }
  }
  throw new Error(`unexpected redis reply: ${text.slice(0, 40)}`)
}
