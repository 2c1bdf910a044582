"""ViSQOL v3 MOS-LQO through ``visqol-python`` (a pure-Python port of Google's ViSQOL), higher is better.

Music is scored in audio mode at 48 kHz (SVR mapping; identical signals give 4.732, the mode's maximum),
speech in speech mode at 16 kHz with the deep-lattice mapping (``ai-edge-litert``), as Google's C++ does by
default. The package does not resample, so both signals are resampled here with the suite's resampler;
``use_lattice_model`` is always passed explicitly, and a missing ``ai-edge-litert`` is an error rather than the
package's silent fallback to its polynomial mapping.

The first measurement in a fresh environment compiles the package's numba kernels (~15 s); numba caches
them on disk (``cache=True``: beside the package, or in the user cache when that is read-only).

The package's numba kernels run ``parallel=True`` loops; with more than one thread, or on numba's ``omp``
threading layer, the same pair gives values that differ in their 14th-15th digit from call to call or from
process to process (``benchmarks/visqol_threads.py``). Each measurement therefore runs single-threaded on the
``workqueue`` layer (:func:`single_threaded`), so a value does not depend on the process, the machine's core
count or the executor.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.audio.checks import validate
from bench.environment import package_version
from bench.errors import AudioError, MissingExtraError, UnknownNameError
from bench.metrics.base import Metric, MetricEntry

#: domain -> (ViSQOL mode, rate in Hz it is defined at)
MODES: dict[str, tuple[str, int]] = {"music": ("audio", 48000), "speech": ("speech", 16000)}
#: Shortest input each mode can score. ViSQOL frames the reference with 80 ms windows at a 25 % hop; audio mode
#: needs 45 frames (a 30-frame patch starting at frame 15), speech mode 29 (a 20-frame patch after frame 9).
MIN_SAMPLES: dict[str, int] = {"audio": 3840 + 44 * 960, "speech": 1280 + 28 * 320}  # 0.96 s, 0.64 s
#: numba threading layer ViSQOL runs on (the package's own choice, see :func:`single_threaded`)
WORKQUEUE = "workqueue"
SEARCH_WINDOW = 60  # the package's (and Google's) default, recorded with the values
SPEECH_NOTE = "speech mode of this Python port deviates from Google's C++ ViSQOL by up to ~0.03 MOS"


@dataclass(frozen=True)
class VisqolReference:
    """Prepared reference: float64 [T] samples at the mode's rate."""

    mode: str
    sample_rate: int
    samples: np.ndarray


