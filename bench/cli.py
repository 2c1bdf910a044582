"""The `bench` command line.

Errors: a :class:`BenchError` (bad input, missing files or weights) or an OSError is printed as one line
(``bench: error: ...``); any other exception as one line naming it, with its traceback only under ``--debug``
or ``BENCH_DEBUG=1``. Exit status: 0 done, 1 OSError or unexpected error, 2 bad input (argparse usage errors
too), 130 Ctrl-C, 143 SIGTERM. After Ctrl-C or SIGTERM every value already stored is kept.
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.lifetime import TERMINATED_EXIT, Terminated, sigterm_raises

EXAMPLES = """\
examples:
  bench datasets prepare demo                    download and cut the demo clips (once)
  bench run --dataset demo --limit 4 --out results/demo
  bench run --dataset folder --path my_wavs --domain speech --vocoders reference,anchor35,griffinlim \\
            --metrics mrstft,mrmel --out results/mine
  bench run --dataset folder --path my_wavs --domain music --vocoders griffinlim \\
            --set griffinlim.iterations=64 --out results/gl64
  bench table results/demo --format tex --rtf    the paper tables again, as LaTeX
  bench report results/demo                      HTML report with plots and audio
  bench compare results/demo griffinlim anchor70   paired tests over clips, per metric
  bench export results/demo --format parquet --out demo.parquet   the results as data (pandas)
  bench score ref.wav degraded.wav               one pair, without a run folder

Rerunning the same `bench run` command resumes: only values missing from the run folder are computed.
`bench vocoders -v` lists each vocoder's parameters (--set VOCODER.PARAM=VALUE); `bench metrics` the metrics.
"""


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


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _loudness(text: str) -> float | None:
    """``--loudness``: a BS.1770 target in LUFS, or none/off (references keep their level)."""
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a target in LUFS (e.g. -24) or 'none', got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite target in LUFS (e.g. -24) or 'none', got {text!r}")
    return value


def _names(text: str | None, option: str) -> list[str] | None:
    """Comma-separated names of ``option``; None when the option was not given, an error when it is empty."""
    if text is None:
        return None
    names = _csv(text)
    if not names:
        raise BenchError(f"{option} is empty: give at least one name")
    return names


def _require_folder_domain(dataset: str, args: argparse.Namespace) -> None:
    """A folder's domain is the user's statement about its files: never assumed."""
    if dataset == "folder" and not args.domain and "domain" not in _key_values(args.dataset_option,
                                                                              "--dataset-option"):
        raise BenchError("dataset 'folder' needs --domain music or --domain speech (it selects the metrics' "
                         "variants and the table the clips go to)")


def _checked_run_options(args: argparse.Namespace) -> tuple[list[str] | None, list[str], dict[str, str],
                                                            dict[str, dict[str, Any]]]:
    """Vocoders, metrics, weights and vocoder parameters of `bench run`, checked before any work is done.

    Raises BenchError (one line) for an unknown vocoder, parameter or value out of range, weights given for a
    vocoder that needs none, and settings for a vocoder that is not part of the run.
    """
    from bench.params import validate_params
    from bench.plugins import resolve_vocoder
    from bench.vocoders.registry import vocoder_registry

    vocoders = _names(args.vocoders, "--vocoders")
    metrics = _names(args.metrics, "--metrics")
    _require_folder_domain(args.dataset, args)
    reg = vocoder_registry()
    for name in vocoders or []:
        resolve_vocoder(reg, name)  # a registered name, or module.path:ClassName

    weights = _key_values(args.weights, "--weights")
    ready: list[str] | None = None

    def in_run(name: str, option: str) -> None:
        nonlocal ready
        reg.get(name)  # an unknown name first says so (with close matches)
        if vocoders is not None and name not in vocoders:
            raise BenchError(f"{option} {name}: {name} is not in --vocoders ({', '.join(vocoders)})")
        if vocoders is None and option == "--set":
            from bench.runner import ready_vocoders

            if ready is None:
                ready = ready_vocoders(Path(args.models_dir) if args.models_dir else None, weights)
            if name not in ready:
                raise BenchError(f"--set {name}: {name} is not part of this run (its weights are not found; "
                                 f"without --vocoders the run takes the ready ones: `bench vocoders`)")

    for name in weights:
        in_run(name, "--weights")
        if reg.get(name).weights is None:
            raise BenchError(f"--weights {name}: vocoder {name!r} uses no weights")
    params: dict[str, dict[str, Any]] = {}
    for name, given in _vocoder_params(args.set).items():
        in_run(name, "--set")
        try:
            params[name] = validate_params(name, reg.get(name).params, given)
        except BenchError as err:
            raise BenchError(f"--set {err}") from None
    return vocoders, metrics, weights, params


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


def _executor_options(args: argparse.Namespace) -> dict[str, Any]:
    """Options of ``--executor`` (bench.execution.make_executor): the Ray cluster's address, the audio URL."""
    if "://" in args.out:
        raise BenchError(f"--out {args.out}: the run folder holds the SQLite results store and must be a local "
                         "path; to put the audio on a URL the nodes can read, add --executor ray --audio-url URL")
    given = {"address": args.ray_address, "audio_url": args.audio_url}
    given = {k: v for k, v in given.items() if v is not None}
    if given and args.executor != "ray":
        raise BenchError("--ray-address and --audio-url are options of --executor ray")
    return given


