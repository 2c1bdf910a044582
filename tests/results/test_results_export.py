import json
import math
import subprocess
import sys

import pandas as pd
import pytest
from golden_store import build

from bench.cli import main
from bench.results.frame import DTYPES, load


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "run"
    build(out).close()
    return out


def _same(back: pd.DataFrame, df: pd.DataFrame) -> None:
    """Every column and cell read back equals the frame's (missing stays missing; "" reads back as missing)."""
    assert list(back.columns) == list(df.columns) and len(back) == len(df)
    for col in df.columns:
        for a, b in zip(back[col].tolist(), df[col].tolist()):
            if pd.isna(b) or b == "":
                assert pd.isna(a) or a == "", (col, a, b)
            elif isinstance(b, float):
                assert float(a) == b, (col, a, b)  # exact: the shortest text of a double reads back as it
            else:
                assert a == b, (col, a, b)


def test_csv_round_trip(run, tmp_path, capsys):
    df = load(run)
    assert main(["export", str(run), "--format", "csv", "--out", str(tmp_path / "r.csv")]) == 0
    exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}  # pandas 2's default
    back = pd.read_csv(tmp_path / "r.csv", dtype=DTYPES, keep_default_na=False, na_values=[""], **exact)
    assert back["reference_sha256"].iloc[0] == df["reference_sha256"].iloc[0]  # a hash of digits stays text
    _same(back, df)
    assert main(["export", str(run)]) == 0  # csv to stdout by default
    printed = capsys.readouterr().out
    assert printed == (tmp_path / "r.csv").read_text()


def test_jsonl_round_trip(run, tmp_path, capsys):
    df = load(run, all_variants=True)
    assert main(["export", str(run), "--format", "jsonl", "--all-variants"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(df)
    first = json.loads(lines[0])
    assert list(first) == list(df.columns)
    back = pd.DataFrame([json.loads(x) for x in lines])
    _same(back, df)
    assert (~back["latest_variant"]).sum() == 1  # the older variant is there
    assert all(math.isnan(v) for v in df[df["kind"] != "value"]["value"])
    assert back[back["kind"] != "value"]["value"].isna().all()  # NaN is written as null, not as NaN (invalid JSON)


def test_parquet_round_trip(run, tmp_path):
    pytest.importorskip("pyarrow")
    df = load(run)
    assert main(["export", str(run), "--format", "parquet", "--out", str(tmp_path / "r.parquet")]) == 0
    back = pd.read_parquet(tmp_path / "r.parquet")
    _same(back, df)
    assert str(back["batch_size"].dtype) == "Int64" and back["value"].dtype == "float64"


def test_parquet_errors(run, tmp_path, capsys):
    assert main(["export", str(run), "--format", "parquet"]) == 2
    assert "give --out FILE" in capsys.readouterr().err
    # a fresh interpreter in which pyarrow cannot be imported (as where the extra is not installed)
    code = ("import sys; sys.modules['pyarrow'] = None; from bench.cli import main; "
            f"sys.exit(main(['export', {str(run)!r}, '--format', 'parquet', '--out', {str(tmp_path / 'x.parquet')!r}]))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and "vocoder-bench[parquet]" in p.stderr, p.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_export_of_a_missing_run(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing")]) == 2
    assert "no results store" in capsys.readouterr().err
