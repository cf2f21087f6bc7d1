#!/usr/bin/env bash
# Installs the machine packages cpnet's local stack and tests need, when they are missing:
# PostgreSQL server (15+), kcat (an independent Kafka client for checks), a JDK and Maven
# (the Kafka broker runs from Maven Central's jars), and for the console's browser tests Debian's
# Chromium with the Noto CJK fonts (Playwright drives it; no browser is ever downloaded).
# Needs root for apt-get; otherwise it only says what is missing.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
[ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "cpnet: missing system packages: ${missing[*]} (install them with your package manager)" >&2
  exit 1
fi
echo "installing ${missing[*]} …"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
