// One blob pulled through the proxy: streamed, counted and hashed chunk by
// chunk, then dropped; never held whole. Reading it to its end is what makes
// the proxy commit it to its cache (it verifies the digest itself too; the
// check here names a proxy or upstream that sent the wrong bytes).
import { createHash } from 'node:crypto'
import { parseDigest } from '../../registry/grammar.js'
import { errorText, PrefetchError, type Credentials, type RegistryClient } from './registry-client.js'
import type { BlobRef } from './resolve.js'

export async function fetchBlob(
  client: RegistryClient,
  repo: string,
  ns: string | null,
  blob: BlobRef,
  creds: Credentials | undefined,
  onBytes: (n: number) => void,
): Promise<void> {
  const res = await client.get(repo, `blobs/${blob.digest}`, { ns, creds })
  if (res.statusCode !== 200) throw new PrefetchError(await errorText(res))
  const algorithm = parseDigest(blob.digest)!.algorithm
  const hash = createHash(algorithm)
  let got = 0
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      hash.update(chunk)
      got += chunk.length
      onBytes(chunk.length)
    }
  } catch (err) {
    throw new PrefetchError(`cut off after ${got} of ${blob.size} bytes: ${(err as Error).message}`)
  }
  if (got !== blob.size) throw new PrefetchError(`${got} bytes where the manifest says ${blob.size}`)
  const found = `${algorithm}:${hash.digest('hex')}`
  if (found !== blob.digest) throw new PrefetchError(`content is ${found}`)
}
