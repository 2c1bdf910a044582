"""A small typed registry shared by vocoders, metrics and datasets (no module-level mutable state)."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Iterable, Iterator
from typing import Generic, Protocol, TypeVar

from bench.errors import MissingExtraError, UnknownNameError


class Named(Protocol):
    name: str


E = TypeVar("E", bound=Named)


class Registry(Generic[E]):
    """Entries by name; ``get`` raises :class:`UnknownNameError` with close matches."""

    def __init__(self, kind: str, entries: Iterable[E] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, E] = {}
        #: name -> why it is not available (an optional package that does not import)
        self.unavailable: dict[str, str] = {}
        #: name -> where a plugin entry came from (entries not listed are built in); see bench.plugins
        self.origins: dict[str, str] = {}
        for e in entries:
            self.add(e)

    def add(self, entry: E) -> None:
        if entry.name in self._entries:
            raise ValueError(f"duplicate {self.kind} name {entry.name!r}")
        self._entries[entry.name] = entry

    def get(self, name: str) -> E:
        try:
            return self._entries[name]
        except KeyError:
            if name in self.unavailable:
                raise MissingExtraError(f"{self.kind} {name!r} is not available: {self.unavailable[name]}") from None
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint}; known: {', '.join(sorted(self._entries))}"
            ) from None

    def origin(self, name: str) -> str:
        """Where entry ``name`` came from: "built-in" or the plugin (entry point and package)."""
        return self.origins.get(name, "built-in")

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[E]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


def collect(kind: str, modules: Iterable[str], attr: str = "ENTRY") -> Registry:
    """Build a registry from ``module.ENTRY`` (an entry or a list of entries) of each module.

    A module whose optional dependency is missing may define ``ENTRY = None`` (or raise ImportError for a
    package it needs); it is then left out, so optional backends register only when their package imports.
    """
    reg: Registry = Registry(kind)
    for mod_name in modules:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as err:
            missing = getattr(err, "name", None) or ""
            if missing and not missing.startswith(("bench", "mushra")):
                continue
            raise
        entries = getattr(mod, attr)
        if entries is None:
            continue
        for e in entries if isinstance(entries, (list, tuple)) else [entries]:
            missing = [m for m in getattr(e, "requires", ()) if not _importable(m)]
            if missing:
                extra = getattr(e, "extra", None)
                how = (getattr(e, "install", "")  # an entry whose backend an extra cannot install says how
                       or (f"pip install 'vocoder-bench[{extra}]'" if extra else f"pip install {' '.join(missing)}"))
                reg.unavailable[e.name] = f"needs {', '.join(missing)} ({how})"
            else:
                reg.add(e)
    return reg


def _importable(module: str) -> bool:
    """True when ``module`` is installed. Only located, not imported: listing the registry must stay cheap;
    a package that is installed but broken fails with its own error when the metric is built."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
