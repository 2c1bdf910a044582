"""Every package folder is listed in pyproject.toml (the datasets/ -> bench_datasets mapping needs a list)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_all_package_dirs_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapping = cfg["package-dir"]
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == listed, f"missing: {found - listed}, stale: {listed - found}"


def test_datasets_import_name_does_not_shadow_hf():
    import bench_datasets

    assert Path(bench_datasets.__file__).parent == ROOT / "datasets"
