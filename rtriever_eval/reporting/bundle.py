"""Reproduction bundles: gather a results tree's runs, per-query files, summaries (resolved config, versions, data
revision, prompts inside), the judgments, exclusions and query ids each domain was evaluated on, a prompts table and
a sha256 manifest into one folder and a .tar.gz; and re-check such a folder fail-closed.

Knows the results contract and the data package's public face; recomputes metrics with metrics/trec_measures.py. A
bundle is written to a temporary folder and renamed, so a failed bundle leaves nothing behind; it never replaces an
existing one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from rtriever_eval.base.checksum import sha256_file
from rtriever_eval.base.errors import ConfigError, InputError
from rtriever_eval.results.contract import (
    PER_QUERY_FILE,
    RUN_FILE,
    SUMMARY_FILE,
    iter_summary_paths,
    read_checked,
    read_summary,
)
from rtriever_eval.results.fingerprint import evaluated_data_checked

FORMAT, VERSION = "rtriever-bundle", 1
MANIFEST = "manifest.json"
QRELS, EXCLUDED, QUERIES = "qrels.tsv", "excluded.tsv", "queries.tsv"
TOLERANCE = 1e-9


def _load_dataset(summary: Any) -> Any:
    """The domain's queries, judgments and exclusions, read with its summary's resolved dataset settings."""
    from rtriever_eval.data import evaluated_data

    return evaluated_data(summary.config["dataset"], summary.domain)


def _write_judgments(folder: Path, data: Any) -> None:
    with open(folder / QRELS, "w", encoding="utf-8") as fh:
        for qid in sorted(data.qrels):
            for doc, grade in sorted(data.qrels[qid].items()):
                fh.write(f"{qid} 0 {doc} {grade}\n")
    with open(folder / EXCLUDED, "w", encoding="utf-8") as fh:
        for q in data.queries:
            for doc in sorted(q.excluded_ids):
                fh.write(f"{q.id}\t{doc}\n")
    with open(folder / QUERIES, "w", encoding="utf-8") as fh:
        fh.write("".join(f"{q.id}\n" for q in data.queries))


def write_bundle(root: str | Path, out: str | Path) -> tuple[Path, Path, int]:
    """Bundle every domain below ``root`` into ``out`` and ``out``.tar.gz; returns both paths and the file count."""
    source, target = Path(root), Path(out)
    archive = target.with_name(target.name + ".tar.gz")
    for existing in (target, archive):
        if existing.exists():
            raise InputError("already exists; the bundle never replaces one (choose another OUT)", path=existing)
    summaries = list(iter_summary_paths(source))
    if not summaries:
        raise InputError(f"no {SUMMARY_FILE} found below this folder", path=source)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        prompts = ["run\tdataset\tdomain\tinstruction\tquery_prompt\tdocument_prompt"]
        environment: dict[str, Any] = {"versions": [], "git": [], "datasets": {}}
        for path in summaries:
            rel = path.parent.relative_to(source)
            folder = work / "results" / rel
            folder.mkdir(parents=True)
            shutil.copy2(path, folder / SUMMARY_FILE)
            summary = read_summary(folder / SUMMARY_FILE)  # the copy: the files below are checked against it
            for name in (RUN_FILE, PER_QUERY_FILE):
                if not (path.parent / name).is_file():
                    raise InputError(f"{name} is missing beside this summary", path=path)
                (folder / name).write_bytes(read_checked(path.parent, name, summary))
            try:
                _write_judgments(folder, evaluated_data_checked(summary, path))
            except (ConfigError, InputError) as exc:
                raise InputError(f"the dataset this result was evaluated on is not at hand ({exc}); bundle where "
                                 "the results were computed", path=path) from None  # fmt: skip
            prompts.append("\t".join(json.dumps(x, ensure_ascii=False) for x in (
                summary.run_label, summary.dataset, summary.domain, summary.instruction, summary.query_prompt,
                summary.document_prompt)))  # fmt: skip
            for key, value in (("versions", summary.versions), ("git", summary.git)):
                if value not in environment[key]:
                    environment[key].append(value)
            environment["datasets"][f"{summary.dataset}/{summary.domain}"] = {
                "source": summary.dataset_source, "revision": summary.dataset_revision,
                "subset": summary.subset, "details": summary.dataset_details,
            }  # fmt: skip
        (work / "prompts.tsv").write_text("\n".join(prompts) + "\n", encoding="utf-8")
        (work / "environment.json").write_text(json.dumps(environment, indent=2, sort_keys=True), encoding="utf-8")
        files = {str(p.relative_to(work)): sha256_file(p) for p in sorted(work.rglob("*")) if p.is_file()}
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "source": str(source),
            "files": files,
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        partial = archive.with_name(f".{archive.name}.partial")
        with tarfile.open(partial, "w:gz") as tar:
            for p in sorted(work.rglob("*")):
                if p.is_file():
                    info = tar.gettarinfo(str(p), arcname=f"{target.name}/{p.relative_to(work)}")
                    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                    with open(p, "rb") as fh:
                        tar.addfile(info, fh)
        os.replace(work, target)
        os.replace(partial, archive)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        archive.with_name(f".{archive.name}.partial").unlink(missing_ok=True)
        raise
    return target, archive, len(files) + 1


def _read_run_lines(path: Path, problems: list[str]) -> dict[str, list[tuple[str, float]]]:
    """qid -> [(doc, score)] in file order, with every malformed, duplicate or non-finite line reported."""
    run: dict[str, list[tuple[str, float]]] = {}
    seen: set[tuple[str, str]] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 6:
            problems.append(f"{path}:{lineno}: expected 6 fields (qid Q0 docid rank score tag), found {len(fields)}")
            continue
        qid, doc, raw = fields[0], fields[2], fields[4]
        try:
            score = float(raw)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            problems.append(f"{path}:{lineno}: score {raw!r} is not a finite number")
        if (qid, doc) in seen:
            problems.append(f"{path}:{lineno}: document {doc!r} ranked twice for query {qid!r}")
        seen.add((qid, doc))
        run.setdefault(qid, []).append((doc, score))
    return run


def _check_domain(folder: Path, bundle: Path, problems: list[str], notes: list[str]) -> None:
    from rtriever_eval.base.trec import read_qrels
    from rtriever_eval.metrics.trec_measures import evaluate, parse_measure
    from rtriever_eval.results.contract import load_per_query

    summary = read_summary(folder / SUMMARY_FILE)
    where = folder.relative_to(bundle)
    run_path = folder / RUN_FILE
    lines = _read_run_lines(run_path, problems)
    queries = (folder / QUERIES).read_text(encoding="utf-8").split()
    qrels = read_qrels(folder / QRELS)
    excluded: dict[str, set[str]] = {}
    for row in (folder / EXCLUDED).read_text(encoding="utf-8").splitlines():
        qid, _, doc = row.partition("\t")
        excluded.setdefault(qid, set()).add(doc)
    top_k = summary.top_k or max((len(v) for v in lines.values()), default=0)
    for qid, docs in lines.items():
        if qid not in queries:
            problems.append(f"{run_path}: query {qid!r} is not one of the domain's {len(queries)} queries")
        if not 1 <= len(docs) <= top_k:
            problems.append(f"{run_path}: query {qid!r} has {len(docs)} documents, expected 1..{top_k}")
        scores = [s for _, s in docs]
        if any(a < b for a, b in itertools.pairwise(scores)):
            problems.append(f"{run_path}: query {qid!r}: scores are not in descending rank order")
        banned = sorted(excluded.get(qid, set()) & {d for d, _ in docs})
        if banned:
            problems.append(f"{run_path}: query {qid!r} ranks excluded document(s) {', '.join(banned[:3])}")
    missing = sorted(set(qrels) - set(lines))
    if missing and summary.n_queries_searched == len(queries):
        notes.append(f"{where}: {len(missing)} judged quer(y/ies) retrieved nothing (scored 0)")
    try:
        data = _load_dataset(summary)
    except (ConfigError, InputError, TypeError) as exc:
        notes.append(f"{where}: dataset not at hand ({str(exc).splitlines()[0][:120]}); checked against the "
                     "bundle's own query ids, judgments and exclusions")  # fmt: skip
    else:
        if [q.id for q in data.queries] != queries:
            problems.append(f"{folder / QUERIES}: the query ids differ from the dataset's ({len(data.queries)} there)")
    measures = [m for m in summary.metrics if _recomputable(m, parse_measure)]
    run = {q: {d: s for d, s in docs if math.isfinite(s)} for q, docs in lines.items()}
    result = evaluate(qrels, run, tuple(measures)) if measures else None
    for m in measures:
        assert result is not None
        got, want = float(result.summary[m]), float(summary.metrics[m])
        if not math.isclose(got, want, rel_tol=0.0, abs_tol=TOLERANCE):
            problems.append(f"{folder / SUMMARY_FILE}: {m} is {want!r} but the run gives {got!r}")
        per_query = load_per_query(folder, m)
        recomputed = result.per_query[m]
        if set(per_query.index) != set(recomputed.index.astype(str)):
            problems.append(f"{folder / PER_QUERY_FILE}: its queries for {m} differ from the run's judged queries")
            continue
        worst = max(abs(float(per_query[q]) - float(recomputed[q])) for q in per_query.index)
        if worst > TOLERANCE:
            problems.append(f"{folder / PER_QUERY_FILE}: {m} per query differs from the run's by up to {worst:.6g}")
    skipped = sorted(set(summary.metrics) - set(measures))
    if skipped:
        notes.append(f"{where}: not recomputed (aspect metrics need the annotations): {', '.join(skipped)}")


def _recomputable(metric: str, parse: Any) -> bool:
    try:
        parse(metric)
    except (ConfigError, InputError, ValueError):
        return False
    return True


def validate_bundle(path: str | Path) -> tuple[list[str], list[str], int]:
    """(problems, notes, domains checked). Any problem fails the bundle: manifest hashes, unlisted or missing
    files, run files (1..top_k finite scores per query, no duplicates, no excluded id), query ids, metrics."""
    bundle = Path(path)
    if not bundle.is_dir():
        raise InputError("no such bundle folder", path=bundle)
    problems: list[str] = []
    notes: list[str] = []
    try:
        manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{bundle / MANIFEST}: unreadable manifest ({exc})"], notes, 0
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(manifest.get("files"), dict)
    ):
        return [f"{bundle / MANIFEST}: not an {FORMAT} manifest"], notes, 0
    listed: dict[str, str] = manifest["files"]
    present = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()} - {MANIFEST}
    for rel in sorted(set(listed) - present):
        problems.append(f"{bundle / rel}: listed in the manifest but missing")
    for rel in sorted(present - set(listed)):
        problems.append(f"{bundle / rel}: not in the manifest")
    for rel in sorted(set(listed) & present):
        if sha256_file(bundle / rel) != listed[rel]:
            problems.append(f"{bundle / rel}: sha256 differs from the manifest's (the file was changed)")
    folders = sorted({(bundle / rel).parent for rel in listed if rel.endswith(SUMMARY_FILE)})
    for folder in folders:
        try:
            _check_domain(folder, bundle, problems, notes)
        except (OSError, InputError, ValueError, KeyError) as exc:
            problems.append(f"{folder}: cannot be checked ({exc})")
    if not folders:
        problems.append(f"{bundle}: the bundle holds no results")
    return problems, notes, len(folders)
