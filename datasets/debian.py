"""Fetching files from Debian packages without installing them: ``apt-get download`` + ``dpkg-deb``.

Packages are unpacked (only the members asked for) into a cache directory; nothing is installed on the
system. Each unpacked package carries a stamp (``.complete.json``: version, .deb hash and size) written
last, so an interrupted fetch is redone and a finished one is skipped.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.errors import MissingDatasetError
from bench_datasets.base import sha256_file

STAMP = ".complete.json"


@dataclass(frozen=True)
class Package:
    """An unpacked Debian package in the cache."""

    name: str
    version: str
    root: Path  # the unpacked tree (paths inside it are the package's, e.g. usr/share/...)
    deb_sha256: str
    deb_bytes: int

    def copyright_path(self) -> str:
        """Path of the package's copyright file inside the package."""
        return f"usr/share/doc/{self.name}/copyright"

    def copyright_text(self) -> str:
        p = self.root / self.copyright_path()
        return p.read_text(encoding="utf-8", errors="replace") if p.is_file() else ""


def _run(cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=False, capture_output=True, text=True, **kw)


def _require_tools() -> None:
    missing = [t for t in ("apt-get", "apt-cache", "dpkg-deb", "tar") if shutil.which(t) is None]
    if missing:
        raise MissingDatasetError(
            f"the demo set is built from Debian packages and needs {', '.join(missing)} (a Debian/Ubuntu system "
            "or container with network access to its package mirror)"
        )


def candidate_version(name: str) -> str | None:
    """The version ``apt-get download`` would fetch, or None when apt knows no candidate."""
    out = _run(["apt-cache", "policy", name]).stdout
    m = re.search(r"^\s*Candidate:\s*(\S+)", out, flags=re.M)
    return None if m is None or m.group(1) == "(none)" else m.group(1)


