"""Instruction sets resolve to BRIGHT's exact wording, composed from the real config files."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rtriever_eval.config import CONF_DIR, register_configs
from rtriever_eval.errors import ConfigError
from rtriever_eval.instructions import query_prompt, resolve_instruction

register_configs()


def _set(name: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"instructions={name}"])
    return OmegaConf.to_container(cfg.instructions, resolve=True)  # type: ignore[return-value]


QWEN = "Instruct: {instruction}\nQuery:"


@pytest.mark.parametrize(
    ("domain", "long", "expected"),
    [
        (
            "earth_science",
            False,
            "Given a earth_science post, retrieve relevant passages that help answer the post",
        ),
        ("biology", True, "Given a biology post, retrieve relevant documents that help answer the post"),
        ("pony", False, "Given a pony question, retrieve relevant passages that help answer the question"),
        ("pony", True, "Given a pony question, retrieve relevant documents that help answer the question"),
        (
            "leetcode",
            False,
            "Given a coding problem, retrieve relevant examples that help answer the problem",
        ),
        ("aops", False, "Given a Math problem, retrieve relevant examples that help answer the problem"),
        (
            "theoremqa_questions",
            False,
            "Given a Math problem, retrieve relevant examples that help answer the problem",
        ),
        (
            "theoremqa_theorems",
            False,
            "Given a Math problem, retrieve relevant theorems that help answer the problem",
        ),
        ("scifact", False, "Given a web search query, retrieve relevant passages that answer the query"),
    ],
)
def test_bright_paper_wording(domain: str, long: bool, expected: str) -> None:
    assert resolve_instruction(_set("bright_paper"), domain, long) == expected


def test_long_mode_for_a_domain_without_long_wording_falls_back() -> None:
    assert resolve_instruction(_set("bright_paper"), "leetcode", True) == (
        "Given a coding problem, retrieve relevant examples that help answer the problem"
    )


def test_natural_names_and_articles() -> None:
    s = _set("natural")
    assert resolve_instruction(s, "earth_science") == (
        "Given an Earth Science post, retrieve relevant passages that help answer the post"
    )
    assert resolve_instruction(s, "biology").startswith("Given a Biology post")


def test_every_set_covers_all_twelve_domains_or_has_a_default() -> None:
    for name in ("bright_paper", "natural", "web_search"):
        s = _set(name)
        assert s["default"] == "Given a web search query, retrieve relevant passages that answer the query"
    assert resolve_instruction(_set("none"), "biology") is None


def test_qwen_wrapper_has_no_space_after_query() -> None:
    instr = resolve_instruction(_set("bright_paper"), "biology")
    assert query_prompt(QWEN, instr) == (
        "Instruct: Given a biology post, retrieve relevant passages that help answer the post\nQuery:"
    )
    assert query_prompt("Instruct: {instruction}\nQuery: ", instr).endswith("\nQuery: ")
    assert query_prompt(QWEN, None) == ""
    assert query_prompt(None, instr) == ""
    with pytest.raises(ConfigError, match="placeholder"):
        query_prompt("Query:", instr)
