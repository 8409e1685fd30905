#!/usr/bin/env bash
# Install (if needed), then lint, type-check, build the documentation site strictly (no broken link, no orphan page)
# and run the whole test suite (slow tests included; gpu/network not), ending with the ten slowest tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ruff check rtriever_eval tests benchmarks
mypy
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
python -m pytest -m "not gpu and not network" --durations=10 "$@"
