// A small leveled logger. One line per event, `key=value` pairs after the
// message so lines grep well. Secrets never reach it: callers pass paths and
// hosts, never header values (see redact()).

export type Level = 'debug' | 'info' | 'warn' | 'error'
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export type Fields = Record<string, string | number | boolean | undefined | null>

export interface Logger {
  debug(msg: string, fields?: Fields): void
  info(msg: string, fields?: Fields): void
  warn(msg: string, fields?: Fields): void
  error(msg: string, fields?: Fields): void
  child(fields: Fields): Logger
  readonly level: Level
}

export interface LoggerOptions {
  level?: Level
  format?: 'text' | 'json'
  write?: (line: string) => void
}

function fmtValue(v: string | number | boolean): string {
  const s = String(v)
  return /[\s"=]/.test(s) || s === '' ? JSON.stringify(s) : s
}

export function createLogger(opts: LoggerOptions = {}, bound: Fields = {}): Logger {
  const level = opts.level ?? 'info'
  const format = opts.format ?? 'text'
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'))
  const emit = (lvl: Level, msg: string, fields?: Fields) => {
    if (order[lvl] < order[level]) return
    const all: Fields = { ...bound, ...fields }
    if (format === 'json') {
      const obj: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg }
      for (const [k, v] of Object.entries(all)) if (v !== undefined && v !== null) obj[k] = v
      write(JSON.stringify(obj))
      return
    }
    let line = `${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${msg}`
    for (const [k, v] of Object.entries(all)) {
      if (v !== undefined && v !== null) line += ` ${k}=${fmtValue(v)}`
    }
    write(line)
  }
  return {
    level,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(opts, { ...bound, ...fields }),
  }
}

/** A logger that drops everything: for tests and library use. */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => {} })

/** Strips query strings that may carry credentials (token endpoints). */
export function redactUrl(u: URL | string): string {
  const url = typeof u === 'string' ? new URL(u) : u
  return url.search ? `${url.origin}${url.pathname}?…` : `${url.origin}${url.pathname}`
}
