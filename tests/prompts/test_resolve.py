"""Prompts: the instruction files, composed from the real config, give BRIGHT's exact wording (every string the
earlier one-template-per-domain files gave), wrapped as each model wraps it; a model without a template takes none."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.prompts.resolve import instruction_for, resolve_prompts, wrap
from rtriever_eval.settings import BM25Settings, DenseSettings, InstructionSettings
from rtriever_eval.settings.registry import BENCHMARKS, TRACKS
from tests.helpers import compose_config

QWEN = "Instruct: {instruction}\nQuery:"
BRIGHT = BENCHMARKS["bright"]


def _set(name: str) -> InstructionSettings:
    settings = OmegaConf.to_object(compose_config(f"instructions={name}").instructions)
    assert isinstance(settings, InstructionSettings)
    return settings


EXPECTED = {  # (set, domain, track) -> instruction, as the instruction files before the registry gave them
    ("bright_paper", "biology", "short"): "Given a biology post, retrieve relevant passages that help answer the post",
    (
        "bright_paper",
        "earth_science",
        "short",
    ): "Given a earth_science post, retrieve relevant passages that help answer the post",
    (
        "bright_paper",
        "economics",
        "short",
    ): "Given a economics post, retrieve relevant passages that help answer the post",
    (
        "bright_paper",
        "psychology",
        "short",
    ): "Given a psychology post, retrieve relevant passages that help answer the post",
    (
        "bright_paper",
        "robotics",
        "short",
    ): "Given a robotics post, retrieve relevant passages that help answer the post",
    (
        "bright_paper",
        "stackoverflow",
        "short",
    ): "Given a stackoverflow post, retrieve relevant passages that help answer the post",
    (
        "bright_paper",
        "sustainable_living",
        "short",
    ): "Given a sustainable_living post, retrieve relevant passages that help answer the post",
    (
        "bright_paper",
        "leetcode",
        "short",
    ): "Given a coding problem, retrieve relevant examples that help answer the problem",
    (
        "bright_paper",
        "pony",
        "short",
    ): "Given a pony question, retrieve relevant passages that help answer the question",
    ("bright_paper", "aops", "short"): "Given a Math problem, retrieve relevant examples that help answer the problem",
    (
        "bright_paper",
        "theoremqa_questions",
        "short",
    ): "Given a Math problem, retrieve relevant examples that help answer the problem",
    (
        "bright_paper",
        "theoremqa_theorems",
        "short",
    ): "Given a Math problem, retrieve relevant theorems that help answer the problem",
    ("bright_paper", "scifact", "short"): "Given a web search query, retrieve relevant passages that answer the query",
    ("bright_paper", "biology", "long"): "Given a biology post, retrieve relevant documents that help answer the post",
    (
        "bright_paper",
        "earth_science",
        "long",
    ): "Given a earth_science post, retrieve relevant documents that help answer the post",
    (
        "bright_paper",
        "economics",
        "long",
    ): "Given a economics post, retrieve relevant documents that help answer the post",
    (
        "bright_paper",
        "psychology",
        "long",
    ): "Given a psychology post, retrieve relevant documents that help answer the post",
    (
        "bright_paper",
        "robotics",
        "long",
    ): "Given a robotics post, retrieve relevant documents that help answer the post",
    (
        "bright_paper",
        "stackoverflow",
        "long",
    ): "Given a stackoverflow post, retrieve relevant documents that help answer the post",
    (
        "bright_paper",
        "sustainable_living",
        "long",
    ): "Given a sustainable_living post, retrieve relevant documents that help answer the post",
    (
        "bright_paper",
        "leetcode",
        "long",
    ): "Given a coding problem, retrieve relevant examples that help answer the problem",
    (
        "bright_paper",
        "pony",
        "long",
    ): "Given a pony question, retrieve relevant documents that help answer the question",
    ("bright_paper", "aops", "long"): "Given a Math problem, retrieve relevant examples that help answer the problem",
    (
        "bright_paper",
        "theoremqa_questions",
        "long",
    ): "Given a Math problem, retrieve relevant examples that help answer the problem",
    (
        "bright_paper",
        "theoremqa_theorems",
        "long",
    ): "Given a Math problem, retrieve relevant theorems that help answer the problem",
    ("bright_paper", "scifact", "long"): "Given a web search query, retrieve relevant passages that answer the query",
    ("natural", "biology", "short"): "Given a Biology post, retrieve relevant passages that help answer the post",
    (
        "natural",
        "earth_science",
        "short",
    ): "Given an Earth Science post, retrieve relevant passages that help answer the post",
    ("natural", "economics", "short"): "Given an Economics post, retrieve relevant passages that help answer the post",
    ("natural", "psychology", "short"): "Given a Psychology post, retrieve relevant passages that help answer the post",
    ("natural", "robotics", "short"): "Given a Robotics post, retrieve relevant passages that help answer the post",
    (
        "natural",
        "stackoverflow",
        "short",
    ): "Given a Stack Overflow post, retrieve relevant passages that help answer the post",
    (
        "natural",
        "sustainable_living",
        "short",
    ): "Given a Sustainable Living post, retrieve relevant passages that help answer the post",
    ("natural", "leetcode", "short"): "Given a coding problem, retrieve relevant examples that help answer the problem",
    ("natural", "pony", "short"): "Given a Pony question, retrieve relevant passages that help answer the question",
    ("natural", "aops", "short"): "Given a Math problem, retrieve relevant examples that help answer the problem",
    (
        "natural",
        "theoremqa_questions",
        "short",
    ): "Given a Math problem, retrieve relevant examples that help answer the problem",
    (
        "natural",
        "theoremqa_theorems",
        "short",
    ): "Given a Math problem, retrieve relevant theorems that help answer the problem",
    ("natural", "scifact", "short"): "Given a web search query, retrieve relevant passages that answer the query",
    ("natural", "biology", "long"): "Given a Biology post, retrieve relevant documents that help answer the post",
    (
        "natural",
        "earth_science",
        "long",
    ): "Given an Earth Science post, retrieve relevant documents that help answer the post",
    ("natural", "economics", "long"): "Given an Economics post, retrieve relevant documents that help answer the post",
    ("natural", "psychology", "long"): "Given a Psychology post, retrieve relevant documents that help answer the post",
    ("natural", "robotics", "long"): "Given a Robotics post, retrieve relevant documents that help answer the post",
    (
        "natural",
        "stackoverflow",
        "long",
    ): "Given a Stack Overflow post, retrieve relevant documents that help answer the post",
    (
        "natural",
        "sustainable_living",
        "long",
    ): "Given a Sustainable Living post, retrieve relevant documents that help answer the post",
    ("natural", "leetcode", "long"): "Given a coding problem, retrieve relevant examples that help answer the problem",
    ("natural", "pony", "long"): "Given a Pony question, retrieve relevant documents that help answer the question",
    ("natural", "aops", "long"): "Given a Math problem, retrieve relevant examples that help answer the problem",
    (
        "natural",
        "theoremqa_questions",
        "long",
    ): "Given a Math problem, retrieve relevant examples that help answer the problem",
    (
        "natural",
        "theoremqa_theorems",
        "long",
    ): "Given a Math problem, retrieve relevant theorems that help answer the problem",
    ("natural", "scifact", "long"): "Given a web search query, retrieve relevant passages that answer the query",
    ("none", "biology", "short"): None,
    ("none", "earth_science", "short"): None,
    ("none", "economics", "short"): None,
    ("none", "psychology", "short"): None,
    ("none", "robotics", "short"): None,
    ("none", "stackoverflow", "short"): None,
    ("none", "sustainable_living", "short"): None,
    ("none", "leetcode", "short"): None,
    ("none", "pony", "short"): None,
    ("none", "aops", "short"): None,
    ("none", "theoremqa_questions", "short"): None,
    ("none", "theoremqa_theorems", "short"): None,
    ("none", "scifact", "short"): None,
    ("none", "biology", "long"): None,
    ("none", "earth_science", "long"): None,
    ("none", "economics", "long"): None,
    ("none", "psychology", "long"): None,
    ("none", "robotics", "long"): None,
    ("none", "stackoverflow", "long"): None,
    ("none", "sustainable_living", "long"): None,
    ("none", "leetcode", "long"): None,
    ("none", "pony", "long"): None,
    ("none", "aops", "long"): None,
    ("none", "theoremqa_questions", "long"): None,
    ("none", "theoremqa_theorems", "long"): None,
    ("none", "scifact", "long"): None,
    ("web_search", "biology", "short"): "Given a web search query, retrieve relevant passages that answer the query",
    (
        "web_search",
        "earth_science",
        "short",
    ): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "economics", "short"): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "psychology", "short"): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "robotics", "short"): "Given a web search query, retrieve relevant passages that answer the query",
    (
        "web_search",
        "stackoverflow",
        "short",
    ): "Given a web search query, retrieve relevant passages that answer the query",
    (
        "web_search",
        "sustainable_living",
        "short",
    ): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "leetcode", "short"): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "pony", "short"): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "aops", "short"): "Given a web search query, retrieve relevant passages that answer the query",
    (
        "web_search",
        "theoremqa_questions",
        "short",
    ): "Given a web search query, retrieve relevant passages that answer the query",
    (
        "web_search",
        "theoremqa_theorems",
        "short",
    ): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "scifact", "short"): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "biology", "long"): "Given a web search query, retrieve relevant passages that answer the query",
    (
        "web_search",
        "earth_science",
        "long",
    ): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "economics", "long"): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "psychology", "long"): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "robotics", "long"): "Given a web search query, retrieve relevant passages that answer the query",
    (
        "web_search",
        "stackoverflow",
        "long",
    ): "Given a web search query, retrieve relevant passages that answer the query",
    (
        "web_search",
        "sustainable_living",
        "long",
    ): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "leetcode", "long"): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "pony", "long"): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "aops", "long"): "Given a web search query, retrieve relevant passages that answer the query",
    (
        "web_search",
        "theoremqa_questions",
        "long",
    ): "Given a web search query, retrieve relevant passages that answer the query",
    (
        "web_search",
        "theoremqa_theorems",
        "long",
    ): "Given a web search query, retrieve relevant passages that answer the query",
    ("web_search", "scifact", "long"): "Given a web search query, retrieve relevant passages that answer the query",
}


@pytest.mark.parametrize("name", ["bright_paper", "natural", "none", "web_search"])
def test_every_instruction_is_the_verbatim_string_of_before(name: str) -> None:
    instructions = _set(name)
    cases = {k: v for k, v in EXPECTED.items() if k[0] == name}
    assert len(cases) == 26
    for (_, domain, track), expected in cases.items():
        assert instruction_for(instructions, BRIGHT, domain, TRACKS[track]) == expected, (domain, track)


def test_no_wording_is_repeated_within_a_file() -> None:
    for name in ("bright_paper", "natural"):
        wordings = list(_set(name).wordings.values())
        assert len(wordings) == len(set(wordings)) == 5


def test_qwen_wrapper_has_no_space_after_query() -> None:
    instr = EXPECTED[("bright_paper", "biology", "short")]
    assert wrap(QWEN, instr) == (
        "Instruct: Given a biology post, retrieve relevant passages that help answer the post\nQuery:"
    )
    assert wrap("Instruct: {instruction}\nQuery: ", instr).endswith("\nQuery: ")
    assert wrap(QWEN, None) == ""
    assert wrap(None, instr) == ""
    with pytest.raises(ConfigError, match="placeholder"):
        wrap("Query:", instr)


def test_prompts_are_one_value_and_a_model_without_template_records_no_instruction() -> None:
    paper, short = _set("bright_paper"), TRACKS["short"]
    dense = DenseSettings(name="d", path="x", query_template=QWEN, document_prompt="Doc: ")
    p = resolve_prompts(paper, dense, BRIGHT, "pony", short)
    assert p.instruction == EXPECTED[("bright_paper", "pony", "short")]
    assert p.query == QWEN.replace("{instruction}", p.instruction) and p.document == "Doc: "
    for model in (BM25Settings(name="bm25"), DenseSettings(name="minilm", path="x", query_template=None)):
        assert resolve_prompts(paper, model, BRIGHT, "pony", short).instruction is None
        assert resolve_prompts(paper, model, BRIGHT, "pony", short).query == ""
    none = resolve_prompts(_set("none"), dense, BRIGHT, "pony", short)
    assert none.instruction is None and none.query == ""