class ViSQOL(Metric):
    """ViSQOL MOS-LQO (1..5): audio mode at 48 kHz for music, speech mode at 16 kHz (lattice model) for speech."""

    name = "visqol"
    direction = "higher"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)  # CPU only; the device is accepted for the common factory signature
        self._apis: dict[str, Any] = {}  # mode -> created VisqolApi, reused across calls

    def sample_rate(self, domain: str) -> int:
        return _mode(domain)[1]

    def variant(self, domain: str) -> dict[str, Any]:
        mode = _mode(domain)[0]
        v = {
            **self.common_variant(domain),
            "package": "visqol-python",
            "version": package_version("visqol-python"),
            "mode": mode,
            "model": "svr (libsvm_nu_svr_model.txt)" if mode == "audio" else "lattice (bundled tflite, ai-edge-litert)",
            "search_window": SEARCH_WINDOW,
        }
        if mode == "speech":
            v["note"] = SPEECH_NOTE
        return v

    def api(self, mode: str) -> Any:
        """The package's API object for ``mode`` ('audio' or 'speech'), created once per instance."""
        if mode not in self._apis:
            try:
                from visqol import VisqolApi
            except ImportError as err:
                raise MissingExtraError(
                    f"metric 'visqol' needs visqol-python ({err}); pip install 'vocoder-bench[visqol]'"
                ) from None
            use_lattice = mode == "speech"
            if use_lattice:
                _require_lattice_runtime()
            api = VisqolApi()
            api.create(mode=mode, use_lattice_model=use_lattice, search_window=SEARCH_WINDOW)
            self._apis[mode] = api
        return self._apis[mode]

    def prepare(self, ref: np.ndarray, sr: int, domain: str) -> VisqolReference:
        mode, rate = _mode(domain)
        self.api(mode)  # fail early (e.g. missing lattice runtime) before any scoring
        return VisqolReference(mode=mode, sample_rate=rate, samples=self._input(ref, sr, domain, "visqol reference"))

    def score(self, state: VisqolReference, deg: np.ndarray, sr: int, domain: str) -> float:
        x = self._input(deg, sr, domain, "visqol degraded")
        try:
            with single_threaded():
                r = self.api(state.mode).measure_from_arrays(state.samples, x, sample_rate=state.sample_rate)
        except ValueError as err:  # the package's way of rejecting signals it cannot analyse
            raise AudioError(f"visqol ({state.mode} mode) cannot score this pair: {err}") from None
        value = float(r.moslqo)
        if not math.isfinite(value):
            raise AudioError(f"visqol ({state.mode} mode) returned {value} (degenerate signal)")
        return value

    def _input(self, x: np.ndarray, sr: int, domain: str, what: str) -> np.ndarray:
        """Validated float64 copy of ``x`` [T] at the mode's rate (the caller's array is not touched)."""
        mode, rate = _mode(domain)
        x = np.asarray(x)
        validate(x, sr, min_samples=1, what=what)  # empty, NaN/inf, silent (silence makes ViSQOL return NaN)
        y = self.to_rate(x, sr, domain).astype(np.float64)  # the package computes in float64
        need = MIN_SAMPLES[mode]
        if y.size < need:
            raise AudioError(
                f"{what}: {y.size / rate:.3f} s is too short for ViSQOL {mode} mode, which needs at least "
                f"{need / rate:.2f} s ({need} samples at {rate} Hz)"
            )
        return y


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Within the block numba's parallel loops run on one thread of its ``workqueue`` layer, and the BLAS and
    OpenMP pools (scipy's, scikit-learn's, torch's libgomp) on one thread; numba's setting (this thread's) and
    the pools' are restored after.

    All of it matters for reproducible values (``benchmarks/visqol_threads.py``): with numba's 2 threads the same
    pair gave a different 14th-15th digit from call to call; with its ``omp`` layer (its default once torch's
    libgomp is loaded, chosen when numba was imported before visqol-python could ask for ``workqueue``), or with
    2 OpenMP threads, from process to process. numba fixes its layer at its first parallel launch: it is chosen
    here if none ran yet; a process where other code already started another layer gets a warning (its ViSQOL
    values may differ in the last digits from other processes')."""
    from threadpoolctl import threadpool_limits

    try:
        import numba
    except ImportError:  # the package then runs its pure-Python fallback: nothing parallel of numba's
        with threadpool_limits(1):
            yield
        return
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run in this process yet
        numba.config.THREADING_LAYER = WORKQUEUE
        layer = WORKQUEUE
    if layer != WORKQUEUE:
        warnings.warn(f"visqol: numba already runs its {layer!r} threading layer in this process (not "
                      f"{WORKQUEUE!r}): ViSQOL values may differ in their last digits from other processes'",
                      RuntimeWarning, stacklevel=3)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        numba.set_num_threads(before)


def _mode(domain: str) -> tuple[str, int]:
    try:
        return MODES[domain]
    except KeyError:
        raise UnknownNameError(f"visqol: unknown domain {domain!r}; known: {', '.join(MODES)}") from None


def _require_lattice_runtime() -> None:
    """Speech mode must use the lattice model: without its runtime, stop instead of changing the mapping."""
    try:
        importlib.import_module("ai_edge_litert.interpreter")
    except ImportError:
        raise MissingExtraError(
            "visqol speech mode needs ai-edge-litert for its lattice model (pip install 'vocoder-bench[visqol]'); "
            "the polynomial fallback is not used because it scores differently"
        ) from None


ENTRY = MetricEntry(
    name="visqol",
    factory=ViSQOL,
    direction="higher",
    description="ViSQOL v3 MOS-LQO (visqol-python): audio mode 48 kHz (music), speech mode 16 kHz lattice (speech)",
    perfect=4.732,  # audio mode, identical signals
    gpu_capable=False,
    requires=("visqol",),
    extra="visqol",
    cost="~1-3 s per 10 s pair on one core (first call compiles numba kernels, ~15 s, cached on disk)",
    process_safe=True,
    handles_unequal_lengths=True,
)
