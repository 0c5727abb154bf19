#!/usr/bin/env bash
# Installs Debian's Chromium for the viewer's browser tests (headless; pages opened from file://).
# Idempotent; the tests skip themselves where it is missing.
set -euo pipefail
bash "$(dirname "$0")/apt_install.sh" chromium fonts-dejavu-core
