// The pull policy (`--policy FILE`): rules that allow or deny pulls by map
// key and repository glob, optionally by tag glob. The first rule that
// matches decides; none: the default action.
//
// A rule with a tag glob governs which tags resolve. A request that names no
// tag (a manifest by digest, a blob, a tag list) cannot be tied to one, so
// for it such a rule counts by its action: an allow opens the repository's
// content by digest (or no image allowed by tag could be pulled), a deny is
// passed over (pinning by digest stays possible). To block content by
// digest, deny the repository without a tag.
import type { Metrics } from '../metrics.js'

export type Action = 'allow' | 'deny'

export interface Rule {
  /** What a denial names: the rule's `name`, else `rule <n>` (1-based). */
  name: string
  action: Action
  /** `<map key>/<repository>` as written in the file. */
  repository: string
  tag?: string
  repositoryRe: RegExp
  tagRe?: RegExp
}

export interface Policy {
  rules: Rule[]
  default: Action
  /** Where it was read from, for logs. */
  source: string
}

export interface PullTarget {
  /** The map key the request was routed to. */
  key: string
  /** The repository as the upstream knows it (`library/` added for Docker Hub). */
  name: string
  /** The tag of a manifest request by tag; undefined for anything by digest. */
  tag?: string
}

export interface Decision {
  action: Action
  /** The rule that decided, or `default`. */
  rule: string
}

export function decide(policy: Policy, p: PullTarget): Decision {
  const subject = `${p.key}/${p.name}`
  for (const r of policy.rules) {
    if (!r.repositoryRe.test(subject)) continue
    if (r.tagRe) {
      if (p.tag === undefined ? r.action === 'deny' : !r.tagRe.test(p.tag)) continue
    }
    return { action: r.action, rule: r.name }
  }
  return { action: policy.default, rule: 'default' }
}

export function policyDenialCounter(metrics: Metrics): ReturnType<Metrics['counter']> {
  return metrics.counter('crproxy_policy_denials_total', 'Pulls refused by the --policy file, by the rule that refused them')
}
