"""Padding-free ("packed") batches: the planner and layout, the packed poolers, the capability choice (off / auto /
on, keyed), and packed vectors against padded ones on the tiny Qwen3 and all-MiniLM-L6-v2 (fp32, CPU); a bf16
CUDA check at the end (marked ``gpu``, skipped without CUDA)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.encoders import packing
from rtriever_eval.encoders.hf import EncoderSettings, HFEncoder
from rtriever_eval.encoders.kernels import choose_kernels, choose_packing
from rtriever_eval.encoders.pooling import PACKED_POOLERS, POOLERS
from rtriever_eval.encoders.tokenization import TokenIds
from rtriever_eval.testing import minilm_path, synthetic_words

ATOL = 1e-5


def _encode(encoder: HFEncoder, texts: list[str], prompt: str = "") -> np.ndarray:
    return encoder.encode(texts, prompt, is_query=False, show_progress=False)


@pytest.fixture(scope="module")
def mixed_texts(texts: list[str]) -> list[str]:
    """Very different lengths: one far longer than the rest, one-token and whitespace-only texts, a spread."""
    return [*texts, " ", "", "?", synthetic_words(900, seed=9), *(synthetic_words(n, seed=n) for n in range(3, 90, 11))]


# ---------------------------------------------------------------------------------------------- planning, layout


@pytest.mark.parametrize("single_row", [True, False])
@pytest.mark.parametrize("budget", [1, 40, 200])
def test_plan_places_every_text_once_within_the_budget(single_row: bool, budget: int) -> None:
    lengths = np.random.default_rng(0).integers(1, 120, 300)
    batches = packing.plan_packed(lengths, budget=budget, max_rows=8, single_row=single_row)
    placed = np.concatenate([np.concatenate(rows) for rows in batches])
    assert sorted(placed.tolist()) == list(range(len(lengths)))
    for rows in batches:
        used = [int(lengths[row].sum()) for row in rows]
        if single_row:
            assert len(rows) == 1 and (used[0] <= budget or len(rows[0]) == 1)
        else:
            width = int(lengths[rows[0][0]])  # the batch's longest text sets the row width
            assert max(used) == width and len(rows) <= 8
            assert len(rows) * width <= budget or len(rows) == 1


def test_pack_restarts_positions_and_isolates_each_text() -> None:
    ids = [[11, 12, 13, 14], [21, 22], [31]]
    tokens = TokenIds.from_lists(ids)
    batch = packing.pack(tokens, (np.array([0]), np.array([1, 2])), pad_id=0)
    assert batch.input_ids.tolist() == [[11, 12, 13, 14], [21, 22, 31, 0]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 3], [0, 1, 0, 0]]
    assert batch.segments.tolist() == [[0, 0, 0, 0], [1, 1, 2, 4]]  # the tail is a segment of its own
    assert batch.starts.tolist() == [0, 4, 6] and batch.lengths.tolist() == [4, 2, 1] and batch.n_tokens == 7
    assert not batch.plain and packing.pack(tokens, (np.array([0]),), pad_id=0).plain  # one text per row: no mask
    mask = packing.block_mask_4d(batch.segments, causal=True)[1, 0]
    assert mask.tolist() == [
        [True, False, False, False],
        [True, True, False, False],
        [False, False, True, False],
        [False, False, False, True],
    ]
    single = packing.pack(tokens, (np.array([2, 0, 1]),), pad_id=0)
    assert single.input_ids.tolist() == [[31, 11, 12, 13, 14, 21, 22]]
    assert single.position_ids.tolist() == [[0, 0, 1, 2, 3, 0, 1]]
    assert [len(piece.indices) for piece in packing.split(tokens, single, 2, pad_id=0)] == [2, 1]


@pytest.mark.parametrize("pooling", ["last_token", "mean", "cls"])
def test_packed_poolers_match_the_padded_ones(pooling: str) -> None:
    generator = torch.Generator().manual_seed(0)
    lengths = [5, 1, 3, 7]
    hidden = [torch.randn(n, 8, generator=generator) for n in lengths]
    mask = torch.zeros(len(lengths), 7, dtype=torch.long)
    padded = torch.zeros(len(lengths), 7, 8)
    for i, h in enumerate(hidden):
        padded[i, : len(h)], mask[i, : len(h)] = h, 1
    grid = torch.full((2, 10, 8), 99.0)  # row 0: texts 0 and 1 then a tail; row 1: texts 2 and 3
    grid[0, :6], grid[1] = torch.cat(hidden[:2]), torch.cat(hidden[2:])
    starts, count = torch.tensor([0, 5, 10, 13]), torch.tensor(lengths)
    got = PACKED_POOLERS[pooling](grid, starts, count)
    torch.testing.assert_close(got, POOLERS[pooling](padded, mask), atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------- choice, settings


def test_settings_validate_packing() -> None:
    with pytest.raises(ConfigError) as info:
        EncoderSettings(path="m", packing="yes")
    assert info.value.field == "model.packing"
    with pytest.raises(ConfigError, match=r"model\.packing=on needs model\.backend=hf"):
        EncoderSettings(path="m", packing="on", backend="sentence_transformers")
    assert EncoderSettings(path="m").packing == "off"


def test_off_keeps_the_key_of_before_and_auto_on_cpu_keys_its_path(make_encoder: Callable[..., HFEncoder]) -> None:
    off = make_encoder("eos")
    assert off.kernels.packing == "padded" and "packing" not in off.kernels.key()
    assert off.kernels.key() == {"device": "cpu", "attention": "sdpa", "linear": off.kernels.linear}
    auto = make_encoder("eos", packing="auto")
    # on this CPU: no flash_attn / cuda, FlexAttention is a cuda path: the portable block mask
    assert auto.kernels.packing == "packed:sdpa_block_mask"
    assert auto.kernels.key()["packing"] == "packed:sdpa_block_mask" and auto.kernels.key() != off.kernels.key()
    described = auto.describe()
    assert described["packing"] == described["kernels"]["packing"] == "packed:sdpa_block_mask"
    assert described["kernels"]["packing_reason"]


def test_the_choice_comes_from_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import BertModel, Qwen3Model

    cpu, cuda = torch.device("cpu"), torch.device("cuda")

    def choose(requested: str, device: torch.device = cpu, attention: str = "sdpa", **kw: Any) -> tuple[str, str]:
        kw.setdefault("attention_explicit", True)
        kw.setdefault("model_class", Qwen3Model)
        found = choose_packing(requested, device=device, attention=attention, **kw)
        return found[0], found[1]

    assert choose("off") == ("sdpa", "padded")
    assert choose("on", attention="eager", model_class=BertModel) == ("eager", "packed:eager_block_mask")
    # an attention left unset may become FlexAttention on cuda (where triton is); an explicit one is kept
    monkeypatch.setattr("rtriever_eval.encoders.kernels._installed", lambda module: True)
    assert choose("auto", cuda, attention_explicit=False) == ("flex_attention", "packed:flex_attention")
    assert choose("auto", cuda) == ("sdpa", "packed:sdpa_block_mask")
    assert choose("auto", cuda, attention="flash_attention_2") == ("flash_attention_2", "packed:flash_attention_2")
    # FlexAttention packing on the cpu, or a model class nobody can vouch for: padded under auto, an error under on
    assert choose("auto", attention="flex_attention") == ("flex_attention", "padded")
    for attention, model_class in [("flex_attention", Qwen3Model), ("sdpa", None), ("flash_attention_2", Qwen3Model)]:
        assert choose("auto", attention=attention, model_class=model_class)[1] == "padded"
        with pytest.raises(ConfigError) as info:
            choose("on", attention=attention, model_class=model_class)
        assert info.value.field == "model.packing"
    kernels = choose_kernels(device="cpu", attn_implementation=None, dtype="float32", cpu_linear="torch")
    assert kernels.packing == "padded"  # the other callers (sentence-transformers, rerankers) never pack


def test_on_with_cpu_flex_attention_names_model_packing(tiny_qwen_eos: Path) -> None:
    settings = EncoderSettings(path=str(tiny_qwen_eos), device="cpu", attn_implementation="flex_attention")
    assert HFEncoder(dataclasses.replace(settings, packing="auto")).kernels.packing == "padded"
    with pytest.raises(ConfigError) as info:
        HFEncoder(dataclasses.replace(settings, packing="on"))
    assert info.value.field == "model.packing" and "cuda only" in str(info.value)


# ---------------------------------------------------------------------------------------------- tiny Qwen3


@pytest.mark.parametrize(
    ("kind", "pooling", "padding_side", "max_tokens"),
    [
        ("eos", "last_token", "left", None),
        ("eos", "last_token", "right", 256),  # the 900-word text (truncated to 512) goes alone
        ("plain", "mean", "right", None),
        ("plain", "mean", "left", 300),
        ("eos", "cls", "left", 128),
    ],
)
def test_packed_equals_padded_on_tiny_qwen3(
    make_encoder: Callable[..., HFEncoder],
    mixed_texts: list[str],
    kind: str,
    pooling: str,
    padding_side: str,
    max_tokens: int | None,
) -> None:
    common = {"pooling": pooling, "padding_side": padding_side, "max_tokens_per_batch": max_tokens}
    padded = _encode(make_encoder(kind, **common), mixed_texts)
    encoder = make_encoder(kind, packing="on", **common)
    packed = _encode(encoder, mixed_texts)
    assert encoder.kernels.packing == "packed:sdpa_block_mask"
    assert encoder.describe()["packed_causal_mask"] is True
    gap = float(np.abs(packed - padded).max())
    print(f"tiny Qwen3 {kind} {pooling}: max |packed - padded| {gap:.2e}")
    assert packed.dtype == np.float32 and gap <= ATOL


def test_packed_with_a_prompt_and_eager_attention(
    make_encoder: Callable[..., HFEncoder], mixed_texts: list[str]
) -> None:
    prompt = "Instruct: find the passage\nQuery:"
    padded = _encode(make_encoder("eos"), mixed_texts, prompt)
    encoder = make_encoder("eos", inject_model=False, attn_implementation="eager", packing="on", batch_size=3)
    assert encoder.kernels.packing == "packed:eager_block_mask"
    assert float(np.abs(_encode(encoder, mixed_texts, prompt) - padded).max()) <= ATOL


def test_off_reproduces_the_padded_output_bit_for_bit(
    make_encoder: Callable[..., HFEncoder], mixed_texts: list[str], tiny_qwen_eos: Path
) -> None:
    default = _encode(make_encoder("eos"), mixed_texts)
    assert np.array_equal(_encode(make_encoder("eos", packing="off"), mixed_texts), default)
    # and the padded path is what it was: each text alone through the model, last token, normalised
    encoder = make_encoder("eos")
    for text, row in zip(mixed_texts[:6], default[:6], strict=True):
        ids = torch.tensor([encoder.tokenize([text], is_query=False)[0]])
        with torch.inference_mode():
            last = encoder.model(input_ids=ids).last_hidden_state[0, -1]
        np.testing.assert_allclose(row, torch.nn.functional.normalize(last, dim=-1).numpy(), atol=ATOL, rtol=0)


def test_a_wrong_packed_mask_is_caught_by_the_probe(
    make_encoder: Callable[..., HFEncoder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packing, "attends_causally", lambda model, device: False)  # as if Qwen3 were bidirectional
    with pytest.raises(ConfigError) as info:
        _encode(make_encoder("eos", packing="on"), ["one", "two texts"])
    assert info.value.field == "model.packing" and "do not reproduce" in str(info.value)


def test_packed_out_of_memory_splits_and_keeps_results(
    make_encoder: Callable[..., HFEncoder], mixed_texts: list[str]
) -> None:
    reference = _encode(make_encoder("eos", packing="on", batch_size=8), mixed_texts)
    encoder = make_encoder("eos", packing="on", batch_size=8)
    _encode(encoder, mixed_texts[:1])  # load and probe before wrapping
    model, seen = encoder._model, []

    def oom_above(input_ids: torch.Tensor, **kwargs: Any) -> Any:
        seen.append(int(input_ids.shape[0]))
        if input_ids.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return model(input_ids=input_ids, **kwargs)

    class Wrapped:
        def __call__(self, **kwargs: Any) -> Any:
            return oom_above(**kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(model, name)

    encoder._model = Wrapped()
    np.testing.assert_allclose(_encode(encoder, mixed_texts), reference, atol=ATOL, rtol=0)
    assert encoder._oom_splits >= 2 and max(seen) > 2


# ---------------------------------------------------------------------------------------------- all-MiniLM-L6-v2


@pytest.fixture(scope="module")
def minilm() -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    path = str(minilm_path())
    model = AutoModel.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa").eval()
    return model, AutoTokenizer.from_pretrained(path)


@pytest.mark.parametrize("max_tokens", [None, 200])
def test_packed_equals_padded_on_minilm(
    minilm: tuple[Any, Any], mixed_texts: list[str], max_tokens: int | None
) -> None:
    model, tokenizer = minilm
    settings = EncoderSettings(
        path=str(minilm_path()),
        max_length=256,
        batch_size=4,
        max_tokens_per_batch=max_tokens,
        pooling="mean",
        padding_side="right",
        append_eos=False,
        device="cpu",
    )
    padded = _encode(HFEncoder(settings, model=model, tokenizer=tokenizer), mixed_texts)
    encoder = HFEncoder(dataclasses.replace(settings, packing="on"), model=model, tokenizer=tokenizer)
    packed = _encode(encoder, mixed_texts)
    assert encoder.kernels.packing == "packed:sdpa_block_mask"
    assert encoder.describe()["packed_causal_mask"] is False  # BERT attends both ways, within each text
    gap = float(np.abs(packed - padded).max())
    print(f"all-MiniLM-L6-v2: max |packed - padded| {gap:.2e}")
    assert gap <= ATOL


def test_minilm_auto_from_its_folder_resolves_the_block_mask() -> None:
    settings = EncoderSettings(path=str(minilm_path()), device="cpu", packing="auto", pooling="mean")
    assert HFEncoder(settings).kernels.key()["packing"] == "packed:sdpa_block_mask"


# ---------------------------------------------------------------------------------------------- CUDA, bf16


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("attention", ["sdpa", "flex_attention", "flash_attention_2"])
def test_packed_matches_padded_in_bf16_on_cuda(mixed_texts: list[str], attention: str) -> None:
    import importlib.util

    from transformers import AutoTokenizer

    from rtriever_eval.testing import build_random_qwen3, qwen3_tokenizer_dir, tiny_qwen3_config

    if attention == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        pytest.skip("flash_attn is not installed")
    tokenizer = AutoTokenizer.from_pretrained(str(qwen3_tokenizer_dir()))
    config = tiny_qwen3_config(
        len(tokenizer), hidden_size=512, num_hidden_layers=6, num_attention_heads=8, head_dim=64, intermediate_size=1536
    )
    model = build_random_qwen3(config, device="cuda", dtype=torch.bfloat16, seed=0, attn_implementation=attention)
    settings = EncoderSettings(
        path="random-qwen3",
        dtype="bfloat16",
        max_length=2048,
        batch_size=8,
        max_tokens_per_batch=4096,
        pooling="last_token",
        padding_side="left",
        append_eos=True,
        device="cuda",
    )
    texts = [*mixed_texts, synthetic_words(3000, seed=11)]
    padded = _encode(HFEncoder(settings, model=model, tokenizer=tokenizer), texts)
    encoder = HFEncoder(dataclasses.replace(settings, packing="on"), model=model, tokenizer=tokenizer)
    packed = _encode(encoder, texts)
    assert encoder.kernels.packing.endswith(attention if attention != "sdpa" else "sdpa_block_mask")
    cosine = (packed * padded).sum(1)
    print(f"bf16 {encoder.kernels.packing}: min cosine packed/padded {cosine.min():.6f}")
    assert np.isfinite(packed).all() and cosine.min() >= 0.9999
