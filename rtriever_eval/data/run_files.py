"""Rankings made elsewhere, read as runs: TREC run files, the ranx / ir_measures JSON dict, BRIGHT's score.json and
MTEB's ``<Task>_predictions.json``; the format told from the file's content when asked to, every value checked.

Knows these four file formats and nothing of what the ranking is evaluated on: the caller checks query ids against
its dataset (``line_of`` finds where an id is written, for the error message).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.trec import read_run
from rtriever_eval.base.types import Run

FORMATS = ("trec", "json", "bright", "mteb")
MTEB_META = "mteb_model_meta"


@dataclass(frozen=True)
class ImportedRun:
    """A file's ranking: ``run`` qid -> docid -> score, the format it was read as, the sha256 of the very bytes it
    was parsed from, and (MTEB) the subset and split it was taken from."""

    run: Run
    format: str
    path: Path
    sha256: str = ""
    subset: str | None = None
    split: str | None = None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the run file ({exc.strerror or exc})", path=path, field="model.path") from None


def _is_json(raw: bytes) -> bool:
    return raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"["))


def _detect(raw: bytes, parsed: Any) -> str:
    if not _is_json(raw):
        return "trec"
    return "mteb" if isinstance(parsed, Mapping) and MTEB_META in parsed else "json"


def detect_format(path: Path) -> str:
    """``mteb`` for a JSON object with a top-level ``mteb_model_meta`` key, ``json`` for any other JSON text, else
    ``trec``. (BRIGHT's score.json has the ranx shape: ``json`` reads it; ``bright`` names it explicitly.)"""
    raw = _read_bytes(path)
    if not _is_json(raw):
        return "trec"
    try:
        return _detect(raw, _load_json(raw, path))
    except InputError:  # broken JSON is still JSON: reading it says what is wrong
        return "json"


def line_of(path: Path, qid: str, fmt: str) -> int | None:
    """The 1-based line where ``qid`` is first written (a TREC line's first field, a JSON key), for messages."""
    text = _read_bytes(path).decode("utf-8", errors="replace")
    if fmt == "trec":
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if fields and fields[0] == qid:
                return number
        return None
    key = re.compile(re.escape(json.dumps(qid, ensure_ascii=False)) + r"\s*:")
    match = key.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _scores(obj: Any, path: Path, where: str) -> Run:
    """A ``{qid: {docid: number}}`` object as a Run, each score finite; InputError naming the key otherwise."""
    if not isinstance(obj, Mapping):
        raise InputError(f"{where} is not a JSON object of queries ({{qid: {{docid: score}}}})", path=path)
    run: Run = {}
    for qid, docs in obj.items():
        if not isinstance(docs, Mapping):
            raise InputError(f"query {qid!r}: expected an object {{docid: score}}, found {type(docs).__name__}",
                             path=path, line=line_of(path, str(qid), "json"), field=str(qid))  # fmt: skip
        scores: dict[str, float] = {}
        for doc, value in docs.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
                raise InputError(f"query {qid!r}, document {doc!r}: score {value!r} is not a finite number",
                                 path=path, line=line_of(path, str(qid), "json"), field=f"{qid}.{doc}")  # fmt: skip
            scores[str(doc)] = float(value)
        run[str(qid)] = scores
    return run


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object that names one key twice is refused: json.loads would keep the last value silently, so a
    document scored twice (or a query ranked twice) would lose a ranking without a word."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _load_json(raw: bytes, path: Path) -> Any:
    try:
        return json.loads(raw.decode("utf-8-sig"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(f"not valid JSON ({exc})", path=path, line=line, field="model.path") from None
    except _DuplicateKey as dup:
        text = raw.decode("utf-8-sig", errors="replace")
        hits = [m.start() for m in re.finditer(re.escape(json.dumps(dup.key, ensure_ascii=False)) + r"\s*:", text)]
        line = text.count("\n", 0, hits[1]) + 1 if len(hits) > 1 else None
        raise InputError(f"key {dup.key!r} appears twice in one JSON object (JSON readers would keep only the "
                         "last): a document scored twice or a query ranked twice", path=path, line=line,
                         field=dup.key) from None  # fmt: skip


def read_run_file(path: str | Path, fmt: str = "auto", *, subset: str | None = None,
                  split: str | None = None) -> ImportedRun:  # fmt: skip
    """Read a run file of ``fmt`` (or the detected one). The file is read once: its sha256 is of the bytes parsed.
    For MTEB predictions, ``subset`` and ``split`` pick the ranking (each may be None when the file holds one).

    Raises:
        InputError: naming the file, line and field: a malformed line, a score that is not a finite number, a
            document twice for one query, a JSON key twice in one object, JSON that is not a dict of dicts, a
            missing subset or split.
    """
    target = Path(path)
    if fmt != "auto" and fmt not in FORMATS:
        raise InputError(f"unknown run file format {fmt!r}; valid: auto, {', '.join(FORMATS)}", field="model.format")
    if not target.is_file():
        raise InputError("run file does not exist", path=target, field="model.path")
    raw = _read_bytes(target)
    digest = hashlib.sha256(raw).hexdigest()
    if fmt == "trec" or (fmt == "auto" and not _is_json(raw)):
        run = read_run(target, raw)
        for qid, docs in run.items():
            bad = next((d for d, s in docs.items() if not math.isfinite(s)), None)
            if bad is not None:
                raise InputError(f"query {qid!r}, document {bad!r}: score {docs[bad]} is not a finite number",
                                 path=target, line=line_of(target, qid, "trec"), field="score")  # fmt: skip
        return ImportedRun(run, "trec", target, digest)
    data = _load_json(raw, target)
    resolved = _detect(raw, data) if fmt == "auto" else fmt
    if resolved in ("json", "bright"):
        if isinstance(data, Mapping) and MTEB_META in data:
            raise InputError("this is an MTEB predictions file: set model.format=mteb (or auto)", path=target,
                             field="model.format")  # fmt: skip
        return ImportedRun(_scores(data, target, "the file"), resolved, target, digest)
    if not isinstance(data, Mapping) or MTEB_META not in data:
        raise InputError(f"an MTEB predictions file is an object with {MTEB_META!r} and one key per subset",
                         path=target, field=MTEB_META)  # fmt: skip
    subsets = [k for k in data if k != MTEB_META]
    chosen = _pick(subsets, subset, "subset", target)
    splits = data[chosen]
    if not isinstance(splits, Mapping):
        raise InputError(f"subset {chosen!r} is not an object of splits", path=target, field=chosen)
    chosen_split = _pick(list(splits), split, "split", target)
    run = _scores(splits[chosen_split], target, f"{chosen}/{chosen_split}")
    return ImportedRun(run, resolved, target, digest, chosen, chosen_split)


def _pick(options: list[str], wanted: str | None, what: str, path: Path) -> str:
    if wanted is not None and wanted in options:
        return wanted
    if wanted is None and len(options) == 1:
        return options[0]
    raise InputError(f"no {what} {wanted!r} among {', '.join(map(repr, options)) or 'none'}", path=path, field=what)
