"""Periodicity RMSE (CARGAN, Morrison et al., ICLR 2022): lower is better, 0 for identical signals; speech only.

The root-mean-square difference between the CREPE periodicity of the reference and of the output, over all
frames of a clip (voiced or not), with CARGAN's analysis settings (:mod:`bench.metrics.crepe`: 16 kHz, hop 185
samples, CREPE full, 50-550 Hz, Viterbi, -60 dB silence threshold). Speech only: see
:class:`bench.metrics.crepe.CrepeMetric`.
"""

from __future__ import annotations

import numpy as np

from bench.metrics.crepe import Analysis, CrepeMetric, crepe_entry


class Periodicity(CrepeMetric):
    """sqrt(mean_frames (p_ref - p_deg)^2) of CREPE periodicity (0..1)."""

    name = "periodicity"
    direction = "lower"
    definition = "sqrt(mean over all frames of (periodicity_ref - periodicity_deg)^2)"

    def compare(self, ref: Analysis, deg: Analysis) -> float:
        return float(np.sqrt(np.mean((ref.periodicity - deg.periodicity) ** 2)))


ENTRY = crepe_entry(Periodicity, perfect=0.0,
                    description="CARGAN periodicity RMSE (CREPE full, 16 kHz, hop 185); speech only")
