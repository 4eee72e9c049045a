import { Logger } from "effect"

/**
 * The log's lines on standard output, written once per turn of the event loop: every line logged
 * in one turn goes out in one `console.log`. At the default level every request logs its access
 * line, and a line written alone was a write system call of its own (stdout to a pipe or a file is
 * written synchronously): the write and its `console.log` were 63 of the 120 µs of CPU an access
 * line cost a request, 5 µs batched (`scripts/bench/http-path.ts LOG_LEVEL=info`, profiled; item 27
 * of docs/PERFORMANCE.md). Effect's `Logger.batched` flushes on a timer, which would wake an idle
 * process every window. Here no timer runs while nothing is logged, a line waits at most for the
 * end of its turn, and the lines still waiting when the process exits (a start-up failure, a
 * shutdown) are written on `exit`. Only SIGKILL loses them, with the turn that logged them.
 */

let waiting: Array<string> = []
let scheduled = false
let exitHooked = false

const flush = () => {
  scheduled = false
  if (waiting.length === 0) return
  const lines = waiting
  waiting = []
  // `console.log`, as effect's console loggers write: an error writing stdout is ignored.
  console.log(lines.join("\n"))
}

const enqueue = (line: string) => {
  waiting.push(line)
  if (scheduled) return
  scheduled = true
  setImmediate(flush)
}

/** `format`'s lines written to standard output, batched per turn of the event loop. */
export const toStdout = <Message>(format: Logger.Logger<Message, string>): Logger.Logger<Message, void> => {
  if (!exitHooked) {
    exitHooked = true
    process.on("exit", flush)
  }
  return Logger.map(format, enqueue)
}
