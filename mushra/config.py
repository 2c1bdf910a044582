"""webMUSHRA test configurations: a small typed model, YAML reading/writing, validation and path rewriting.

A webMUSHRA config is YAML with the top-level keys testname, testId, bufferSize, stopOnErrors,
showButtonPreviousPage, remoteService, language and pages. ``pages`` is a list of page mappings and nested
lists; a nested list whose first element is the string ``random`` is shuffled by the front-end.

Audio paths in a config are relative to the *test folder*: webMUSHRA resolves them against the folder holding
its index.html (its configs live in ``configs/<name>.yaml`` with paths such as ``configs/resources/audio/x.wav``),
and the tests we build keep ``config.yaml`` at the top of the test folder with paths such as ``audio/...``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Union

import yaml

from bench.errors import BenchError

#: Labels a mushra page adds itself: the hidden reference and the generated anchors.
HIDDEN_REFERENCE = "reference"
ANCHOR35 = "anchor35"
ANCHOR70 = "anchor70"

#: Page types webMUSHRA's front-end knows. Other types are kept verbatim (forks add their own).
KNOWN_PAGE_TYPES = frozenset({
    "generic", "consent", "volume", "mushra", "mushra_results", "paired_comparison", "bs1116",
    "likert_single_stimulus", "likert_multi_stimulus", "spatial", "finish",
})

#: Page keys whose values are audio paths (a string, a {label: path} mapping or a list of paths).
AUDIO_KEYS = ("reference", "stimulus", "stimuli")

_TOP_DEFAULTS: dict[str, Any] = {
    "bufferSize": 2048,
    "stopOnErrors": True,
    "showButtonPreviousPage": True,
    "remoteService": "service/write.php",
    "language": "en",
}


class ConfigError(BenchError):
    """A listening-test configuration that cannot be used (missing keys, wrong types, unknown files)."""


@dataclass
class MushraPage:
    """One MUSHRA trial: an open reference and labelled stimuli (paths relative to the test folder)."""

    type: ClassVar[str] = "mushra"
    id: str
    name: str
    content: str
    reference: str
    stimuli: dict[str, str]
    showWaveform: bool = True
    enableLooping: bool = False
    createAnchor35: bool = False
    createAnchor70: bool = False
    randomize: bool = True
    showConditionNames: bool = False
    switchBack: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    _FIELDS: ClassVar[tuple[str, ...]] = (
        "id", "name", "content", "showWaveform", "enableLooping", "reference", "createAnchor35",
        "createAnchor70", "randomize", "showConditionNames", "switchBack", "stimuli",
    )

    def conditions(self) -> list[str]:
        """Every condition a listener rates on this page: the stimuli, the hidden reference, generated anchors."""
        out = list(self.stimuli)
        for label, on in ((HIDDEN_REFERENCE, True), (ANCHOR35, self.createAnchor35), (ANCHOR70, self.createAnchor70)):
            if on and label not in out:
                out.append(label)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> MushraPage:
        for key in ("id", "reference", "stimuli"):
            if key not in d:
                raise ConfigError(f"{where}: mushra page has no '{key}'")
        if not isinstance(d["stimuli"], dict) or not d["stimuli"]:
            raise ConfigError(f"{where}: mushra page 'stimuli' must be a non-empty mapping label -> path")
        stimuli = {}
        for label, path in d["stimuli"].items():
            if not isinstance(path, str) or not path:
                raise ConfigError(f"{where}: stimulus '{label}' has no path")
            stimuli[str(label)] = path
        if not isinstance(d["reference"], str) or not d["reference"]:
            raise ConfigError(f"{where}: mushra page 'reference' must be a path")
        kwargs: dict[str, Any] = {"id": str(d["id"]), "name": str(d.get("name", "")),
                                  "content": str(d.get("content", "") or ""), "reference": d["reference"],
                                  "stimuli": stimuli}
        for key in ("showWaveform", "enableLooping", "createAnchor35", "createAnchor70", "randomize",
                    "showConditionNames", "switchBack"):
            if key in d:
                if not isinstance(d[key], bool):
                    raise ConfigError(f"{where}: '{key}' must be true or false, got {d[key]!r}")
                kwargs[key] = d[key]
        extra = {k: v for k, v in d.items() if k not in cls._FIELDS and k != "type"}
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "mushra"}
        for key in self._FIELDS:
            d[key] = dict(self.stimuli) if key == "stimuli" else getattr(self, key)
        d.update(copy.deepcopy(self.extra))
        return d


@dataclass
class Page:
    """Any other page (generic, volume, paired_comparison, finish, ...), kept as its mapping."""

    type: str
    data: dict[str, Any]

    @property
    def id(self) -> str | None:
        v = self.data.get("id")
        return None if v is None else str(v)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **copy.deepcopy({k: v for k, v in self.data.items() if k != "type"})}


@dataclass
class PageGroup:
    """A nested list of pages; ``random`` groups are shuffled by the front-end."""

    pages: list[PageItem]
    random: bool = False

    def to_list(self) -> list[Any]:
        items = [_item_to_obj(p) for p in self.pages]
        return (["random"] if self.random else []) + items


PageItem = Union[MushraPage, Page, PageGroup]


@dataclass
class TestConfig:
    """A whole webMUSHRA test."""

    __test__ = False  # not a pytest test class despite the name

    testname: str
    testId: str
    pages: list[PageItem]
    bufferSize: int = 2048
    stopOnErrors: bool = True
    showButtonPreviousPage: bool = True
    remoteService: str = "service/write.php"
    language: str = "en"
    extra: dict[str, Any] = field(default_factory=dict)

    # -- traversal ---------------------------------------------------------------------------------
    def iter_pages(self) -> Iterator[MushraPage | Page]:
        """All pages in config order, groups flattened."""
        yield from _flatten(self.pages)

    def mushra_pages(self) -> list[MushraPage]:
        return [p for p in self.iter_pages() if isinstance(p, MushraPage)]

    def page(self, page_id: str) -> MushraPage | Page | None:
        for p in self.iter_pages():
            if p.id == page_id:
                return p
        return None

    def questionnaire(self) -> list[dict[str, Any]]:
        """Questionnaire items of the finish page(s), in order."""
        out: list[dict[str, Any]] = []
        for p in self.iter_pages():
            if isinstance(p, Page) and p.type == "finish":
                out.extend(q for q in p.data.get("questionnaire") or [] if isinstance(q, dict))
        return out

    def audio_paths(self) -> list[str]:
        """Every audio path the test references (unique, in order)."""
        seen: dict[str, None] = {}
        for p in self.iter_pages():
            _walk_audio(p.to_dict(), lambda s: seen.setdefault(s, None) or s)
        return list(seen)

    # -- conversion --------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any) -> TestConfig:
        if not isinstance(d, dict):
            raise ConfigError("config: top level must be a mapping")
        for key in ("testname", "testId", "pages"):
            if key not in d:
                raise ConfigError(f"config: missing top-level key '{key}'")
        if not isinstance(d["pages"], list) or not d["pages"]:
            raise ConfigError("config: 'pages' must be a non-empty list")
        test_id = str(d["testId"])
        if not test_id.strip():
            raise ConfigError("config: 'testId' is empty")
        kwargs: dict[str, Any] = {}
        for key, default in _TOP_DEFAULTS.items():
            if key in d:
                v = d[key]
                if type(v) is not type(default):
                    raise ConfigError(f"config: '{key}' must be {type(default).__name__}, got {v!r}")
                kwargs[key] = v
        extra = {k: v for k, v in d.items() if k not in _TOP_DEFAULTS and k not in ("testname", "testId", "pages")}
        cfg = cls(testname=str(d["testname"]), testId=test_id, pages=_parse_items(d["pages"], "pages"),
                  extra=copy.deepcopy(extra), **kwargs)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"testname": self.testname, "testId": self.testId}
        for key in _TOP_DEFAULTS:
            d[key] = getattr(self, key)
        d.update(copy.deepcopy(self.extra))
        d["pages"] = [_item_to_obj(p) for p in self.pages]
        return d

    def validate(self) -> None:
        """Raise :class:`ConfigError` for duplicate page ids or duplicate condition labels."""
        seen: set[str] = set()
        for p in self.iter_pages():
            if p.id is None:
                continue
            if p.id in seen:
                raise ConfigError(f"config: page id '{p.id}' is used twice")
            seen.add(p.id)
            if isinstance(p, MushraPage):
                labels = list(p.stimuli)
                if len(set(labels)) != len(labels):
                    raise ConfigError(f"config: page '{p.id}' has duplicate stimulus labels")


def _flatten(items: list[PageItem]) -> Iterator[MushraPage | Page]:
    for it in items:
        if isinstance(it, PageGroup):
            yield from _flatten(it.pages)
        else:
            yield it


def _item_to_obj(item: PageItem) -> Any:
    return item.to_list() if isinstance(item, PageGroup) else item.to_dict()


def _parse_items(items: list[Any], where: str) -> list[PageItem]:
    out: list[PageItem] = []
    for i, it in enumerate(items):
        here = f"{where}[{i}]"
        if isinstance(it, list):
            rand = bool(it) and it[0] == "random"
            out.append(PageGroup(_parse_items(it[1:] if rand else it, here), random=rand))
        elif isinstance(it, dict):
            ptype = it.get("type")
            if not isinstance(ptype, str):
                raise ConfigError(f"config {here}: page has no 'type'")
            if ptype == "mushra":
                out.append(MushraPage.from_dict(it, f"config {here}"))
            else:
                out.append(Page(ptype, copy.deepcopy(it)))
        else:
            raise ConfigError(f"config {here}: expected a page mapping or a list, got {type(it).__name__}")
    return out


def _walk_audio(obj: Any, fn: Callable[[str], str]) -> Any:
    """Apply ``fn`` to every audio path under the AUDIO_KEYS of pages in ``obj``, in place; returns ``obj``."""
    if isinstance(obj, list):
        for it in obj:
            _walk_audio(it, fn)
    elif isinstance(obj, dict):
        if "type" in obj:
            for key in AUDIO_KEYS:
                v = obj.get(key)
                if isinstance(v, str):
                    obj[key] = fn(v)
                elif isinstance(v, dict):
                    for k, s in v.items():
                        if isinstance(s, str):
                            v[k] = fn(s)
                elif isinstance(v, list):
                    obj[key] = [fn(s) if isinstance(s, str) else s for s in v]
        for key, v in obj.items():
            if key not in AUDIO_KEYS and isinstance(v, (list, dict)):
                _walk_audio(v, fn)
    return obj


def rewrite_audio_paths(raw: dict[str, Any], fn: Callable[[str], str]) -> dict[str, Any]:
    """A deep copy of a raw config mapping with every page audio path replaced by ``fn(path)``."""
    out = copy.deepcopy(raw)
    _walk_audio(out.get("pages", []), fn)
    return out


# -- files -------------------------------------------------------------------------------------------
def read_raw(path: str | Path) -> dict[str, Any]:
    """The YAML mapping of a config file, untouched (for serving it as it is)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return raw


