"""Voiced/unvoiced F1 (CARGAN, Morrison et al., ICLR 2022): higher is better, 1 for identical signals; speech only.

Each frame of reference and output is voiced or not by CREPE and torchcrepe's hysteresis thresholding with
CARGAN's settings (:mod:`bench.metrics.crepe`); the reference's voicing is the truth: precision = TP / (TP + FP),
recall = TP / (TP + FN), F1 = 2PR / (P + R), computed here as 2TP / (2TP + FP + FN) (the same number, and 0
rather than CARGAN's 0/0 when the output has no voiced frame). A reference without voiced frames has no F1:
that is a one-line error. Speech only: see :class:`bench.metrics.crepe.CrepeMetric`.
"""

from __future__ import annotations

from bench.errors import AudioError
from bench.metrics.crepe import Analysis, CrepeMetric, crepe_entry


class VuvF1(CrepeMetric):
    """F1 of the output's voiced frames against the reference's (0..1)."""

    name = "vuv_f1"
    direction = "higher"
    definition = "F1 of voiced frames, reference voicing as truth: 2TP / (2TP + FP + FN)"

    def compare(self, ref: Analysis, deg: Analysis) -> float:
        tp = int((ref.voiced & deg.voiced).sum())
        fp = int((~ref.voiced & deg.voiced).sum())
        fn = int((ref.voiced & ~deg.voiced).sum())
        if tp + fn == 0:
            raise AudioError(f"{self.name}: the reference has no voiced frame ({ref.voiced.size} frames), "
                             "so voiced/unvoiced F1 is undefined")
        return 2 * tp / (2 * tp + fp + fn)


ENTRY = crepe_entry(VuvF1, perfect=1.0,
                    description="CARGAN voiced/unvoiced F1 (CREPE full + hysteresis, 16 kHz, hop 185); speech only")
