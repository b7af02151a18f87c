#!/usr/bin/env bash
# Installs the real software the e2e tests and benchmarks run against:
# Docker distribution 2.8 (docker-registry), skopeo, nginx, wrk, openssl,
# htpasswd (apache2-utils, for bcrypt htpasswd files), and the container
# runtimes the runtime e2e tests pull with: containerd 1.6 (containerd, ctr),
# podman 4.3 and the Docker 20.10 daemon (docker.io: dockerd, docker);
# haproxy (the two-node scaling test), make (`make release` test) and
# chromium (the status page, rendered headless) and mmdebstrap (`make image`
# builds the Docker image's base offline with it).
# Idempotent: does nothing when every tool is already there. Debian packages
# only.
set -euo pipefail

PACKAGES=(docker-registry skopeo nginx wrk openssl apache2-utils containerd podman docker.io haproxy make chromium mmdebstrap)
# Absolute paths where a same-named tool may come from elsewhere (a docker
# CLI in /usr/local/bin is not the Debian daemon's client).
TOOLS=(/usr/bin/docker-registry skopeo nginx wrk openssl htpasswd
  /usr/bin/containerd /usr/bin/ctr /usr/bin/podman /usr/sbin/dockerd /usr/bin/docker haproxy make chromium mmdebstrap)

have_all() {
  local t
  for t in "${TOOLS[@]}"; do
    if [[ "$t" == /* ]]; then
      [[ -x "$t" ]] || return 1
    else
      PATH="$PATH:/usr/sbin:/sbin" command -v "$t" >/dev/null 2>&1 || return 1
    fi
  done
}

if have_all; then
  echo "install.sh: all tools present"
  exit 0
fi

SUDO=()
if [[ "$(id -u)" != 0 ]]; then SUDO=(sudo -n); fi

export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting system services (nginx on :80, the
# registry on :5000) while installing; restore any existing policy afterwards.
POLICY=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  made_policy=1
fi
cleanup() { if [[ $made_policy == 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; fi; }
trap cleanup EXIT

"${SUDO[@]}" apt-get update -qq >/dev/null
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${PACKAGES[@]}" >/dev/null

if ! have_all; then
  echo "install.sh: tools still missing after apt-get install" >&2
  exit 1
fi
echo "install.sh: installed ${PACKAGES[*]}"
