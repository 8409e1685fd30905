#!/usr/bin/env bash
# Re-make docs/report.png, the README's picture of report.html: the quickstart's report rendered by a headless
# Chromium (Debian: apt-get install chromium). Run after scripts/quickstart.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
page="$(pwd)/results/quickstart/report/report.html"
[ -f "$page" ] || { echo "no $page: run bash scripts/quickstart.sh first" >&2; exit 2; }
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,2000 \
  --screenshot="$(pwd)/docs/report.png" "file://$page" 2>/dev/null
echo "wrote docs/report.png"
