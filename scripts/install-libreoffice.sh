#!/usr/bin/env bash
# Installs what the report's DOCX test needs (tests/tests/api/report.rs): LibreOffice Writer,
# headless, to open the generated DOCX and convert it to PDF as a real reader would, and
# poppler-utils for pdftotext to read the PDF's text back. Idempotent. Needs root (apt-get)
# unless soffice and pdftotext are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
missing=()
command -v soffice >/dev/null 2>&1 || missing+=(libreoffice-writer-nogui)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "$(soffice --version 2>/dev/null || echo 'soffice ?'), $(pdftotext -v 2>&1 | head -1)"
