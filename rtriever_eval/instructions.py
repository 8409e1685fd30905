"""The one place that turns (instruction set, domain, long-document mode, model wrapper) into a query prompt.

Knows nothing about models or files: it takes plain mappings and returns the exact string put before each query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtriever_eval.errors import ConfigError


def resolve_instruction(instruction_set: Mapping[str, Any], domain: str, long_documents: bool = False) -> str | None:
    """The instruction for `domain`, or None when the set gives none.

    Long-document mode takes `long_templates[domain]` when present, then `templates[domain]`, then `default`.
    `{task}` is filled with the raw domain key, as BRIGHT ran its paper ("Given a earth_science post, ...").
    """
    templates: Mapping[str, str] = instruction_set.get("templates") or {}
    long_templates: Mapping[str, str] = instruction_set.get("long_templates") or {}
    template: str | None
    if long_documents and domain in long_templates:
        template = long_templates[domain]
    elif domain in templates:
        template = templates[domain]
    else:
        template = instruction_set.get("default")
    if template is None or template == "":
        return None
    return template.replace("{task}", domain)


def query_prompt(wrapper: str | None, instruction: str | None) -> str:
    """Wrap an instruction in the model's template (`Instruct: {instruction}\\nQuery:`); "" when either is absent."""
    if not wrapper or instruction is None:
        return ""
    if "{instruction}" not in wrapper:
        raise ConfigError(
            f"query template {wrapper!r} has no '{{instruction}}' placeholder", field="model.query_template"
        )
    return wrapper.replace("{instruction}", instruction)
