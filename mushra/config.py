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
import json
import math
import re
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
        types: dict[str, list[str]] = {}
        for p in self.iter_pages():
            if p.id is None:
                continue
            types.setdefault(p.id, []).append(p.type)
            # webMUSHRA lets pages share an id (its spatial.yaml does); results are stored by the id of mushra and
            # paired comparison pages, so those must be unique.
            if len(types[p.id]) > 1 and {"mushra", "paired_comparison"} & set(types[p.id]):
                raise ConfigError(f"config: page id '{p.id}' is used twice")
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
    """Apply ``fn`` to every audio path under the AUDIO_KEYS of the pages in ``obj`` (a page, or a list of pages and
    page groups), in place; returns ``obj``."""
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
        # Not deeper: inside a page, "stimulus" may name a condition label (spatial.yaml's responses: stimulus: C1).
    return obj


def rewrite_audio_paths(raw: dict[str, Any], fn: Callable[[str], str]) -> dict[str, Any]:
    """A deep copy of a raw config mapping with every page audio path replaced by ``fn(path)``."""
    out = copy.deepcopy(raw)
    _walk_audio(out.get("pages", []), fn)
    return out


# -- files -------------------------------------------------------------------------------------------
# webMUSHRA reads its config with yaml.js 0.3.0 (lib/external/yaml/yaml.min.js, npm "yamljs"), a line-based
# reader. Where it differs from YAML as PyYAML reads it:
#  - a block mapping line ``key: value`` takes the whole rest of the line as the value, so an unquoted value may
#    hold ": " (webMUSHRA's own default.yaml has "... Reminder: In a MUSHRA test ..."); the value is cut at " #"
#    and more-indented lines that follow are joined to it with "\n". PyYAML rejects such a line ("mapping values
#    are not allowed here"); read_raw reads it as yaml.js does (_quote_like_yamljs).
#  - ``- - x`` (a list nested on the same line) is read by yaml.js as the string "- x", so dump_config never
#    writes it: a nested list starts on its own line after a lone "-".
#  - unquoted scalars: only true/false are booleans (yes/no/on/off are text), 1e5 is a number, 012 is octal.
#  Known differences left: yaml.js joins a multi-line unquoted value with "\n" where PyYAML folds it to a space,
#  and reads 2002-12-14 as a Date (here: the text). Both matter little in HTML content and none of webMUSHRA's
#  example configs has either.
_MAPPING_LINE = re.compile(
    r"^(?P<lead>[ ]*(?:-[ ]+)*)"
    r"(?P<key>\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|[^ '\"\[{#&*!|>%@`-][^\n]*?|-[^ \n][^\n]*?)"
    r"[ ]*:(?:[ \t]+(?P<value>.*?))?[ \t]*$")
_MAPPING_VALUES_ERROR = "mapping values are not allowed here"


class _YamljsLoader(yaml.SafeLoader):
    """PyYAML's safe loader with yaml.js's plain-scalar types: only true/false (any case) are booleans (yes, no,
    on, off stay text), null/~/empty are null, numbers as JavaScript reads them (1e5 is a number), and dates
    stay text."""


_REPLACED_TAGS = {"tag:yaml.org,2002:" + t for t in ("bool", "null", "int", "float", "timestamp")}
_YamljsLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED_TAGS]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamljsLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?i:true|false)$"), list("tTfF"))
_YamljsLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|(?i:null)|)$"), ["~", "n", "N", ""])
_YamljsLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+)$"),
                                    list("-+0123456789"))


def _yamljs_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    # As yaml.js: "0x1F" is hex; "012" and "-012" are octal with the non-octal digits dropped ("09" -> 0);
    # "+012" is decimal.
    v = loader.construct_scalar(node)
    if v.startswith("0x"):
        return int(v[2:], 16)
    sign, digits = (-1, v[1:]) if v[0] == "-" else (1, v.lstrip("+"))
    if v[0] != "+" and len(digits) > 1 and digits[0] == "0":
        return sign * int("0" + re.sub(r"[^0-7]", "", digits), 8)
    return sign * int(digits)


_YamljsLoader.add_constructor("tag:yaml.org,2002:int", _yamljs_int)
_YamljsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?i:inf)|\.(?i:nan))$"),
    list("-+.0123456789"))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _quote_like_yamljs(lines: list[str], error_line: int) -> bool:
    """Rewrite, in place, the block mapping entry around ``error_line`` whose unquoted value holds ": " into a
    double-quoted value equal to what yaml.js reads. Returns False when the lines are not such an entry."""
    # The entry starts on the error line, or on the nearest less-indented line above it when the error line
    # continues that line's unquoted value.
    start = error_line
    above = next((i for i in range(error_line - 1, -1, -1)
                  if lines[i].strip() and _indent(lines[i]) < _indent(lines[error_line])), None)
    if above is not None:
        m_above = _MAPPING_LINE.match(lines[above])
        if (m_above and m_above.group("value") and not m_above.group("value").startswith("#")
                and len(m_above.group("lead")) < _indent(lines[error_line])):
            start = above
    m = _MAPPING_LINE.match(lines[start])
    if m is None or not m.group("value"):
        return False
    first = m.group("value")
    if first[0] in "'\"[{|>&*!%@`#":
        return False
    key_col = len(m.group("lead"))
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > key_col):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    if not start <= error_line < end:
        return False
    cont = lines[start + 1: end]
    base = min((_indent(c) for c in cont if c.strip()), default=0)
    value = "\n".join([first] + [c[base:].rstrip() for c in cont])
    cut = value.find(" #")
    if cut >= 0:
        value = value[:cut]
    value = value.strip()
    quoted = json.dumps(value, ensure_ascii=False)
    # Blank lines keep the line numbers of later errors right.
    lines[start: end] = [f"{m.group('lead')}{m.group('key')}: {quoted}"] + [""] * len(cont)
    return True