def load_config(path: str | Path) -> TestConfig:
    """Read and validate a webMUSHRA YAML config."""
    try:
        return TestConfig.from_dict(read_raw(path))
    except ConfigError as err:
        msg = str(err)
        raise ConfigError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def dump_config(cfg: TestConfig) -> str:
    """YAML text of a config (key order kept, unicode as is)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def write_config(cfg: TestConfig, path: str | Path) -> None:
    """Validate and write ``cfg`` to ``path`` (atomic replace)."""
    cfg.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dump_config(cfg), encoding="utf-8")
    tmp.replace(path)


def find_config(test_dir: str | Path, name: str | None = None) -> Path:
    """The config file of a test folder.

    ``config.yaml`` at the top (the layout ``bench mushra build`` writes), else ``configs/<name>.yaml`` (webMUSHRA's
    layout): the only one there, or ``name``, or ``default.yaml``.
    """
    test_dir = Path(test_dir)
    if not test_dir.is_dir():
        raise ConfigError(f"{test_dir}: no such test folder")
    if name:
        for cand in (test_dir / "configs" / name, test_dir / "configs" / f"{name}.yaml", test_dir / name):
            if cand.is_file() and cand.resolve().is_relative_to(test_dir.resolve()):
                return cand
        raise ConfigError(f"{test_dir}: no config named '{name}' (looked in configs/)")
    if (test_dir / "config.yaml").is_file():
        return test_dir / "config.yaml"
    found = sorted((test_dir / "configs").glob("*.yaml")) + sorted((test_dir / "configs").glob("*.yml"))
    if len(found) == 1:
        return found[0]
    if (test_dir / "configs" / "default.yaml").is_file():
        return test_dir / "configs" / "default.yaml"
    if not found:
        raise ConfigError(f"{test_dir}: no config.yaml or configs/*.yaml (build one with `bench mushra build`)")
    names = ", ".join(p.name for p in found[:10])
    raise ConfigError(f"{test_dir}: several configs in configs/ ({names}); choose one with --config")
