#!/usr/bin/env bash
# Installs what the enumerator app's tests need: Node.js (the rules parity test,
# schema/tests/js_rules.rs), Debian's chromium and playwright-core (the browser test,
# tests/tests/api/app.rs). Browser downloads fail here, so Playwright drives the Debian package;
# playwright-core itself comes from npm (pinned in tests/js/package-lock.json).
# Idempotent. Needs root (apt-get) unless chromium and node are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
npm ci --prefix tests/js --no-audit --no-fund
echo "node $(node --version), $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium ?')"
