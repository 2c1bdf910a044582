"""The tables and plots of a store that exercises every table path are byte for byte the golden files, which
were written by the code before the move to pandas (``python tests/results/golden_store.py`` rewrites them).

Deliberate changes since: ``plots.json`` was rewritten when the plots stopped drawing values made stale by a newer
failure (the tables already counted those as failures); the table files were rewritten for the significance marks
(bold = the best vocoder and every vocoder not significantly worse than it, captions stating the rule, CSV columns
bold/p_holm/effect)."""

import pytest
from golden_store import GOLDEN, build, outputs


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    store = build(tmp_path_factory.mktemp("golden") / "run")
    try:
        yield outputs(store)
    finally:
        store.close()


def test_every_golden_file_is_made():
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(_names())


def _names():
    from golden_store import CASES

    return [f"{name}.{fmt}" for name, (_, fmts) in CASES.items() for fmt in fmts] + ["plots.json"]


@pytest.mark.parametrize("name", _names())
def test_output_is_the_golden_file(made, name):
    assert made[name] == (GOLDEN / name).read_text(), f"{name} differs from tests/results/golden/{name}"
