"""Unpacking Debian packages (with .deb files built by the test) and reading DEP-5 licences."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.errors import MissingDatasetError
from bench_datasets import debian

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: demo

Files: *
Copyright: 2016 Someone
License: MIT
 Permission is hereby granted ...

Files:
 etc/examples/a.rb
 etc/examples/b.rb
Copyright: Other
License: CC-BY-SA-4.0

Files: etc/samples/loop_x.flac
Copyright: 2015 lezaarth
License: CC0
 No rights reserved.

Files: debian/*
Copyright: packager
License: GPL-3+
"""


def test_dep5_last_matching_stanza_wins_and_installed_names_match():
    assert debian.dep5_licence(DEP5, "usr/share/demo/samples/loop_x.flac") == "CC0"
    assert debian.dep5_licence(DEP5, "usr/share/demo/samples/other.flac") == "MIT"
    assert debian.dep5_licence(DEP5, "debian/rules") == "GPL-3+"
    assert debian.dep5_licence(DEP5, "usr/share/demo/b.rb") == "CC-BY-SA-4.0"
    assert debian.dep5_licence("This package was debianized by ...\nGPL", "x/y.ogg") is None


def build_deb(tmp: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal .deb holding ``files`` (package paths -> contents)."""
    tree = tmp / f"build-{name}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        f"Description: test package\n"
    )
    for rel, data in files.items():
        p = tree / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    out = tmp / f"{name}_{version.replace(':', '%3a')}_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "-z1", "--root-owner-group", "--build", str(tree), str(out)],
                   check=True, capture_output=True)
    return out


@needs_dpkg
def test_extract_only_matching_members_and_read_version(tmp_path):
    deb = build_deb(tmp_path, "pkg-a", "1:2.0-1", {
        "usr/share/a/x/one.ogg": b"1", "usr/share/a/y/two.ogg": b"2", "usr/share/a/pic.png": b"p",
        "usr/share/doc/pkg-a/copyright": b"c",
    })
    assert debian.deb_field(deb, "Version") == "1:2.0-1"
    dest = tmp_path / "out"
    debian.extract(deb, dest, ["usr/share/a/*.ogg", "usr/share/doc/pkg-a/copyright"])
    got = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert got == ["usr/share/a/x/one.ogg", "usr/share/a/y/two.ogg", "usr/share/doc/pkg-a/copyright"]
    assert debian.extract(deb, tmp_path / "out2", ["usr/share/a/x/*", "usr/share/nothing/*.wav"]) == [
        "usr/share/nothing/*.wav"]
    assert (tmp_path / "out2" / "usr/share/a/x/one.ogg").is_file()
    (tmp_path / "broken.deb").write_bytes(b"not a deb")
    with pytest.raises(MissingDatasetError, match="cannot unpack broken.deb"):
        debian.extract(tmp_path / "broken.deb", tmp_path / "out3", ["usr/*"])


@needs_dpkg
def test_fetch_is_idempotent_and_marks_completion_last(tmp_path, monkeypatch):
    deb = build_deb(tmp_path, "pkg-b", "0.1", {"usr/share/b/s.ogg": b"s", "usr/share/doc/pkg-b/copyright": b"c"})
    calls = []

    def fake_download(names, dest):
        calls.append(list(names))
        out = {}
        for n in names:
            out[n] = Path(shutil.copy(deb, dest))
        return out

    monkeypatch.setattr(debian, "download", fake_download)
    seen = []
    pkgs = debian.fetch(["pkg-b"], tmp_path / "cache", {"pkg-b": ["usr/share/b/*.ogg"]},
                        {"pkg-b": lambda tree: seen.append((tree / "usr/share/b/s.ogg").read_bytes())})
    p = pkgs["pkg-b"]
    assert p.version == "0.1" and p.deb_bytes == deb.stat().st_size
    assert (p.root / "usr/share/b/s.ogg").read_bytes() == b"s" and seen == [b"s"]
    assert p.copyright_text() == "c"
    assert not list((tmp_path / "cache" / "debs").glob("**/*.deb"))  # .deb removed once unpacked
    again = debian.fetch(["pkg-b"], tmp_path / "cache", {"pkg-b": ["usr/share/b/*.ogg"]})
    assert again["pkg-b"] == p and calls == [["pkg-b"]]
    # an unpacked tree without its stamp (interrupted run) is fetched again
    (p.root / debian.STAMP).unlink()
    debian.fetch(["pkg-b"], tmp_path / "cache", {"pkg-b": ["usr/share/b/*.ogg"]})
    assert calls == [["pkg-b"], ["pkg-b"]]


def test_candidate_version_parses_apt_cache_policy(monkeypatch):
    out = "pkg:\n  Installed: (none)\n  Candidate: 1:1.16.9-1\n  Version table:\n"
    monkeypatch.setattr(debian, "_run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, out, ""))
    assert debian.candidate_version("pkg") == "1:1.16.9-1"
    none = "pkg:\n  Installed: (none)\n  Candidate: (none)\n"
    monkeypatch.setattr(debian, "_run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, none, ""))
    assert debian.candidate_version("pkg") is None
