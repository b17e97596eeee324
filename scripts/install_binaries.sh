#!/usr/bin/env bash
# Install the real Prometheus-side binaries the tests use, from Debian packages, when missing,
# and Go, whose text/template runs the Alloy pipeline's templates in the tests (tests/support/gotemplate/).
set -euo pipefail
needed=()
command -v promtool >/dev/null || needed+=(prometheus)
command -v amtool >/dev/null || needed+=(prometheus-alertmanager)
command -v prometheus-pushgateway >/dev/null || needed+=(prometheus-pushgateway)
command -v prometheus-node-exporter >/dev/null || needed+=(prometheus-node-exporter)
command -v go >/dev/null || needed+=(golang-go)
if [ ${#needed[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${needed[*]}: run 'sudo apt-get install ${needed[*]}' (Debian/Ubuntu) or run this script as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
# The packages start system services; the tests run their own instances on loopback.
for service in prometheus prometheus-alertmanager prometheus-pushgateway prometheus-node-exporter; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done
