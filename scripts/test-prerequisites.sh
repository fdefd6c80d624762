#!/usr/bin/env bash
# What `npm test` needs besides node_modules, checked (and where possible installed) before
# the type check and jest, so the README's test command works on a fresh machine of this kind
# as it does in CI (.ci/run calls `npm test`, which runs this first).
#
# - moto_server, terraform and the AWS provider mirror ship with this machine kind; PyPI and
#   the Terraform registry are not reachable, so they cannot be installed here: fail early
#   with what is missing instead of a test timeout.
# - podman, runc and catatonit (Debian), for test/e2e/container.test.ts, which builds the
#   sender's image from a base made of the project's node and runs it as the task definition
#   says. There is no Docker engine here. Rootful podman needs runc (the runtime we
#   configure) and catatonit (the task definition's initProcessEnabled is `podman run
#   --init`); not uidmap, slirp4netns or fuse-overlayfs (rootless only), nor iptables (the
#   test uses --network host). Installed with apt-get when missing and this runs as root;
#   otherwise it says what to install.
#
# Idempotent and quick on a ready machine (~0.3 s): nothing is installed or written twice.
set -euo pipefail
export PATH="$PATH:/root/.pyenv/shims:/usr/local/bin"
say() { printf '[test setup] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

command -v moto_server >/dev/null || die "moto_server not found (moto 5.2.1 ships with this machine kind; PyPI is not reachable)"
command -v terraform >/dev/null || die "terraform not found (1.11.4 ships with this machine kind)"
[ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ] || die "the AWS provider mirror /opt/tf-plugins is missing (it ships with this machine kind)"

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v catatonit >/dev/null; then
  [ "$(id -u)" = 0 ] || die "podman, runc and catatonit are needed by the container test: as root, apt-get install podman runc catatonit (or run .ci/run)"
  say "installing podman runc catatonit (Debian packages; once per machine)"
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp)
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends podman runc catatonit; } >"$apt_log" 2>&1; then
    cat "$apt_log" >&2; rm -f "$apt_log"; die "apt-get could not install podman runc catatonit (output above)"
  fi
  rm -f "$apt_log"
fi

podman_conf=/etc/containers/containers.conf.d/50-vibe-digest.conf
if [ ! -f "$podman_conf" ]; then
  [ "$(id -u)" = 0 ] || die "podman needs $podman_conf (runtime = \"runc\" and default_ulimits this machine allows): run this script as root once"
  # runc explicitly (crun is not installed), and default ulimits this sandbox lets a
  # container set: podman's defaults (nofile/nproc ~1M as root) make runc fail with
  # "error setting rlimit ... operation not permitted"; nproc above pid_max (32768 here) too.
  hard_nofile=$(ulimit -Hn)
  if [ "$hard_nofile" = unlimited ] || [ "$hard_nofile" -gt 65536 ]; then hard_nofile=65536; fi
  hard_nproc=$(ulimit -Hu)
  if [ "$hard_nproc" = unlimited ] || [ "$hard_nproc" -gt 4096 ]; then hard_nproc=4096; fi
  mkdir -p "$(dirname "$podman_conf")"
  cat >"$podman_conf" <<CONF
# written by vibe-digest scripts/test-prerequisites.sh
[containers]
default_ulimits = ["nofile=${hard_nofile}:${hard_nofile}", "nproc=${hard_nproc}:${hard_nproc}"]
[engine]
runtime = "runc"
CONF
  # Overlay works for root on this machine kind; where it does not, fall back to vfs.
  if ! timeout 60 podman info >/dev/null 2>&1; then
    say "podman info failed with the default storage driver: using vfs"
    printf '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' >/etc/containers/storage.conf
    timeout 60 podman info >/dev/null
  fi
  say "$(podman --version), runtime runc, configured in $podman_conf"
fi
