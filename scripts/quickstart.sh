#!/usr/bin/env bash
# Install (if needed) and run the quickstart: lexical and dense baselines on the shipped sample data, then the table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/rtriever-eval experiment=quickstart "$@"
