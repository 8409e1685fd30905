#!/usr/bin/env bash
# Set up a virtual environment in .venv with rtriever-eval and its dev tools. Idempotent.
# torch goes in first: without a GPU we pin the release whose CPU wheel this project is tested with, so that
# pip does not pull a multi-GB CUDA build as a dependency. Set RTRIEVER_TORCH to choose another spec.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! python -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    python -m pip install -q "${RTRIEVER_TORCH:-torch}"
  else
    python -m pip install -q "${RTRIEVER_TORCH:-torch==2.13.0}"
  fi
fi
python -m pip install -q -e ".[dev]"
python -c "import torch, rtriever_eval; print('rtriever-eval', rtriever_eval.__version__, '| torch', torch.__version__)"