def download(names: Sequence[str], dest: Path) -> dict[str, Path]:
    """Download the .deb files of ``names`` into ``dest`` (one ``apt-get download`` call).

    ``apt-get update`` is run first only when some package has no candidate version.
    Returns name -> .deb path.
    """
    _require_tools()
    if not names:
        return {}
    if any(candidate_version(n) is None for n in names):
        _run(["apt-get", "update", "-qq"])
        unknown = [n for n in names if candidate_version(n) is None]
        if unknown:
            raise MissingDatasetError(f"apt knows no package {', '.join(unknown)}: run `apt-get update` as root and "
                                      "check that /etc/apt/sources.list has a Debian 12 (or newer) 'main' entry")
    dest.mkdir(parents=True, exist_ok=True)
    cmd = ["apt-get", "download", "-q"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # apt drops to the _apt user to download, which cannot write to a root-owned cache directory
        cmd += ["-o", "APT::Sandbox::User=root"]
    res = _run([*cmd, *names], cwd=dest)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise MissingDatasetError(f"apt-get download {' '.join(names)} failed: {last}")
    found: dict[str, Path] = {}
    for n in names:
        debs = sorted(dest.glob(f"{n}_*.deb"))
        if not debs:
            raise MissingDatasetError(f"apt-get download {n} produced no .deb file in {dest}")
        found[n] = debs[-1]
    return found


def deb_field(deb: Path, field: str) -> str:
    """A control field of a .deb file (e.g. ``Version``)."""
    res = _run(["dpkg-deb", "-f", str(deb), field])
    if res.returncode != 0:
        raise MissingDatasetError(f"{deb}: not a readable .deb ({res.stderr.strip()})")
    return res.stdout.strip()


def extract(deb: Path, dest: Path, patterns: Sequence[str]) -> list[str]:
    """Unpack the members of ``deb`` matching shell ``patterns`` (package paths, e.g. ``usr/share/x/*.ogg``).

    Equivalent to ``dpkg-deb -x`` restricted to those members (the rest of a large package, e.g. images,
    is never written). Returns the patterns that matched no member (the caller decides whether that
    matters); any other failure raises :class:`MissingDatasetError`.
    """
    dest.mkdir(parents=True, exist_ok=True)
    # a .deb's data members are named ./usr/...; GNU tar's default --wildcards-match-slash lets * cross /
    wild = [p if p.startswith("./") else f"./{p}" for p in patterns]
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as src:
        tar = subprocess.run(["tar", "-x", "-C", str(dest), "--wildcards", "--no-same-owner", *wild],
                             stdin=src.stdout, capture_output=True, text=True, check=False)
        src.stdout.close()  # type: ignore[union-attr]
        src.wait()
    errors = [ln for ln in tar.stderr.splitlines() if ln.strip()]
    unmatched = [m.group(1).removeprefix("./") for ln in errors
                 if (m := re.match(r"tar: (.+): Not found in archive$", ln))]
    real = [ln for ln in errors if "Not found in archive" not in ln and "due to previous errors" not in ln]
    if src.returncode != 0 or real or (tar.returncode != 0 and not unmatched):
        why = (real or errors or [f"dpkg-deb exit status {src.returncode}"])[0]
        raise MissingDatasetError(f"cannot unpack {deb.name}: {why}")
    return unmatched


def fetch(names: Sequence[str], cache: Path, patterns: dict[str, Sequence[str]],
          post: dict[str, Callable[[Path], None]] | None = None, *, workers: int = 2,
          log: Callable[[str], None] = lambda s: None) -> dict[str, Package]:
    """Download and unpack packages into ``cache/pkgs/NAME`` (skipping those already complete).

    ``patterns[name]`` lists the members to unpack (the copyright file is always added); ``post[name]``
    runs on the unpacked tree before it is marked complete (e.g. to unzip an archive inside it).
    The .deb files are deleted once unpacked.
    """
    from concurrent.futures import ThreadPoolExecutor

    post = post or {}
    out: dict[str, Package] = {}
    todo = []
    for n in sorted(names):
        pkg = load_stamp(cache / "pkgs" / n)
        if pkg is not None:
            out[n] = pkg
        else:
            todo.append(n)
    if not todo:
        return out
    downloads = cache / "debs"
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads) as tmp:
        log(f"downloading {', '.join(todo)}")
        debs = download(todo, Path(tmp))

        def unpack(n: str) -> Package:
            deb = debs[n]
            final = cache / "pkgs" / n
            work = cache / "pkgs" / f".{n}.tmp"
            shutil.rmtree(work, ignore_errors=True)
            unmatched = extract(deb, work, [*patterns.get(n, ()), f"usr/share/doc/{n}/copyright"])
            if unmatched:
                log(f"{n}: no files match {', '.join(unmatched)}")
            if n in post:
                post[n](work)
            pkg = Package(name=n, version=deb_field(deb, "Version"), root=final, deb_sha256=sha256_file(deb),
                          deb_bytes=deb.stat().st_size)
            stamp = {k: v for k, v in asdict(pkg).items() if k != "root"}
            (work / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
            shutil.rmtree(final, ignore_errors=True)
            os.replace(work, final)
            deb.unlink()
            log(f"unpacked {n} {pkg.version} ({pkg.deb_bytes / 1e6:.1f} MB)")
            return pkg

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for pkg in pool.map(unpack, todo):
                out[pkg.name] = pkg
    return out


def load_stamp(pkgdir: Path) -> Package | None:
    """The :class:`Package` of a completely unpacked tree, or None."""
    try:
        d = json.loads((pkgdir / STAMP).read_text())
        return Package(name=d["name"], version=d["version"], root=pkgdir, deb_sha256=d["deb_sha256"],
                       deb_bytes=int(d["deb_bytes"]))
    except (OSError, ValueError, KeyError):
        return None


def dep5_licence(copyright_text: str, path: str) -> str | None:
    """Licence short name for ``path`` from a machine-readable (DEP-5) copyright file, else None.

    The last ``Files:`` stanza matching ``path`` wins (as the format specifies). Stanza patterns are
    source-tree paths while ``path`` is an installed path, so a pattern with a directory part also matches
    when its (wildcard-free) file name equals the installed file's name.
    """
    if not copyright_text.lstrip().startswith("Format:"):
        return None
    name = path.rsplit("/", 1)[-1]
    licence = None
    for stanza in re.split(r"\n\s*\n", copyright_text):
        fields = _stanza_fields(stanza)
        if "files" not in fields or "license" not in fields:
            continue
        for pat in fields["files"].split():
            base = pat.rsplit("/", 1)[-1]
            exact_name = "/" in pat and not any(c in base for c in "*?[")
            if fnmatch.fnmatchcase(path, pat) or (exact_name and base == name):
                licence = (fields["license"].strip().splitlines() or [""])[0].strip() or None
                break
    return licence


def _stanza_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line[:1] in (" ", "\t") and key is not None:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields
