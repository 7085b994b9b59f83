#!/usr/bin/env bash
# Installs R and its `survey` package (Debian package r-cran-survey) for the index engine's
# reference comparison (indices/tests/r_reference.rs, scripts/survey_reference.R).
# Idempotent: does nothing when Rscript can already load `survey`. Needs root (apt-get).
# On the development machine (Debian 12) apt-get update + install took ~15 s (19 packages).
set -euo pipefail
if command -v Rscript >/dev/null 2>&1 &&
  Rscript -e 'suppressPackageStartupMessages(library(survey))' >/dev/null 2>&1; then
  echo "R with the survey package is already installed: $(Rscript --version 2>&1 | head -n1)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-r.sh: needs root (or sudo)" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends r-cran-survey
Rscript -e 'suppressPackageStartupMessages(library(survey)); cat("survey", as.character(packageVersion("survey")), "\n")'
