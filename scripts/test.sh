#!/usr/bin/env bash
# Install (if needed), then lint, type-check and run the whole test suite (slow tests included; gpu/network not).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ruff check rtriever_eval tests benchmarks
mypy
python -m pytest -m "not gpu and not network" "$@"
