// From a reference to the blobs a pull needs: the manifest by tag or digest,
// for an index (OCI index, Docker manifest list) the children of the chosen
// platforms, and each image's config and layers. Every manifest is fetched
// with the Accept a runtime sends, read bounded (4 MiB, as containerd) and
// checked against its digest. The GETs go through the proxy, so they warm
// its manifest cache as they go.
import { createHash } from 'node:crypto'
import { MAX_MANIFEST_SIZE } from '../../manifests/disk-store.js'
import { essence } from '../../manifests/media-types.js'
import { isDigest } from '../../registry/grammar.js'
import type { ImageReference } from './reference.js'
import { errorText, PrefetchError, readSmallBody, type Credentials, type RegistryClient } from './registry-client.js'

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const
const ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].join(', ')
const indexTypes = new Set<string>([MT.ociIndex, MT.dockerList])
const imageTypes = new Set<string>([MT.ociManifest, MT.dockerManifest])
/** An index of indexes is allowed this deep (no registry nests further). */
const MAX_DEPTH = 3

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

export interface BlobRef {
  digest: string
  size: number
}

export interface ResolvedImage {
  ref: ImageReference
  ns: string | null
  /** The top manifest's digest. */
  digest: string
  /** Digests of the image manifests chosen (one per platform). */
  images: Array<{ digest: string; platform: string }>
  blobs: BlobRef[]
}

export interface ResolveOptions {
  /** 'all', or the platforms to take from an index. */
  platforms: Platform[] | 'all'
  creds?: Credentials
}

/** `linux/arm64/v8` → its parts; an error message for anything else. */
export function parsePlatform(s: string): Platform | string {
  const parts = s.trim().toLowerCase().split('/')
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    return `${JSON.stringify(s)} is not a platform (os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8)`
  }
  const [os, architecture, variant] = parts as [string, string, string?]
  return variant ? { os, architecture, variant } : { os, architecture }
}

/** The platform of this host, as images name it (Node's x64 is amd64). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' }
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch }
}

export function formatPlatform(p: Partial<Platform> | undefined): string {
  if (!p?.os || !p.architecture) return 'unknown'
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/')
}

/** A wanted platform without a variant matches any variant of its architecture. */
function matches(want: Platform, have: Partial<Platform> | undefined): boolean {
  return have?.os === want.os && have.architecture === want.architecture && (!want.variant || have.variant === want.variant)
}

interface Descriptor {
  mediaType?: string
  digest?: string
  size?: number
  urls?: string[]
  platform?: Partial<Platform>
}

interface ManifestDoc {
  mediaType?: string
  manifests?: Descriptor[]
  config?: Descriptor
  layers?: Descriptor[]
}

function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex')
}

async function fetchManifest(
  client: RegistryClient,
  ref: ImageReference,
  ns: string | null,
  reference: string,
  creds: Credentials | undefined,
): Promise<{ digest: string; mediaType: string; doc: ManifestDoc }> {
  const res = await client.get(ref.repo, `manifests/${reference}`, { ns, accept: ACCEPT, creds })
  if (res.statusCode !== 200) throw new PrefetchError(`manifest ${reference}: ${await errorText(res)}`)
  const body = await readSmallBody(res, MAX_MANIFEST_SIZE)
  const digest = sha256(body)
  const announced = String(res.headers['docker-content-digest'] ?? '')
  if (isDigest(reference) && reference !== digest) throw new PrefetchError(`manifest ${reference}: the proxy sent ${digest}`)
  if (announced.startsWith('sha256:') && announced !== digest) throw new PrefetchError(`manifest ${reference}: body is ${digest}, header says ${announced}`)
  let doc: ManifestDoc
  try {
    doc = JSON.parse(body.toString('utf8')) as ManifestDoc
  } catch {
    throw new PrefetchError(`manifest ${reference}: not JSON`)
  }
  const mediaType = doc.mediaType ?? essence(String(res.headers['content-type'] ?? '')) ?? ''
  return { digest, mediaType, doc }
}

function descriptor(d: Descriptor | undefined, what: string): BlobRef {
  if (!d || typeof d.digest !== 'string' || !isDigest(d.digest) || !Number.isSafeInteger(d.size) || d.size! < 0) {
    throw new PrefetchError(`${what}: descriptor without a valid digest and size`)
  }
  return { digest: d.digest, size: d.size! }
}

export async function resolveImage(client: RegistryClient, ref: ImageReference, ns: string | null, opts: ResolveOptions): Promise<ResolvedImage> {
  const top = await fetchManifest(client, ref, ns, ref.digest ?? ref.tag!, opts.creds)
  const out: ResolvedImage = { ref, ns, digest: top.digest, images: [], blobs: [] }
  const seen = new Set<string>()
  const addImage = (m: { digest: string; doc: ManifestDoc }, platform: string) => {
    out.images.push({ digest: m.digest, platform })
    for (const d of [m.doc.config, ...(m.doc.layers ?? [])]) {
      // Foreign layers (urls: Windows base layers) are not the registry's to serve.
      if (d && d.urls?.length) continue
      const b = descriptor(d, `manifest ${m.digest}`)
      if (!seen.has(b.digest)) {
        seen.add(b.digest)
        out.blobs.push(b)
      }
    }
  }
  const walk = async (m: { digest: string; mediaType: string; doc: ManifestDoc }, depth: number, platform: string): Promise<void> => {
    if (imageTypes.has(m.mediaType) || (!m.mediaType && m.doc.layers)) return addImage(m, platform)
    if (!indexTypes.has(m.mediaType) && !(!m.mediaType && m.doc.manifests)) {
      throw new PrefetchError(`manifest ${m.digest}: media type ${m.mediaType || 'unknown'} is not supported (schema 1 or an artifact)`)
    }
    if (depth >= MAX_DEPTH) throw new PrefetchError(`manifest ${m.digest}: indexes nested too deep`)
    const children = m.doc.manifests ?? []
    const wanted = opts.platforms
    const chosen = wanted === 'all' ? children : children.filter((c) => wanted.some((w) => matches(w, c.platform)))
    if (wanted !== 'all') {
      const missing = wanted.filter((w) => !children.some((c) => matches(w, c.platform)))
      if (missing.length) {
        const has = children.map((c) => formatPlatform(c.platform)).join(', ')
        throw new PrefetchError(`no manifest for ${missing.map(formatPlatform).join(', ')} (the index has ${has || 'none'})`)
      }
    }
    for (const c of chosen) {
      const d = descriptor(c, `index ${m.digest}`)
      await walk(await fetchManifest(client, ref, ns, d.digest, opts.creds), depth + 1, formatPlatform(c.platform))
    }
  }
  await walk(top, 0, '')
  return out
}
