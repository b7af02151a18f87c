// An HTTPS upstream for the cold scenario: one nginx process (one worker),
// with a certificate from a throwaway CA made here with openssl, serving the
// blob files of the plain upstream's storage in two ways:
//
//   registry   https://127.0.0.1:R/v2/<repo>/blobs/<digest> is the file
//   redirect   https://127.0.0.1:D/v2/<repo>/blobs/<digest>: a GET is a 307
//              to https://127.0.0.1:C/…/data?X-Amz-…, a "CDN" (a third
//              server block) that serves the file; HEAD is answered at D
//
// Both answer GET /v2/ with 200 {} and a blob HEAD with Content-Length and
// Docker-Content-Digest, which is all a proxy needs for a blob GET
// (distribution's proxy pings /v2/ and stats the blob before it fetches it).
// HTTP/1.1 only, as crproxy's upstream client speaks it.
import { mkdirSync, openSync, closeSync, readSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, run, startDaemon, waitHttp } from './procs.mjs'
import { cleanEnv, NGINX_FILES, nginxHead } from './services.mjs'

const q = JSON.stringify

/** A CA and a server certificate for 127.0.0.1 and localhost, signed by it: { caCert, cert, key }. */
export async function makeCerts(dir) {
  mkdirSync(dir, { recursive: true })
  const p = (n) => join(dir, n)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await run('openssl', [
    'req', '-x509', ...ec, '-days', '2', '-subj', '/CN=crproxy bench CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', p('ca.key'), '-out', p('ca.crt'),
  ])
  await run('openssl', ['req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', p('server.key'), '-out', p('server.csr')])
  writeFileSync(
    p('server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  )
  await run('openssl', [
    'x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', p('server.ext'), '-out', p('server.crt'),
  ])
  return { caCert: p('ca.crt'), cert: p('server.crt'), key: p('server.key') }
}

/** nginx over TLS in front of `storage` (a distribution storage root). */
export async function startTlsUpstream({ dir, storage }) {
  const base = join(dir, 'nginx-tls')
  mkdirSync(join(base, 'tmp'), { recursive: true })
  const certs = await makeCerts(join(base, 'certs'))
  const [reg, redir, cdn] = [await freePort(), await freePort(), await freePort()]
  const conf = join(base, 'nginx.conf')
  const accessLog = join(base, 'access.log')
  const blobs = `${storage}/docker/registry/v2/blobs/sha256`
  // Named captures: hex = the digest's hex, pre = its first two characters.
  const blobLocation = '~ "^/v2/.+/blobs/sha256:(?<hex>(?<pre>[0-9a-f]{2})[0-9a-f]{62})$"'
  const v2 = `location = /v2/ {
      default_type application/json;
      add_header Docker-Distribution-Api-Version registry/2.0 always;
      return 200 '{}';
    }`
  const tls = `ssl_certificate ${q(certs.cert)};
    ssl_certificate_key ${q(certs.key)};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:bench:1m;`
  const blobHeaders = `add_header Docker-Content-Digest sha256:$hex always;
      add_header Docker-Distribution-Api-Version registry/2.0 always;`
  // The CDN URL's query imitates a presigned S3 URL (ignored by nginx).
  const signed = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=bench&X-Amz-Date=20240101T000000Z&X-Amz-Expires=1200&X-Amz-SignedHeaders=host&X-Amz-Signature=$hex'
  writeFileSync(
    conf,
    `${nginxHead(base)}
  log_format bench '$server_port "$request" $status $body_bytes_sent "$http_range"';
  access_log ${q(accessLog)} bench;
${NGINX_FILES}
  server {
    listen 127.0.0.1:${reg} ssl;
    ${tls}
    ${v2}
    location ${blobLocation} {
      ${blobHeaders}
      alias ${q(`${blobs}/$pre/$hex/data`)};
    }
  }
  server {
    listen 127.0.0.1:${redir} ssl;
    ${tls}
    ${v2}
    location ${blobLocation} {
      ${blobHeaders}
      if ($request_method = GET) {
        return 307 "https://127.0.0.1:${cdn}/docker/registry/v2/blobs/sha256/$pre/$hex/data?${signed}";
      }
      alias ${q(`${blobs}/$pre/$hex/data`)};
    }
  }
  server {
    listen 127.0.0.1:${cdn} ssl;
    ${tls}
    root ${q(storage)};
    location / { try_files $uri =404; }
  }
}
`,
  )
  const daemon = startDaemon('nginx', ['-e', join(base, 'error.log'), '-p', base, '-c', conf], join(base, 'stdout.log'), cleanEnv({ PATH: `${process.env.PATH}:/usr/sbin:/sbin` }))
  // Readiness over plain TCP: the ports answer (400) before any TLS setup.
  await waitHttp(`http://127.0.0.1:${cdn}/`, { daemon })
  const url = (port) => `https://127.0.0.1:${port}`
  return {
    name: 'nginx-tls',
    caCert: certs.caCert,
    registryUrl: url(reg),
    redirectUrl: url(redir),
    cdnPort: cdn,
    daemon,
    accessLog,
    pid: () => daemon.pid,
    stop: () => daemon.stop(),
    /** Blob GETs logged since `offset` (bytes into the access log): { whole, ranged, bytes } per port. */
    blobGets(offset, hex) {
      return parseGets(accessLog, offset, hex)
    },
    logSize: () => statSync(accessLog).size,
  }
}

function parseGets(path, offset, hex) {
  const fd = openSync(path, 'r')
  let text
  try {
    const buf = Buffer.alloc(Math.max(0, statSync(path).size - offset))
    readSync(fd, buf, 0, buf.length, offset)
    text = buf.toString('utf8')
  } finally {
    closeSync(fd)
  }
  const out = []
  for (const m of text.matchAll(/^(\d+) "GET (\S+) [^"]*" (\d{3}) (\d+)/gm)) {
    if (m[2].includes(hex)) out.push({ port: Number(m[1]), status: Number(m[3]), bytes: Number(m[4]) })
  }
  return out
}
