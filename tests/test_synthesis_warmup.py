import time

import numpy as np
import torch

from bench.references import Reference
from bench.results.store import ResultsStore
from bench import synthesis
from bench.vocoders.base import LoadOptions, Vocoder
from bench_datasets.base import Clip

FIRST_CALL_SECONDS = 0.4


def _render(store, vocoder, refs):
    # render() takes the vocoder's name and key here, a RenderSpec once renders are keyed by weight content
    spec_cls = getattr(synthesis, "RenderSpec", None)
    if spec_cls is None:
        return synthesis.render(store, "slow", vocoder, refs, key="k")
    return synthesis.render(store, spec_cls("slow", {}, None, {}), vocoder, refs)


class SlowFirstCall(Vocoder):
    """Identity vocoder whose first synthesis sleeps, like a model that initialises lazily."""

    sample_rate = 16000

    def __init__(self) -> None:
        super().__init__(LoadOptions())
        self.calls = 0

    def analyse(self, audio: torch.Tensor) -> torch.Tensor:
        return audio

    def synthesise(self, features: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 1:
            time.sleep(FIRST_CALL_SECONDS)
        return features


def test_first_item_rtf_excludes_warm_up(tmp_path):
    store = ResultsStore.create(tmp_path / "run")
    rng = np.random.default_rng(0)
    refs = [Reference(Clip(f"c{i}", "music", ""), (0.1 * rng.standard_normal(44100)).astype(np.float32), 44100)
            for i in range(2)]
    voc = SlowFirstCall()
    results = _render(store, voc, refs)
    assert all(r.ok for r in results) and voc.calls == 3  # one untimed warm-up call, then one per clip
    seconds = [store.render("slow", f"c{i}")["seconds"] for i in range(2)]
    # the sleep happened in the warm-up, so neither clip's timing includes it
    assert max(seconds) < FIRST_CALL_SECONDS / 2, seconds
