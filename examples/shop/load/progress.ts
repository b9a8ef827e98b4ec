/** One status line, rewritten in place on a terminal and printed every few seconds elsewhere. */
export function progressLine(stream: NodeJS.WriteStream = process.stdout) {
  let lastPlain = 0
  return {
    update(text: string) {
      if (stream.isTTY) {
        stream.write(`\r\x1b[2K${text}`)
      } else if (Date.now() - lastPlain >= 5000) {
        lastPlain = Date.now()
        stream.write(`${text}\n`)
      }
    },
    done() {
      if (stream.isTTY) stream.write('\n')
    },
  }
}
