"""bench.cuda_numerics: TF32 off when a vocoder, a metric or a run is set up on CUDA; recorded with the run."""

import pytest
import torch

from bench.cuda_numerics import float32_settings, use_exact_fp32
from bench.environment import environment
from bench.metrics.base import Metric
from bench.vocoders.base import LoadOptions
from bench.vocoders.reference import HiddenReference


@pytest.fixture
def tf32_on():
    """Put the process in torch's TF32-allowing state (cuDNN's default), restore afterwards."""
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
              torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before[:2]
    torch.set_float32_matmul_precision(before[2])


EXACT = {"cuda_matmul_allow_tf32": False, "cudnn_allow_tf32": False, "float32_matmul_precision": "highest"}


def test_cpu_changes_nothing(tf32_on):
    assert use_exact_fp32("cpu") is False
    assert float32_settings() == {"cuda_matmul_allow_tf32": True, "cudnn_allow_tf32": True,
                                  "float32_matmul_precision": "high"}


def test_cuda_turns_tf32_off(tf32_on):
    # the switches are process-wide flags: setting them needs no GPU, so this runs on a CPU-only machine too
    assert use_exact_fp32("cuda:0") is True
    assert float32_settings() == EXACT


def test_a_vocoder_on_cuda_turns_tf32_off(tf32_on):
    HiddenReference(LoadOptions(device="cuda"))  # allocates nothing on the device
    assert float32_settings() == EXACT


def test_a_metric_on_cuda_turns_tf32_off(tf32_on):
    class Null(Metric):
        name, direction = "null", "lower"

        def sample_rate(self, domain):
            return 16000

        def variant(self, domain):
            return {}

        def prepare(self, ref, sr, domain):
            return None

        def score(self, state, deg, sr, domain):
            return 0.0

    Null(device="cpu")
    assert float32_settings()["cudnn_allow_tf32"] is True
    Null(device="cuda")
    assert float32_settings() == EXACT


def test_environment_records_the_settings_the_run_uses(tf32_on):
    assert environment("cpu")["float32"]["cudnn_allow_tf32"] is True
    env = environment("cuda")
    assert env["float32"] == EXACT and env["device"] == "cuda"