def parse_yaml(text: str, where: str | Path = "config") -> Any:
    """YAML text read as webMUSHRA's reader reads it (see the notes above); raises :class:`ConfigError`.

    PyYAML's safe loader reads it, with yaml.js's types for unquoted scalars (_YamljsLoader). Only the entries
    PyYAML rejects with "mapping values are not allowed here" and yaml.js reads as one unquoted value are re-read
    with that value quoted, one entry at a time; anything else PyYAML rejects is an error.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    for _ in range(len(lines) + 1):
        try:
            return yaml.load("\n".join(lines), Loader=_YamljsLoader)  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            if (getattr(err, "problem", None) != _MAPPING_VALUES_ERROR or mark is None
                    or not _quote_like_yamljs(lines, mark.line)):
                raise ConfigError(f"{where}: invalid YAML ({str(err).splitlines()[0]}"
                                  + (f", line {mark.line + 1}" if mark is not None else "") + ")") from None
    raise ConfigError(f"{where}: invalid YAML")


def read_raw(path: str | Path) -> dict[str, Any]:
    """The YAML mapping of a config file as webMUSHRA reads it, untouched otherwise (for serving it as it is)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    raw = parse_yaml(text, path)
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
    """YAML text of a config that webMUSHRA's yaml.js and PyYAML read to the same value (key order kept).

    Block style only; strings and keys plain when they are simple names or paths, else double-quoted (non-ASCII as
    is, ASCII control characters escaped); a list inside a list starts on its own line after a lone "-" (yaml.js
    reads "- - x" as a string). Raises :class:`ConfigError` for text holding C1 control characters (U+0080..U+009F)
    or U+2028/U+2029.
    """
    out: list[str] = []
    _emit_mapping(cfg.to_dict(), 0, out)
    return "\n".join(out) + "\n"


# Text written without quotes: a simple name or path that both readers take as that text.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*\Z")
# Words PyYAML (YAML 1.1) or yaml.js read as booleans, null or numbers ("Infinity" is a number to JavaScript).
_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "infinity", "nan", "inf"})


def _text(s: str) -> str:
    return s if _PLAIN.match(s) and s.lower() not in _WORDS else _quote(s)


def _key(k: Any) -> str:
    return _text(str(k))


def _quote(s: str) -> str:
    out = []
    for ch in s:
        o = ord(ch)
        if ch in "\\\"":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04x}")
        elif 0x80 <= o <= 0x9F or o in (0x2028, 0x2029) or 0xD800 <= o <= 0xDFFF:
            # yaml.js decodes \\u escapes above U+007F wrongly (as Latin-1 bytes of UTF-8) and fails on a raw
            # U+2028/U+2029 (line terminators to JavaScript regexes); PyYAML needs C1 controls escaped. No spelling
            # reads the same in both, and these are invisible control codes anyway.
            raise ConfigError(f"config: text {s[:40]!r} holds the control character U+{o:04X}; remove it")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ConfigError(f"config: cannot write the number {v!r}")
        r = repr(v)
        # PyYAML reads "1e-05" as a string: YAML 1.1 floats need a dot and a signed exponent.
        if "e" in r:
            mant, exp = r.split("e")
            r = f"{mant if '.' in mant else mant + '.0'}e{exp if exp[0] in '+-' else '+' + exp}"
        return r
    if isinstance(v, str):
        return _text(v)
    raise ConfigError(f"config: cannot write a {type(v).__name__} value ({v!r})")


def _emit_mapping(d: dict[Any, Any], indent: int, out: list[str], first_prefix: str | None = None) -> None:
    pad = " " * indent
    for i, (k, v) in enumerate(d.items()):
        head = (first_prefix if i == 0 and first_prefix is not None else pad) + _key(k) + ":"
        if isinstance(v, dict) and v:
            out.append(head)
            _emit_mapping(v, indent + 2, out)
        elif isinstance(v, list) and v:
            out.append(head)
            _emit_list(v, indent + 2, out)
        else:
            out.append(f"{head} {_empty_or_scalar(v)}")


def _emit_list(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for v in items:
        if isinstance(v, dict) and v:
            _emit_mapping(v, indent + 2, out, first_prefix=pad + "- ")
        elif isinstance(v, list) and v:
            out.append(pad + "-")
            _emit_list(v, indent + 2, out)
        else:
            out.append(f"{pad}- {_empty_or_scalar(v)}")


def _empty_or_scalar(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _scalar(v)


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
