// Load generators: curl for transfers (written to /dev/null, so the client
// does little more than recv()), curl --parallel for N concurrent transfers
// in one process, and wrk for request rates.
import { run } from './procs.mjs'

const FMT = '%{http_code} %{time_total} %{size_download} %{time_starttransfer}\\n'

function parseLines(stdout) {
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [code, total, size, ttfb] = l.trim().split(/\s+/)
      return { status: Number(code), seconds: Number(total), bytes: Number(size), ttfb: Number(ttfb) }
    })
}

/**
 * One GET; { status, seconds, bytes, ttfb (time to the first byte, s) }.
 * Throws unless expectStatus (200) with expectBytes (when given). `curlArgs`
 * go to curl as they are (e.g. --cacert, -L).
 */
export async function curlGet(url, { headers = {}, expectBytes, expectStatus = 200, range, curlArgs = [] } = {}) {
  const args = ['-s', '-o', '/dev/null', '-w', FMT, ...curlArgs]
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`)
  if (range) args.push('-r', range)
  args.push(url)
  const { stdout } = await run('curl', args)
  const [r] = parseLines(stdout)
  check(url, r, expectBytes, expectStatus)
  return r
}

/**
 * n concurrent GETs of url from one curl process (all started at once).
 * Returns { wall (s, parent-measured), slowest (s, max time_total), bytes, each }.
 */
export async function curlParallel(url, n, { expectBytes, curlArgs = [] } = {}) {
  const args = ['-s', '--no-progress-meter', '-Z', '--parallel-immediate', '--parallel-max', String(Math.min(n, 300)), '-w', FMT, ...curlArgs]
  for (let i = 0; i < n; i++) args.push(url, '-o', '/dev/null')
  const { stdout, ms } = await run('curl', args)
  const each = parseLines(stdout)
  if (each.length !== n) throw new Error(`curl --parallel: ${each.length} of ${n} transfers reported`)
  for (const r of each) check(url, r, expectBytes)
  return {
    wall: ms / 1000,
    slowest: Math.max(...each.map((r) => r.seconds)),
    bytes: each.reduce((a, r) => a + r.bytes, 0),
    each,
  }
}

function check(url, r, expectBytes, expectStatus = 200) {
  if (!r || r.status !== expectStatus) throw new Error(`GET ${url}: status ${r?.status}, expected ${expectStatus}`)
  if (expectBytes !== undefined && r.bytes !== expectBytes) {
    throw new Error(`GET ${url}: ${r.bytes} bytes, expected ${expectBytes}`)
  }
}

function toMs(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s)
  if (!m) return NaN
  const v = Number(m[1])
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000
}

/** wrk -t<threads> -c<conns> -d<secs>s --latency; { rps, p50, p99 (ms), requests, non2xx, errors }. */
export async function wrk(url, { threads = 2, connections = 32, seconds = 5, headers = {} } = {}) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency']
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`)
  args.push(url)
  const { stdout } = await run('wrk', args, { timeoutMs: (seconds + 30) * 1000 })
  const num = (re) => Number(re.exec(stdout)?.[1] ?? NaN)
  const lat = (p) => toMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(stdout)?.[1] ?? '')
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)
  const res = {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: lat(50),
    p99: lat(99),
    requests: num(/(\d+) requests in/),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/) || 0,
    errors: sock ? sock.slice(1).reduce((a, n) => a + Number(n), 0) : 0,
  }
  if (!(res.rps > 0)) throw new Error(`wrk ${url}: could not parse\n${stdout}`)
  return res
}
