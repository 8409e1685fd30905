#!/usr/bin/env bash
# Every GPU check the project needs, in one run on the device machine; prints all the numbers.
# It knows only how to find the repo's code and offline assets there; the checks themselves live in Python.
#
#   bash benchmarks/device_run.sh              # on the GPU machine (~5-6 minutes on an H100)
#   bash benchmarks/device_run.sh --cpu-smoke  # anywhere: the same steps at toy shapes on the CPU (~1 minute)
#
# Steps (each under its own time limit, so one stuck step cannot eat the others' time):
#   1. pytest test_gpu.py test_packing.py -m gpu    padding / mask / batching / packed-vs-padded parity, bf16
#   2. benchmarks/gpu_check.py                       parity + docs/s, tokens/s, MFU at RTriever-4B's shape
#   3. benchmarks/encode_throughput.py --device cuda harness (padded, packed) vs SentenceTransformer.encode, 4B
#   4. benchmarks/multi_device.py --devices 0,1,..   one GPU vs all of them (only with two GPUs or more)
# Needs there: torch, transformers (in the image); sentence-transformers (in the image; else a wheel in .whl/);
# the Qwen3 tokenizer files in .cache/qwen3_tokenizer (carried) unless RTRIEVER_EVAL_QWEN3_TOKENIZER is set.
# Logs go to $OUT/device_run.log when $OUT is set. Exit status: the number of failed steps.
set -uo pipefail

SMOKE=0
for arg in "$@"; do
  case "$arg" in
    --cpu-smoke) SMOKE=1 ;;
    *) echo "unknown argument: $arg (only --cpu-smoke)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=true
LOG=${OUT:+$OUT/device_run.log}
LOG=${LOG:-/dev/null}
: >"$LOG"

say() { echo "$@" | tee -a "$LOG"; }

# --- environment: our package from the checkout, offline assets -------------------------------------------
# `python -c` sees the current folder but `python benchmarks/x.py` does not: always put the checkout on the path
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "import sentence_transformers" 2>/dev/null; then
  if compgen -G ".whl/*.whl" >/dev/null; then
    say "sentence-transformers missing: installing the carried wheel(s) from .whl/"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
      && export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
  else
    say "sentence-transformers missing and no .whl/ carried: the ST comparison will fail"
  fi
fi
if [ -z "${RTRIEVER_EVAL_QWEN3_TOKENIZER:-}" ] && [ -f .cache/qwen3_tokenizer/tokenizer.json ]; then
  export RTRIEVER_EVAL_QWEN3_TOKENIZER="$ROOT/.cache/qwen3_tokenizer"
fi

say "== environment"
{
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PY" - <<'EOF'
import importlib.util, platform, torch, transformers
try:
    import sentence_transformers as st
    st_version = st.__version__
except ImportError:
    st_version = "missing"
print(f"python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
      f"sentence-transformers {st_version}, flash_attn {'yes' if importlib.util.find_spec('flash_attn') else 'no'}, "
      f"cuda {torch.cuda.is_available()}")
from rtriever_eval.testing import qwen3_tokenizer_dir
print(f"qwen3 tokenizer: {qwen3_tokenizer_dir()}")
EOF
} 2>&1 | tee -a "$LOG"

FAILED=0
step() {  # step NAME LIMIT_SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  say ""
  say "== $name (limit ${limit}s): $*"
  local started=$SECONDS
  timeout --signal=INT --kill-after=15 "$limit" "$@" 2>&1 | grep --line-buffered -v -E "Loading weights|Writing model shards" | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  say "== $name: exit $rc after $((SECONDS - started))s"
  [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
}

if [ "$SMOKE" -eq 1 ]; then
  step "gpu tests (skip without cuda)" 120 "$PY" -m pytest tests/encoders/test_gpu.py -m gpu -q -p no:cacheprovider -rs
  step "gpu_check (tiny)" 120 "$PY" benchmarks/gpu_check.py --tiny
  step "encode_throughput (tiny, in-memory ST swap)" 240 "$PY" benchmarks/encode_throughput.py --device cpu \
    --models qwen --qwen-shape tiny --in-memory --n-docs 40 --repeats 1 --max-length 1024 \
    --variants fixed,budget,full --max-tokens-per-batch 16384 --st-batch-size 16
else
  step "gpu tests" 150 "$PY" -m pytest tests/encoders/test_gpu.py tests/encoders/test_packing.py -m gpu -q \
    -p no:cacheprovider -s
  step "gpu_check (RTriever-4B shape, bf16)" 150 "$PY" benchmarks/gpu_check.py
  step "encode_throughput (harness vs sentence-transformers, 4B shape, bf16)" 240 \
    "$PY" benchmarks/encode_throughput.py --device cuda --models qwen --n-docs 1200 --repeats 1 \
    --variants fixed,budget,full,packed
  N_GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())")
  if [ "$N_GPUS" -gt 1 ]; then
    DEVICES=$(seq -s, 0 $((N_GPUS - 1)))
    step "multi_device ($N_GPUS GPUs)" 150 "$PY" benchmarks/multi_device.py --devices "$DEVICES" --n-docs 20000
  else
    say "== multi_device: skipped (one GPU)"
  fi
fi

say ""
say "== done: $FAILED step(s) failed; total ${SECONDS}s"
exit "$FAILED"
