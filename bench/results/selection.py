"""Which clips a table, plot or report covers: the run's current selection.

``bench run`` stores the clip ids it selected (after ``--limit``/``--domain``, in dataset order) as the store's
meta key ``"selection"``. Values of clips outside it (an earlier run with a larger ``--limit``, a file since
deleted) stay in the store but are never averaged. Stores written before that key existed cover all clips
with status ok, and the captions say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.results.store import ResultsStore


@dataclass(frozen=True)
class Coverage:
    """The covered clips of a store.

    ``clips``: clip rows (status ok) in selection order; ``skipped``: selected clip rows whose reference
    failed; ``unprepared``: selected ids without a clip row (the run stopped before loading them);
    ``from_selection``: False when the store records no selection (then every clip with status ok).
    """

    clips: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    unprepared: list[str]
    from_selection: bool

    def ids(self, domain: str | None = None) -> list[str]:
        return [c["clip_id"] for c in self.clips if domain is None or c["domain"] == domain]

    def domains(self) -> list[str]:
        return sorted({c["domain"] for c in self.clips})

    def describe(self, domain: str | None = None) -> str:
        """Plain-text phrase naming the covered clips, e.g. 'the 10 clips of the current selection'."""
        n = len(self.ids(domain))
        noun = "clip" if n == 1 else "clips"
        if not self.from_selection:
            return f"all {n} stored {noun} with status ok (this store records no selection)"
        text = f"the {n} {noun} of the current selection"
        skipped = [c for c in self.skipped if domain is None or c["domain"] == domain]
        extra = []
        if skipped:
            extra.append(f"{len(skipped)} more selected skipped: reference failed")
        if self.unprepared:
            extra.append(f"{len(self.unprepared)} selected not loaded yet")
        return text + (f" ({'; '.join(extra)})" if extra else "")


def coverage(store: ResultsStore) -> Coverage:
    """The clips that tables and reports of ``store`` cover (see the module docstring)."""
    rows = {c["clip_id"]: c for c in store.clips()}
    selection = store.get_meta("selection")
    if selection is None:
        return Coverage([c for c in rows.values() if c["status"] == "ok"], [], [], False)
    ids = list(dict.fromkeys(str(i) for i in selection))
    return Coverage([rows[i] for i in ids if i in rows and rows[i]["status"] == "ok"],
                    [rows[i] for i in ids if i in rows and rows[i]["status"] != "ok"],
                    [i for i in ids if i not in rows], True)