# -- commands ------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from bench.results.store import ResultsStore
    from bench.results.tables import build_tables, to_markdown, write_tables
    from bench.runner import RunConfig, run

    vocoders, metrics, weights, params = _checked_run_options(args)
    cfg = RunConfig(
        out=Path(args.out), dataset=args.dataset, dataset_options=_dataset_options(args),
        vocoders=vocoders, metrics=metrics, limit=args.limit,
        domain=args.domain if args.dataset != "folder" else None, device=args.device, precision=args.precision,
        batch_size=args.batch_size, jobs=args.jobs, executor=args.executor, loudness_lufs=args.loudness,
        weights=weights, executor_options=_executor_options(args),
        models_dir=args.models_dir, vocoder_params=params, progress=not args.quiet,
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
    if summary.placement_lines():  # how many units ran where (bench.execution)
        print(f"units run ({summary.executor}):", file=sys.stderr)
        for line in summary.placement_lines():
            print(f"  {line}", file=sys.stderr)
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
    """Print the tables of a run (read-only); write them only to an explicit ``--out FILE``."""
    from bench.results.store import ResultsStore
    from bench.results.tables import build_tables, render

    extra = extra_tests = None
    if args.mushra:
        column, marks = _mushra(args.mushra)
        extra, extra_tests = {"mushra": column}, {"mushra": marks}
    with ResultsStore.open_readonly(args.run) as store:
        tables = build_tables(store, rtf=args.rtf, extra=extra, extra_directions={"mushra": "higher"},
                              extra_tests=extra_tests)
    if not tables:
        raise BenchError(f"{args.run}: no scores stored for the current selection")
    text = render(tables, args.format)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
        print(f"table: {args.out}", file=sys.stderr)
    return 0


def _mushra_dir(name: str) -> Path:
    """A listening test folder: NAME as given, else mushra/tests/NAME."""
    test_dir = Path(name)
    if not test_dir.is_dir() and (Path("mushra/tests") / name).is_dir():
        test_dir = Path("mushra/tests") / name
    if not test_dir.is_dir():
        raise BenchError(f"no listening test at {name} (nor mushra/tests/{name})")
    return test_dir


def cmd_export(args: argparse.Namespace) -> int:
    """Write the run's frame (one row per value, render and failure; read-only) as csv, parquet or jsonl."""
    from bench.results.export import export
    from bench.results.frame import load

    df = load(args.run, all_variants=args.all_variants)
    try:
        export(df, args.format, Path(args.out) if args.out else None, sys.stdout)
    except BrokenPipeError:  # `bench export RUN | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when stdout is flushed
        return 0
    if args.out:
        print(f"export: {len(df)} rows, {df.shape[1]} columns -> {args.out}", file=sys.stderr)
    return 0


def _mushra(name: str) -> tuple[dict, dict]:
    """A listening test as the tables' MUSHRA column, loaded and screened once: its means ({(domain, vocoder):
    Summary}) and its marks (per domain, the best system under test and the others' comparisons with it,
    Wilcoxon on per-assessor means, Holm across them)."""
    import math

    from bench.results.stats import Summary
    from bench.results.tables import Tested
    from mushra.analysis import TestResults

    test_dir = _mushra_dir(name)
    res = TestResults.load(test_dir)
    rows = res.summary()
    if not rows:
        screening = res.screening()
        if screening:
            raise BenchError(f"{test_dir}: all {len(screening)} listeners were excluded by BS.1534-3 post-screening "
                             f"(see `bench mushra analyze {test_dir}`)")
        raise BenchError(f"{test_dir}: no ratings stored yet")
    column = {(r["domain"], r["condition"]): Summary(r["mean"], r["ci95"], r["n_ratings"], math.nan) for r in rows}
    marks = {}
    for domain in res.domains():
        found = res.compare_with_best(domain)
        if found is not None:
            best, comps = found
            n = max((c.n for c in comps.values()), default=len(res.assessor_means(domain).get(best, {})))
            if comps:
                rule = (f"bold: the best system and every system not significantly worse than it by Wilcoxon "
                        f"signed-rank on the per-assessor means ({n} assessors, paired, two-sided; Holm across the "
                        f"column's {len(comps)} comparison{'s' if len(comps) != 1 else ''} with the best)")
            else:  # one system under test: nothing to compare it with
                rule = "bold: the only system under test (nothing to test)"
            marks[domain] = Tested(best, comps, len(comps), f"mean ± 95% CI over all ratings; {rule}; hidden "
                                                            f"reference and anchors never bold")
    return column, marks


def cmd_compare(args: argparse.Namespace) -> int:
    """Two vocoders of a run, per domain and metric: paired test over clips, Holm across the printed rows."""
    from bench.results.compare import compare_run, format_comparison

    if args.n_boot < 0:
        raise BenchError(f"--n-boot must be 0 or more, got {args.n_boot}")
    if not 0 < args.alpha < 1:
        raise BenchError(f"--alpha must be between 0 and 1, got {args.alpha}")
    rows, notes = compare_run(args.run, args.a, args.b, test=args.test, domain=args.domain, metric=args.metric,
                              n_boot=args.n_boot, seed=args.seed, alpha=args.alpha)
    print(format_comparison(rows, notes, args.a, args.b))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.results.report import write_report

    test_dir, column, marks = (_mushra_dir(args.mushra), None, None) if args.mushra else (None, None, None)
    if test_dir is not None:
        try:
            column, marks = _mushra(str(test_dir))
        except BenchError as err:  # no kept ratings: the report says why in its listener section
            print(f"bench: warning: no MUSHRA column: {_one_line(err)}", file=sys.stderr)
    path = write_report(Path(args.run), Path(args.out) if args.out else None, mushra=test_dir, mushra_column=column,
                        mushra_marks=marks)
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
        if args.verbose:
            for spec in e.params:
                print(f"{'':22s} --set {e.name}.{spec.describe()}")
    for name, why in reg.unavailable.items():
        print(f"{name:22s} {'':9s} unavailable     {why}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from bench.metrics.registry import metric_registry

    if args.action == "verify":
        from bench.environment import resolve_device
        from bench.metrics.verify import run_verify

        return run_verify(args.visqol_testdata, args.cdpam_example, resolve_device(args.device))

    reg = metric_registry()
    width = max((len(n) for n in [*reg.names(), *reg.unavailable]), default=8)
    for e in reg:
        arrow = "↓" if e.direction == "lower" else "↑"
        ref = "full-reference" if e.needs_reference else "no-reference"
        print(f"{e.name:{width}s} {arrow} perfect={e.perfect:<6g} {'GPU' if e.gpu_capable else 'CPU'} {ref}  "
              f"{e.description}" + (f" [{e.cost}]" if e.cost else "")
              + (f" [{reg.origins[e.name]}]" if e.name in reg.origins else ""))
        if e.source:
            print(f"{'':{width}s}   source: {e.source}")
    for name, why in reg.unavailable.items():
        print(f"{name:{width}s}   unavailable: {why}")
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
    _require_folder_domain(args.name, args)
    ds = entry.factory(**{**_dataset_options(args), **opts})
    clips = ds.clips()
    by_domain: dict[str, int] = {}
    for c in clips:
        by_domain[c.domain] = by_domain.get(c.domain, 0) + 1
    print(json.dumps({"dataset": ds.describe(), "clips": len(clips), "per_domain": by_domain}, indent=2, default=str))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from bench.environment import resolve_device
    from bench.metrics.registry import metric_registry
    from bench.pair import print_report, score_pair

    report = score_pair(args.ref, args.deg, _csv(args.metrics), args.domain, resolve_device(args.device))
    print_report(report, {e.name: e.direction for e in metric_registry()})
    return 0 if report.ok else 1


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
def _registry_names(kind: str) -> str:
    """Names of a registry, for help text; optional ones that are not installed are marked."""
    if kind == "vocoder":
        from bench.vocoders.registry import vocoder_registry as registry
    elif kind == "metric":
        from bench.metrics.registry import metric_registry as registry
    else:
        from bench_datasets.registry import dataset_registry as registry
    reg = registry()
    return ", ".join([*reg.names(), *(f"{n} (not installed)" for n in reg.unavailable)])


class _HelpFormatter(argparse.HelpFormatter):
    """Adds the registered names to the help of options marked with ``names_of`` (a registry kind), and each
    option's default.

    The registries are imported only here, when this help is printed: they load torch, which parsing and
    `bench --help` must not pay for.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        kind = getattr(action, "names_of", None)
        if kind:
            text += f". Known: {_registry_names(kind)}.".replace("%", "%%")
        if "%(default)" not in text and action.default not in (None, False, argparse.SUPPRESS) \
                and action.option_strings:
            text += ("" if not text or text.endswith(".") else ".") + " Default: %(default)s."
        return text


def _names_of(action: argparse.Action, kind: str) -> None:
    action.names_of = kind  # type: ignore[attr-defined]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vocoder-bench")
    except PackageNotFoundError:
        from bench import __version__

        return f"{__version__} (source tree, not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Evaluate and benchmark neural vocoders.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s (vocoder-bench) {_version()}")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an unexpected error (also: environment BENCH_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="copy-synthesis run: vocoders x dataset -> metrics -> results store",
                       formatter_class=_HelpFormatter)
    _names_of(r.add_argument("--vocoders", help="comma-separated vocoder names (default: every registered vocoder "
                                                "whose weights are found; see `bench vocoders`)"), "vocoder")
    _names_of(r.add_argument("--metrics", default="mrstft,mrmel,cdpam,visqol",
                             help="comma-separated metric names (see `bench metrics`)"), "metric")
    _names_of(r.add_argument("--dataset", default="demo", help="dataset name (see `bench datasets list`)"), "dataset")
    r.add_argument("--path", help="dataset directory (folder dataset, or a standard set's location)")
    r.add_argument("--domain", choices=["music", "speech"],
                   help="folder: domain of the files (required); others: only this domain")
    r.add_argument("--dataset-option", action="append", metavar="KEY=VALUE",
                   help="extra dataset argument, e.g. duration=SECONDS or offset=SECONDS for the folder dataset "
                        "(clips longer than 60 s are skipped with that hint: CDPAM and ViSQOL hold a whole clip "
                        "in memory)")
    r.add_argument("--seed", type=int, default=None, help="dataset clip selection seed")
    r.add_argument("--clip-seconds", type=_positive_float, default=None,
                   help="clip length where the dataset cuts excerpts")
    r.add_argument("--out", required=True, help="run directory, e.g. results/NAME")
    r.add_argument("--limit", type=_int_at_least(1), help="clips per domain (default: all)")
    r.add_argument("--device", default="auto", help="auto|cpu|cuda[:N]")
    r.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="numeric precision of the neural vocoders")
    r.add_argument("--batch-size", type=_int_at_least(1), default=None,
                   help="clips of similar length synthesised together (default 8 on GPU, 1 on CPU)")
    r.add_argument("--jobs", type=_int_at_least(0), default=None,
                   help="local worker processes for references and CPU metrics, one thread each (default: one per "
                        "core; 0: everything in this process). Values do not depend on it")
    r.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where units run: this machine's cores, or a Ray cluster (pip install 'vocoder-bench[ray]')")
    r.add_argument("--ray-address", metavar="HOST:PORT",
                   help="--executor ray: the cluster's head (default: $RAY_ADDRESS, else a Ray started for this run "
                        "on this machine with --jobs CPUs)")
    r.add_argument("--audio-url", metavar="URL",
                   help="--executor ray, nodes without the driver's files: an fsspec URL every node can read "
                        "(s3://..., gs://..., file:///shared/...); the audio units read is copied there. The store "
                        "stays in --out")
    r.add_argument("--loudness", type=_loudness, default="-24",
                   help="BS.1770 target in LUFS for references, or 'none'")
    r.add_argument("--weights", action="append", metavar="NAME=PATH",
                   help="weights directory/file of a vocoder that uses weights (repeatable)")
    r.add_argument("--models-dir", help="directory with one sub-directory of weights per vocoder (default ./models)")
    r.add_argument("--set", action="append", metavar="VOCODER.PARAM=VALUE",
                   help="vocoder parameter, e.g. griffinlim.iterations=64 (repeatable; `bench vocoders -v` lists "
                        "each vocoder's parameters, types and ranges)")
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
    t.add_argument("--out", metavar="FILE", help="also write the printed table to FILE (default: print only, write "
                                             "nothing)")
    t.set_defaults(func=cmd_table)

    cp = sub.add_parser("compare", help="compare two vocoders of a run: paired test over clips per domain and metric",
                        description="Paired comparison of vocoders A and B over the clips both have, per domain "
                                    "and metric: means, mean difference A-B with a bootstrap 95%% CI, the test, "
                                    "p and Holm p across the printed comparisons, effect size, the better one.")
    cp.add_argument("run")
    cp.add_argument("a", metavar="A", help="vocoder A")
    cp.add_argument("b", metavar="B", help="vocoder B")
    cp.add_argument("--test", choices=["wilcoxon", "t"], default="wilcoxon",
                    help="Wilcoxon signed-rank (default) or paired t")
    cp.add_argument("--domain", help="only this domain")
    cp.add_argument("--metric", help="only this metric key (e.g. mrstft, mrstft@discoder)")
    cp.add_argument("--n-boot", type=int, default=10000, help="bootstrap resamples for the CI (default 10000)")
    cp.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    cp.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm (default 0.05)")
    cp.set_defaults(func=cmd_compare)

    ex = sub.add_parser("export", help="write a run's results as data: one row per value, render and failure "
                                       "(see README 'Results as data')")
    ex.add_argument("run")
    ex.add_argument("--format", choices=["csv", "parquet", "jsonl"], default="csv")
    ex.add_argument("--out", metavar="FILE", help="file to write (default: print csv/jsonl; parquet needs a file)")
    ex.add_argument("--all-variants", action="store_true",
                    help="also the values of older metric variants (column latest_variant False)")
    ex.set_defaults(func=cmd_export)

    rp = sub.add_parser("report", help="write an HTML report (tables, plots, per-clip values with audio) of a run")
    rp.add_argument("run")
    rp.add_argument("--out", metavar="PATH", help="report file (default RUN/report.html; the only file written)")
    rp.add_argument("--mushra", metavar="TEST_DIR",
                    help="a listening test built from this run: adds its MUSHRA column and the listener-agreement "
                         "section (correlations as `bench mushra correlate`, hidden reference and anchors excluded)")
    rp.set_defaults(func=cmd_report)

    v = sub.add_parser("vocoders", help="list vocoders and whether their weights are found")
    v.add_argument("--models-dir")
    v.add_argument("-v", "--verbose", action="store_true")
    v.set_defaults(func=cmd_vocoders)

    m = sub.add_parser("metrics", help="list metrics, or verify them against published reference values")
    m.add_argument("action", nargs="?", choices=["list", "verify"], default="list",
                   help="verify: score the public reference pairs through `bench score` and compare with the "
                        "published values (see README: Checking the metrics)")
    m.add_argument("--visqol-testdata", metavar="DIR",
                   help="verify: the testdata/ folder of a google/visqol checkout (github.com/google/visqol)")
    m.add_argument("--cdpam-example", metavar="DIR",
                   help="verify: the sample_audio/ folder of github.com/pranaymanocha/PerceptualAudio")
    m.add_argument("--device", default="auto", help="verify: auto|cpu|cuda[:N]")
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

    s = sub.add_parser("score", help="score one pair of audio files as given, each metric at its own rate",
                       description="Score DEG against REF. Each file is read at its native rate; every metric "
                                   "resamples its own copy to its rate once; lengths are trimmed only for metrics "
                                   "that need equal lengths (ViSQOL and CDPAM take them as they are). What was done "
                                   "(downmix, resampling, trimming) is printed, and a delay or level difference "
                                   "large enough to dominate a metric is a warning.",
                       formatter_class=_HelpFormatter)
    s.add_argument("ref")
    s.add_argument("deg")
    _names_of(s.add_argument(
        "--metrics", default="mrstft,mrmel",
        help="comma-separated metric names; the default is the two fast spectral metrics: add cdpam and visqol "
             "(--metrics mrstft,mrmel,cdpam,visqol) for the perceptual ones, which load a model and take seconds "
             "per pair (`bench metrics` shows each one's cost)"), "metric")
    s.add_argument("--domain", choices=["music", "speech"], default="music", help="selects the metric variants")
    s.add_argument("--device", default="auto", help="auto|cpu|cuda[:N]")
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


def _one_line(err: BaseException) -> str:
    """The message on one line (line breaks become spaces; other characters, e.g. in paths, stay as they are)."""
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the `bench` command ``argv``; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("BENCH_DEBUG", "").strip() not in ("", "0")
    try:
        with sigterm_raises():
            return int(args.func(args) or 0)
    except BenchError as err:
        print(f"bench: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except Terminated:
        print("bench: terminated (completed work is stored; rerun the same command to resume)", file=sys.stderr)
        return TERMINATED_EXIT
    except KeyboardInterrupt:
        print("bench: interrupted (completed work is stored; rerun the same command to resume)", file=sys.stderr)
        return 130
    except Exception as err:
        if debug:
            traceback.print_exc()
        if isinstance(err, OSError):
            print(f"bench: error: {_one_line(err)}", file=sys.stderr)
        else:
            print(f"bench: unexpected error: {type(err).__name__}: {_one_line(err)}"
                  + ("" if debug else " (rerun with --debug or BENCH_DEBUG=1 for the traceback)"), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
