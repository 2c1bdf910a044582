"""Vocoders, metrics and datasets from other packages: Python entry points and ``module.path:ClassName``.

A package registers its own systems by declaring entry points in one of the groups :data:`GROUPS`, each
resolving to a registry entry (:class:`~bench.vocoders.registry.VocoderEntry`,
:class:`~bench.metrics.base.MetricEntry`, :class:`~bench_datasets.base.DatasetEntry`) or a list of them::

    [project.entry-points."vocoder_bench.vocoders"]
    myvocoder = "my_package.bench_plugin:VOCODER"

Plugins are added to the registries after the built-in entries. A plugin that fails to import, resolves to
something that is not an entry, or reuses a taken name is recorded in the registry's ``unavailable`` map
(one line naming the plugin and the error) and left out; the built-in entries and other plugins still work.
``Registry.origins`` says where each plugin entry came from. See docs/plugins.md.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from typing import Any

from bench.errors import BenchError
from bench.registry import Registry

#: Entry-point group of each registry kind.
GROUPS = {"vocoder": "vocoder_bench.vocoders", "metric": "vocoder_bench.metrics", "dataset": "vocoder_bench.datasets"}


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _where(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    package = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown package"
    return f"plugin {ep.name} = {ep.value} ({package})"


def add_plugins(reg: Registry, entry_type: type, group: str | None = None) -> Registry:
    """Add the entries of every installed entry point of ``group`` (default: the group of ``reg.kind``) to
    ``reg``; each must be an ``entry_type`` (or a list of them). Returns ``reg``."""
    group = group or GROUPS[reg.kind]
    for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
        where = _where(ep)
        try:
            obj = ep.load()
        except Exception as err:  # any error of someone else's package: reported, the CLI goes on
            reg.unavailable[ep.name] = f"{where} failed to import: {_one_line(err)}"
            continue
        entries = list(obj) if isinstance(obj, (list, tuple)) else [obj]
        for e in entries:
            if not isinstance(e, entry_type):
                reg.unavailable[ep.name] = (f"{where} is a {type(e).__name__}, not a {entry_type.__name__} "
                                            f"(see docs/plugins.md)")
                continue
            if e.name in reg:
                reg.unavailable[f"{e.name} ({ep.name})"] = (f"{where}: name {e.name!r} is already taken "
                                                            f"({reg.origin(e.name)})")
                continue
            reg.add(e)
            reg.origins[e.name] = where
    return reg


def load_object(spec: str) -> Any:
    """The object named by ``module.path:Name`` (the module must be importable from the Python path)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise BenchError(f"{spec!r}: expected module.path:ClassName")
    try:
        mod = importlib.import_module(module)
    except Exception as err:
        raise BenchError(f"{spec}: cannot import {module}: {_one_line(err)}") from None
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise BenchError(f"{spec}: module {module} has no {attr!r}")
        obj = getattr(obj, part)
    return obj


def vocoder_entry_from_class(spec: str) -> Any:
    """A :class:`VocoderEntry` for the :class:`~bench.vocoders.base.Vocoder` subclass named by ``spec``.

    Metadata comes from class attributes: ``sample_rate`` (required), ``name`` (default: the class name in
    lower case), ``description`` (default: the docstring's first line), ``gpu_capable``, ``family`` (default
    ``"neural"``: ``--precision`` reaches it), ``weights`` (a WeightSpec), ``params`` (a tuple of
    :class:`bench.params.ParamSpec`: what ``--set`` accepts), ``extra``.
    A module attribute that already is a VocoderEntry is used as it is.
    """
    from bench.vocoders.base import Vocoder
    from bench.vocoders.registry import VocoderEntry

    obj = load_object(spec)
    if isinstance(obj, VocoderEntry):
        return obj
    if not (inspect.isclass(obj) and issubclass(obj, Vocoder)):
        raise BenchError(f"{spec} is not a subclass of bench.vocoders.base.Vocoder nor a VocoderEntry")
    if inspect.isabstract(obj):
        raise BenchError(f"{spec} does not implement {', '.join(sorted(obj.__abstractmethods__))}")
    rate = getattr(obj, "sample_rate", None)
    if not isinstance(rate, int) or rate <= 0:
        raise BenchError(f"{spec} needs a class attribute sample_rate (Hz, a positive int)")
    doc = (inspect.getdoc(obj) or "").strip().splitlines()
    return VocoderEntry(
        name=str(getattr(obj, "name", obj.__name__.lower())), factory=obj, sample_rate=rate,
        description=str(getattr(obj, "description", doc[0] if doc else spec)), weights=getattr(obj, "weights", None),
        gpu_capable=bool(getattr(obj, "gpu_capable", False)), extra=getattr(obj, "extra", None),
        params=tuple(getattr(obj, "params", ()) or ()), family=str(getattr(obj, "family", "neural")))


def resolve_vocoder(reg: Registry, name: str) -> Any:
    """The entry of ``name``: a registered vocoder, or ``module.path:ClassName`` for a class on the path."""
    if ":" in name:
        entry = vocoder_entry_from_class(name)
        if entry.name in reg:
            raise BenchError(f"{name}: its name {entry.name!r} is already a registered vocoder "
                             f"({reg.origin(entry.name)}); set a class attribute name = '...'")
        return entry
    return reg.get(name)
