// Globs of the policy file (docs in README "Pull policy"):
//   repository  `*` one path segment (or part of one), `**` any number of
//               segments, none included: `docker/library/*`, `gcr/distroless/**`
//   tag         `*` any run of characters: `v1.*`, `*-debug`
// Everything else matches itself. Compiled once, when the file is loaded.

const special = /[.+?^${}()|[\]\\]/g

export function repositoryGlob(glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; ) {
    if (glob.startsWith('/**/', i)) {
      re += '/(?:.*/)?'
      i += 4
    } else if (glob.startsWith('/**', i) && i + 3 === glob.length) {
      re += '(?:/.*)?'
      i += 3
    } else if (i === 0 && glob.startsWith('**/')) {
      re += '(?:.*/)?'
      i += 3
    } else if (glob.startsWith('**', i)) {
      re += '.*'
      i += 2
    } else if (glob[i] === '*') {
      re += '[^/]*'
      i++
    } else {
      re += glob[i]!.replace(special, '\\$&')
      i++
    }
  }
  return new RegExp(`^${re}$`)
}

export function tagGlob(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(special, '\\$&')).join('.*')}$`)
}
