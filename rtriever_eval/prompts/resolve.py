"""The one function that turns (instruction set, model, domain, track) into the exact prompts a run uses: the
instruction, the string put before each query, and the string put before each document.

Knows instruction sets and the model's wrapper; nothing of tokenisers, files or how the prompts are used.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.settings.job import InstructionSettings
from rtriever_eval.settings.models import DenseSettings
from rtriever_eval.settings.registry import Benchmark, Track
from rtriever_eval.settings.stages import LLMRerankerSettings, ModelSettings, RerankerSettings, RerankSettings


@dataclass(frozen=True)
class Prompts:
    """What one domain's run puts before its texts. ``instruction`` is None for a model that takes none."""

    instruction: str | None
    query: str
    document: str


def instruction_for(instructions: InstructionSettings, bench: Benchmark, domain: str, track: Track) -> str | None:
    """The instruction for `domain`: the set's wording for the domain's kind, ``{task}`` filled (by default with
    the raw domain key, as BRIGHT ran its paper: "Given a earth_science post, ...") and ``{units}`` with the
    track's word ("passages", "documents"); else the set's ``default``; None when the set gives none."""
    kind = bench.kinds.get(domain)
    wording = instructions.wordings.get(kind) if kind is not None else None
    if not wording:
        return instructions.default or None
    units = instructions.units.get(track.name)
    if "{units}" in wording and units is None:
        raise ConfigError(
            f"instruction set {instructions.name!r} has no word for {{units}} on the {track.name} track",
            field="instructions.units",
        )
    return wording.replace("{task}", instructions.tasks.get(domain, domain)).replace("{units}", units or "")


def wrap(template: str | None, instruction: str | None) -> str:
    """The instruction in the model's template (``Instruct: {instruction}\\nQuery:``); "" when either is absent."""
    if not template or instruction is None:
        return ""
    if "{instruction}" not in template:
        raise ConfigError(
            f"query template {template!r} has no '{{instruction}}' placeholder", field="model.query_template"
        )
    return template.replace("{instruction}", instruction)


def resolve_prompts(
    instructions: InstructionSettings,
    model: ModelSettings,
    bench: Benchmark,
    domain: str,
    track: Track,
    reranker: RerankerSettings | None = None,
) -> Prompts:
    """The exact prompts of `domain` for `model`. A model without a query template (BM25, MiniLM) takes no
    instruction and records none; a rerank stage takes its reranker's (an LLM reranker: its own instruction,
    else the domain's, else its default; it formats the pair itself); fusion takes none."""
    if isinstance(model, RerankSettings) and reranker is not None:
        if isinstance(reranker, LLMRerankerSettings):
            instruction = reranker.instruction or instruction_for(instructions, bench, domain, track)
            return Prompts(instruction or reranker.default_instruction, "", "")
        return (
            resolve_prompts(instructions, reranker, bench, domain, track)
            if isinstance(reranker, DenseSettings)
            else Prompts(None, "", "")
        )
    if not isinstance(model, DenseSettings) or not model.query_template:
        document = model.document_prompt if isinstance(model, DenseSettings) else ""
        return Prompts(None, "", document)
    instruction = instruction_for(instructions, bench, domain, track)
    return Prompts(instruction, wrap(model.query_template, instruction), model.document_prompt)
