// Reads and checks a policy file (JSON, or the YAML subset of
// yaml-subset.ts for `.yaml`/`.yml`). Every mistake is a ConfigError naming
// the file and the rule: exit 2 at start-up, a warning on SIGHUP.
import { readFile } from 'node:fs/promises'
import { ConfigError } from '../config.js'
import { errnoReason } from '../errno-reason.js'
import { jsonSyntaxError } from '../json-error.js'
import { repositoryGlob, tagGlob } from './glob.js'
import type { Action, Policy, Rule } from './policy.js'
import { parseYamlSubset } from './yaml-subset.js'

/** A policy is a page of rules; a bigger file is a mistake. */
const MAX_FILE = 1024 * 1024
export const MAX_RULES = 10_000

const repositoryRe = /^[a-z0-9._\-*]+(\/[a-z0-9._\-*]+)*$/
const tagRe = /^[A-Za-z0-9_.\-*]{1,128}$/
const nameRe = /^[A-Za-z0-9_.:\-/ ]{1,64}$/
const ruleKeys = new Set(['name', 'action', 'repository', 'tag'])

function action(v: unknown, what: string): Action {
  if (v === 'allow' || v === 'deny') return v
  throw new ConfigError(`${what}: expected "allow" or "deny", got ${JSON.stringify(v)}`)
}

export function parsePolicy(text: string, source: string): Policy {
  let doc: unknown
  if (/\.ya?ml$/i.test(source)) {
    const parsed = parseYamlSubset(text)
    if ('line' in parsed && 'reason' in parsed && typeof parsed.line === 'number') {
      throw new ConfigError(`policy ${source}: line ${parsed.line}: ${parsed.reason}`)
    }
    doc = parsed
  } else {
    try {
      doc = JSON.parse(text)
    } catch {
      throw new ConfigError(`policy ${source}: not valid JSON: ${jsonSyntaxError(text) ?? 'unreadable'}`)
    }
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`policy ${source}: expected {"default": "allow"|"deny", "rules": [...]}`)
  }
  const d = doc as Record<string, unknown>
  for (const k of Object.keys(d)) if (k !== 'default' && k !== 'rules') throw new ConfigError(`policy ${source}: unknown field ${JSON.stringify(k)}`)
  if (d['default'] === undefined) throw new ConfigError(`policy ${source}: "default" (allow or deny) is required`)
  const dflt = action(d['default'], `policy ${source}: "default"`)
  const raw = d['rules'] ?? []
  if (!Array.isArray(raw)) throw new ConfigError(`policy ${source}: "rules" must be a list`)
  if (raw.length > MAX_RULES) throw new ConfigError(`policy ${source}: more than ${MAX_RULES} rules`)
  const names = new Set<string>()
  const rules = raw.map((r: unknown, i): Rule => {
    const where = `policy ${source}: rule ${i + 1}`
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new ConfigError(`${where}: expected {"action", "repository", "tag"?, "name"?}`)
    const o = r as Record<string, unknown>
    for (const k of Object.keys(o)) if (!ruleKeys.has(k)) throw new ConfigError(`${where}: unknown field ${JSON.stringify(k)}`)
    const name = o['name'] === undefined ? `rule ${i + 1}` : o['name']
    if (typeof name !== 'string' || !nameRe.test(name) || name === 'default') {
      throw new ConfigError(`${where}: "name" must be 1 to 64 letters, digits, spaces or ._-:/ (and not "default")`)
    }
    if (names.has(name)) throw new ConfigError(`${where}: name ${JSON.stringify(name)} is used twice`)
    names.add(name)
    const repository = o['repository']
    if (typeof repository !== 'string' || !repositoryRe.test(repository) || !repository.includes('/') && repository !== '**') {
      throw new ConfigError(`${where}: "repository" must be "<map key>/<repository glob>" (lowercase, * and **), got ${JSON.stringify(repository)}`)
    }
    const tag = o['tag']
    if (tag !== undefined && (typeof tag !== 'string' || !tagRe.test(tag))) {
      throw new ConfigError(`${where}: "tag" must be a tag glob (letters, digits, ._- and *), got ${JSON.stringify(tag)}`)
    }
    return {
      name,
      action: action(o['action'], `${where}: "action"`),
      repository,
      repositoryRe: repositoryGlob(repository),
      ...(tag === undefined ? {} : { tag, tagRe: tagGlob(tag) }),
    }
  })
  return { rules, default: dflt, source }
}

export async function loadPolicy(path: string): Promise<Policy> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`policy ${path}: cannot read: ${errnoReason(err)}`)
  }
  if (text.length > MAX_FILE) throw new ConfigError(`policy ${path}: larger than 1 MiB`)
  return parsePolicy(text, path)
}
