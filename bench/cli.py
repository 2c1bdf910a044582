"""The `bench` command line."""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

from bench.errors import BenchError


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _key_values(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise BenchError(f"{what} expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _vocoder_params(items: list[str] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in _key_values(items, "--set").items():
        if "." not in key:
            raise BenchError(f"--set expects VOCODER.PARAM=VALUE, got {key!r}")
        voc, param = key.split(".", 1)
        out.setdefault(voc, {})[param] = _literal(value)
    return out


def _dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if getattr(args, "path", None):
        opts["path"] = str(Path(args.path).expanduser().resolve())
    if getattr(args, "domain", None):
        opts["domain"] = args.domain
    if getattr(args, "seed", None) is not None:
        opts["seed"] = args.seed
    if getattr(args, "clip_seconds", None) is not None:
        opts["clip_seconds"] = args.clip_seconds
    extra = _key_values(getattr(args, "dataset_option", None), "--dataset-option")
    opts.update({k: _literal(v) for k, v in extra.items()})
    return opts


# -- commands ------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from bench.results.store import ResultsStore
    from bench.results.tables import build_tables, to_markdown, write_tables
    from bench.runner import RunConfig, run

    loud = None if str(args.loudness).lower() in ("none", "off") else float(args.loudness)
    cfg = RunConfig(
        out=Path(args.out), dataset=args.dataset, dataset_options=_dataset_options(args),
        vocoders=_csv(args.vocoders) if args.vocoders else None, metrics=_csv(args.metrics), limit=args.limit,
        domain=args.domain if args.dataset != "folder" else None, device=args.device, precision=args.precision,
        batch_size=args.batch_size, jobs=args.jobs, loudness_lufs=loud, weights=_key_values(args.weights, "--weights"),
        models_dir=args.models_dir, vocoder_params=_vocoder_params(args.set), progress=not args.quiet,
        renders=_key_values(args.renders, "--renders"))
    summary = run(cfg)
    for rep in summary.renders_reports:
        for line in rep.lines():
            print(line, file=sys.stderr)
    for clip_id, reason in summary.clips_failed:
        print(f"skipped clip {clip_id}: {reason}", file=sys.stderr)
    for voc, clip_id, reason in summary.render_failures:
        print(f"synthesis failed: {voc} / {clip_id}: {reason}", file=sys.stderr)
    s = summary.scores
    print(f"run {cfg.out}: {summary.clips_ok} clips, {s.computed} values computed, {s.skipped} already stored, "
          f"{s.failed} failed", file=sys.stderr)
    with ResultsStore.open(cfg.out) as store:
        for f in store.failures():
            if f["stage"] == "metric":
                print(f"metric failed: {f['metric']} / {f['vocoder']} / {f['clip_id']}: {f['error']}", file=sys.stderr)
        tables = build_tables(store)
        paths = write_tables(tables, cfg.out)
    print("\n".join(to_markdown(t) for t in tables))
    print(f"tables: {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


def cmd_references(args: argparse.Namespace) -> int:
    from bench.export_references import export_references

    rows = export_references(Path(args.run), Path(args.out), args.sample_rate)
    print(f"references: {len(rows)} clips in {args.out} (manifest.json, manifest.csv)")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from bench.results.store import ResultsStore
    from bench.results.tables import build_tables, to_csv, to_latex, to_markdown, write_tables

    extra = None
    if args.mushra:
        extra = {"mushra": _mushra_column(args.mushra)}
    with ResultsStore.open(args.run) as store:
        tables = build_tables(store, rtf=args.rtf, extra=extra, extra_directions={"mushra": "higher"})
    if not tables:
        raise BenchError(f"{args.run}: no scores stored yet")
    paths = write_tables(tables, Path(args.run))
    text = {"md": "\n".join(to_markdown(t) for t in tables), "tex": "\n".join(to_latex(t) for t in tables),
            "csv": to_csv(tables)}[args.format]
    print(text)
    print(f"tables: {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


def _mushra_column(name: str) -> dict:
    """MUSHRA means of a listening test as a table column: {(domain, vocoder): Summary}."""
    import math

    from bench.results.stats import Summary
    from mushra.analysis import condition_summary

    test_dir = Path(name)
    if not test_dir.is_dir() and (Path("mushra/tests") / name).is_dir():
        test_dir = Path("mushra/tests") / name
    if not test_dir.is_dir():
        raise BenchError(f"no listening test at {name} (nor mushra/tests/{name})")
    rows = condition_summary(test_dir)
    if not rows:
        from mushra.analysis import TestResults

        screening = TestResults.load(test_dir).screening()
        if screening:
            raise BenchError(f"{test_dir}: all {len(screening)} listeners were excluded by BS.1534-3 post-screening "
                             f"(see `bench mushra analyze {test_dir}`)")
        raise BenchError(f"{test_dir}: no ratings stored yet")
    return {(r["domain"], r["condition"]): Summary(r["mean"], r["ci95"], r["n_ratings"], math.nan) for r in rows}


def cmd_report(args: argparse.Namespace) -> int:
    from bench.results.report import write_report

    path = write_report(Path(args.run))
    print(f"report: {path}")
    return 0


def cmd_vocoders(args: argparse.Namespace) -> int:
    from bench.vocoders.registry import vocoder_registry
    from bench.vocoders.weights import resolve

    reg = vocoder_registry()
    models_dir = Path(args.models_dir) if args.models_dir else None
    for e in reg:
        if e.weights is None:
            status, detail = "ready", "no weights needed"
        else:
            res = resolve(e.name, e.weights, models_dir=models_dir)
            if res.ready:
                status, detail = "ready", f"weights: {res.path} ({res.source})"
            else:
                how = e.weights.how_to_get or (f"bench weights fetch {e.name}" if e.weights.repo_id else "")
                status = "missing weights"
                detail = f"looked in: {'; '.join(res.searched)}" + (f" | get: {how}" if how else "")
        print(f"{e.name:22s} {e.sample_rate:6d} Hz  {status:15s} {e.description}"
              + (f" [{reg.origins[e.name]}]" if e.name in reg.origins else ""))
        if args.verbose or e.weights is not None:
            print(f"{'':22s} {detail}")
    for name, why in reg.unavailable.items():
        print(f"{name:22s} {'':9s} unavailable     {why}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from bench.metrics.registry import metric_registry

    reg = metric_registry()
    for e in reg:
        arrow = "↓" if e.direction == "lower" else "↑"
        ref = "full-reference" if e.needs_reference else "no-reference"
        print(f"{e.name:8s} {arrow} perfect={e.perfect:<6g} {'GPU' if e.gpu_capable else 'CPU'} {ref}  {e.description}"
              + (f" [{e.cost}]" if e.cost else "") + (f" [{reg.origins[e.name]}]" if e.name in reg.origins else ""))
    for name, why in reg.unavailable.items():
        print(f"{name:8s}   unavailable: {why}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    import json

    from bench_datasets.registry import dataset_registry

    reg = dataset_registry()
    if args.action == "list":
        for e in reg:
            print(f"{e.name:12s} {'/'.join(e.domains):13s} {e.description}"
                  + (f" [{reg.origins[e.name]}]" if e.name in reg.origins else ""))
        for name, why in reg.unavailable.items():
            print(f"{name:12s} {'':13s} unavailable: {why}")
        return 0
    if not args.name:
        raise BenchError(f"bench datasets {args.action} needs a dataset name ({', '.join(reg.names())})")
    entry = reg.get(args.name)
    opts: dict[str, Any] = {}
    for key in ("subset", "seed", "clip_seconds", "root"):
        if getattr(args, key, None) is not None:
            opts[key] = getattr(args, key)
    if args.action == "prepare":
        if entry.prepare is None:
            raise BenchError(f"dataset {args.name!r} is read from disk, nothing to prepare: {entry.how_to_get}")
        path = entry.prepare(**opts)
        print(f"{args.name}: ready in {path}")
        return 0
    # info
    import importlib

    mod = importlib.import_module(entry.factory.__module__)
    if hasattr(mod, "info"):
        print(json.dumps(mod.info(**opts), indent=2, default=str))
        return 0
    ds = entry.factory(**{**_dataset_options(args), **opts})
    clips = ds.clips()
    by_domain: dict[str, int] = {}
    for c in clips:
        by_domain[c.domain] = by_domain.get(c.domain, 0) + 1
    print(json.dumps({"dataset": ds.describe(), "clips": len(clips), "per_domain": by_domain}, indent=2, default=str))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from bench.align import align_to_reference
    from bench.audio import load_audio, validate
    from bench.environment import resolve_device
    from bench.metrics.registry import metric_registry

    device = resolve_device(args.device)
    sr = 44100
    ref, _ = load_audio(args.ref, sr)
    validate(ref, sr, what=str(args.ref))
    deg, deg_sr = load_audio(args.deg)
    deg = align_to_reference(deg, deg_sr, ref.size, sr)
    validate(deg.audio, sr, what=str(args.deg))
    reg = metric_registry()
    status = 0
    for name in _csv(args.metrics):
        entry = reg.get(name)
        metric = entry.factory(device=device if entry.gpu_capable else "cpu")
        try:
            value = metric(ref, deg.audio, sr, args.domain)
        except BenchError as err:
            print(f"{name}: error: {err}")
            status = 1
            continue
        v = metric.variant(args.domain)
        arrow = "↓" if entry.direction == "lower" else "↑"
        detail = ", ".join(str(x) for x in (f"{v.get('sample_rate')} Hz", v.get("mode")) if x)
        print(f"{name:8s} {arrow} {value:.4f}   ({detail})")
    if deg.length_diff:
        print(f"(degraded length differed by {deg.length_diff} samples at 44.1 kHz; trimmed/padded to the reference)",
              file=sys.stderr)
    return status


def cmd_weights(args: argparse.Namespace) -> int:
    from bench.vocoders.registry import vocoder_registry
    from bench.vocoders.weights import fetch

    entry = vocoder_registry().get(args.name)
    if entry.weights is None:
        print(f"{args.name}: needs no weights")
        return 0
    path = fetch(entry.weights)
    print(f"{args.name}: weights in {path}")
    return 0


# -- parser --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Evaluate and benchmark neural vocoders.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="copy-synthesis run: vocoders x dataset -> metrics -> results store")
    r.add_argument("--vocoders", help="comma-separated (default: every registered vocoder that is ready)")
    r.add_argument("--metrics", default="mrstft,mrmel,cdpam,visqol")
    r.add_argument("--dataset", default="demo")
    r.add_argument("--path", help="dataset directory (folder dataset, or a standard set's location)")
    r.add_argument("--domain", choices=["music", "speech"],
                   help="folder: domain of the files; others: only this domain")
    r.add_argument("--dataset-option", action="append", metavar="KEY=VALUE", help="extra dataset argument")
    r.add_argument("--seed", type=int, default=None, help="dataset clip selection seed")
    r.add_argument("--clip-seconds", type=float, default=None, help="clip length where the dataset cuts excerpts")
    r.add_argument("--out", required=True, help="run directory, e.g. results/NAME")
    r.add_argument("--limit", type=int, help="clips per domain")
    r.add_argument("--device", default="auto", help="auto|cpu|cuda[:N]")
    r.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    r.add_argument("--batch-size", type=int, default=None,
                   help="clips of similar length synthesised together (default 8 on GPU, 1 on CPU)")
    r.add_argument("--jobs", type=int, default=None,
                   help="worker processes for single-threaded metrics (ViSQOL) beside the torch metrics "
                        "(default: 1 on machines with >= 2 cores, else 0)")
    r.add_argument("--loudness", default="-24", help="BS.1770 target in LUFS for references, or 'none'")
    r.add_argument("--weights", action="append", metavar="NAME=PATH", help="weights directory/file of a vocoder")
    r.add_argument("--models-dir", help="directory with one sub-directory of weights per vocoder (default ./models)")
    r.add_argument("--set", action="append", metavar="VOCODER.PARAM=VALUE",
                   help="vocoder parameter, e.g. griffinlim.iterations=64")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--renders", action="append", metavar="NAME=DIR",
                   help="add system NAME read from a folder of its outputs (<clip id>.wav, see `bench references`)")
    r.set_defaults(func=cmd_run)

    rf = sub.add_parser("references", help="write a run's reference clips as evaluated, to render with your own code")
    rf.add_argument("run")
    rf.add_argument("--out", required=True, help="folder for <clip id>.wav files and manifest.json/csv")
    rf.add_argument("--sample-rate", type=int, default=None, help="rate of the files (default: the evaluation rate)")
    rf.set_defaults(func=cmd_references)

    t = sub.add_parser("table", help="render the result tables of a run from its store")
    t.add_argument("run")
    t.add_argument("--format", choices=["md", "tex", "csv"], default="md")
    t.add_argument("--rtf", action="store_true", help="add the real-time factor column")
    t.add_argument("--mushra", metavar="TEST_DIR", help="add the MUSHRA column of a listening test")
    t.set_defaults(func=cmd_table)

    rp = sub.add_parser("report", help="write an HTML report (tables, plots, per-clip values with audio) of a run")
    rp.add_argument("run")
    rp.set_defaults(func=cmd_report)

    v = sub.add_parser("vocoders", help="list vocoders and whether their weights are found")
    v.add_argument("--models-dir")
    v.add_argument("-v", "--verbose", action="store_true")
    v.set_defaults(func=cmd_vocoders)

    m = sub.add_parser("metrics", help="list metrics")
    m.set_defaults(func=cmd_metrics)

    d = sub.add_parser("datasets", help="list, prepare or describe datasets")
    d.add_argument("action", choices=["list", "prepare", "info"])
    d.add_argument("name", nargs="?")
    d.add_argument("--subset", help="demo: full (default) or test (a small download)")
    d.add_argument("--seed", type=int, help="clip selection seed (demo: a separate cache per seed)")
    d.add_argument("--clip-seconds", type=float, help="music clip length where the dataset cuts excerpts")
    d.add_argument("--root", help="cache folder (default ./data, or $BENCH_DATA_DIR)")
    d.add_argument("--path")
    d.add_argument("--domain", choices=["music", "speech"])
    d.add_argument("--dataset-option", action="append", metavar="KEY=VALUE")
    d.set_defaults(func=cmd_datasets)

    s = sub.add_parser("score", help="score one pair of audio files with every metric")
    s.add_argument("ref")
    s.add_argument("deg")
    s.add_argument("--metrics", default="mrstft,mrmel,cdpam,visqol")
    s.add_argument("--domain", choices=["music", "speech"], default="music")
    s.add_argument("--device", default="auto")
    s.set_defaults(func=cmd_score)

    w = sub.add_parser("weights", help="download published weights (needs network)")
    w.add_argument("action", choices=["fetch"])
    w.add_argument("name")
    w.set_defaults(func=cmd_weights)

    try:
        from mushra.cli import register
    except ImportError:
        pass
    else:
        register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BenchError as err:
        print(f"bench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted (completed work is stored; rerun the same command to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
