"""`rtriever-cache list|prune|verify`: inspect, clean up and check the embedding cache.

Works on the cache folders through rtriever_eval.cache alone; knows nothing about models, datasets or results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtriever_eval.base.errors import InputError
from rtriever_eval.cache import CacheEntry, DamagedShard, EmbeddingCache, default_cache_dir, remove_entry
from rtriever_eval.cli.common import fail


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _open(cache_dir: str | None, *, writable: bool = False) -> tuple[Path, list[CacheEntry]]:
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    if not root.is_dir():
        fail(f"{root}: no such cache folder (pass --cache-dir, or set RTRIEVER_CACHE_DIR; runs use paths.cache_dir)")
    cache = EmbeddingCache(root, "readwrite" if writable else "read")
    try:
        return root, cache.entries()
    except InputError as exc:
        fail(str(exc))
        raise  # pragma: no cover - fail exits


def _describe(entry: CacheEntry) -> dict[str, str]:
    info = entry.manifest.get("info") or {}
    done = len(entry.done_shards())
    return {
        "key": entry.key[:12],
        "model": str(info.get("model", "?")),
        "side": str(info.get("side", "?")),
        "label": str(info.get("label", "")),
        "n": str(entry.n),
        "dim": str(entry.dim if entry.dim is not None else "-"),
        "shards": f"{done}/{entry.n_shards}" + ("" if done == entry.n_shards else " (incomplete)"),
        "size": _size(entry.size_bytes()),
        "last used": _when(entry.last_used()),
    }


def cmd_list(args: argparse.Namespace) -> int:
    root, entries = _open(args.cache_dir)
    if not entries:
        print(f"no cache entries under {root}")
        return 0
    rows = [_describe(e) for e in entries]
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in cols).rstrip())
    total = sum(e.size_bytes() for e in entries)
    print(f"{len(entries)} entries, {_size(total)} under {root}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    if args.older_than_days is None and not args.incomplete:
        fail("prune needs a filter: --older-than-days N (not used for N days) and/or --incomplete (both must hold)")
    if args.older_than_days is not None and args.older_than_days < 0:
        fail(f"--older-than-days must be >= 0, got {args.older_than_days}")
    root, entries = _open(args.cache_dir, writable=not args.dry_run)
    cutoff = time.time() - 86400 * args.older_than_days if args.older_than_days is not None else None
    removed, freed = 0, 0
    for entry in entries:
        if cutoff is not None and entry.last_used() >= cutoff:
            continue
        if args.incomplete and entry.complete:
            continue
        d = _describe(entry)
        what = f"{entry.key} ({d['model']} {d['side']} {d['label']}, {d['shards']} shards, {d['size']})"
        if entry.is_active():
            print(f"skipped {what}: a run is reading or writing it now")
            continue
        size = entry.size_bytes()
        if not args.dry_run and not remove_entry(entry):  # a run took it between the look and the removal
            print(f"skipped {what}: a run is reading or writing it now")
            continue
        print(f"{'would remove' if args.dry_run else 'removed'} {what}")
        removed += 1
        freed += size
    verb = "would free" if args.dry_run else "freed"
    print(f"{removed} of {len(entries)} entries, {verb} {_size(freed)} under {root}")
    return 0


def verify_entry(entry: CacheEntry, *, repair: bool = False) -> list[str]:
    """Problems found re-reading every finished shard of ``entry``: its bytes against the checksum of its record, its
    shape against the record and the manifest, its values finite (shards written before they were checked may hold
    NaN). A manifest that lags its records (a run stopped between the two writes) is only brought up to date."""
    problems: list[str] = []
    listed = {int(s["index"]): s for s in entry.manifest.get("shards", [])}
    records = entry.shard_records()
    stale_listing = False
    for index in sorted(set(listed) | set(records)):
        rec = records.get(index)
        if rec is None:
            problems.append(f"shard {index} is in the manifest but its file or record is missing")
            continue
        path = entry.folder / str(rec["file"])
        bad = ""
        try:
            rows = entry.load_shard(index, rec)  # the record is what every read checks against
            if not np.isfinite(rows).all():
                bad = "holds non-finite values (NaN or inf)"
        except DamagedShard as exc:
            bad = exc.reason
        stale_listing |= index not in listed or any(listed[index].get(k) != rec.get(k) for k in ("checksum", "sha256"))
        if bad:
            problems.append(f"shard {index} ({path.name}): {bad}")
            if repair:
                entry.forget_shard(index)
    if repair and (problems or stale_listing):
        entry.update_manifest()
    return problems


def cmd_verify(args: argparse.Namespace) -> int:
    root, entries = _open(args.cache_dir, writable=args.repair)
    if args.keys:
        entries = [e for e in entries if any(e.key.startswith(k) for k in args.keys)]
        if not entries:
            fail(f"no cache entry under {root} has a key starting with {', '.join(args.keys)}")
    n_bad = 0
    for entry in entries:
        problems = verify_entry(entry, repair=args.repair)
        if problems:
            n_bad += 1
            print(f"BAD {entry.key}: {len(problems)} problem(s)")
            for p in problems:
                print(f"    {p}")
            if args.repair:
                print("    their records are removed: the next run re-encodes those shards")
        else:
            state = "complete" if entry.complete else "incomplete"
            print(f"ok  {entry.key}: {len(entry.done_shards())}/{entry.n_shards} shards verified ({state})")
    print(f"{len(entries)} entries verified, {n_bad} with problems")
    return 1 if n_bad else 0


def main(argv: Sequence[str] | None = None) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cache-dir",
        default=None,
        help="the cache folder (paths.cache_dir of the runs; default $RTRIEVER_CACHE_DIR or .cache/rtriever)",
    )
    parser = argparse.ArgumentParser(prog="rtriever-cache", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", parents=[common], help="one line per entry: model, side, rows, shards, size, last use")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("prune", parents=[common], help="remove entries matching every filter given")
    p.add_argument("--older-than-days", type=float, default=None, help="not used for this many days")
    p.add_argument("--incomplete", action="store_true", help="with shards missing (an encode that never finished)")
    p.add_argument("--dry-run", action="store_true", help="print what would be removed, remove nothing")
    p.set_defaults(func=cmd_prune)
    p = sub.add_parser("verify", parents=[common], help="re-read every shard against its checksum; exit 1 on damage")
    p.add_argument("keys", nargs="*", help="key prefixes to verify (default: all)")
    p.add_argument("--repair", action="store_true", help="forget damaged shards so the next run re-encodes them")
    p.set_defaults(func=cmd_verify)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = args.func(args)
    except (InputError, json.JSONDecodeError) as exc:
        fail(str(exc))
        return
    sys.exit(code)


if __name__ == "__main__":
    main()
