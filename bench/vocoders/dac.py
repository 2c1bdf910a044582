"""DAC 44.1 kHz resynthesis: audio -> encoder -> residual VQ (all 9 codebooks, 8 kbps) -> decoder -> audio.

The Descript Audio Codec (Kumar et al. 2023) is not a mel vocoder: it analyses audio into discrete codes, so
``analyse`` returns codes [B, n_codebooks, frames] and ``mel`` is None. It is the codec whose decoder DisCoder
fine-tunes, which makes it the natural baseline for DisCoder.

The path is DAC's own forward pass in eval mode: right-pad with zeros to a multiple of the hop (512 samples),
encode, quantise with the first ``n_quantizers`` codebooks (all by default), decode, trim to the input length.
DAC's ``compress`` utility additionally normalises loudness to -16 LUFS and codes clips longer than 5 s in
chunks; here loudness is the harness's business and every clip is coded in one pass (the forward pass DAC is
trained and evaluated with).

Weights: the published ``weights.pth`` of the 44 kHz 8 kbps model (GitHub release 0.0.1), loaded strictly.
(The Hugging Face repository ``descript/dac_44khz`` is a conversion for ``transformers``' DacModel, with other
key names and file names; this loader does not read it.)
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.params import ParamSpec
from bench.vocoders.base import LoadOptions
from bench.vocoders.nn.checkpoint import CheckpointError, load_state_dict_strict, read_torch_file, state_dict_from
from bench.vocoders.nn.dac import DAC_44K_KWARGS, DACModel, canonical_weight_norm_keys
from bench.vocoders.nn.neural import NEURAL_PARAM_SPECS, NeuralVocoder
from bench.vocoders.registry import VocoderEntry
from bench.vocoders.weights import WeightSpec

NAME = "dac"
WEIGHTS_URL = "https://github.com/descriptinc/descript-audio-codec/releases/download/0.0.1/weights.pth"
WEIGHTS = WeightSpec(
    files=("weights.pth",),
    repo_id=None,
    url=WEIGHTS_URL,
    how_to_get=(f"download {WEIGHTS_URL} as models/dac/weights.pth (DAC 44 kHz, 8 kbps, release 0.0.1; a copy "
                "downloaded by descript-audio-codec is ~/.cache/descript/dac/weights_44khz_8kbps_0.0.1.pth: "
                "copy or link it there)"),
)
#: Constructor arguments a weights file's ``metadata.kwargs`` may carry (DAC.__init__'s signature).
_KWARGS = set(DAC_44K_KWARGS) | {"quantizer_dropout"}


class DAC(NeuralVocoder):
    """DAC resynthesis at 44.1 kHz: audio [B, T] -> codes [B, n, ceil(T / 512)] -> audio [B, T].

    params (besides those of :class:`~bench.vocoders.nn.neural.NeuralVocoder`): ``n_quantizers`` (default: all
    codebooks). ``config`` holds DAC constructor arguments (``metadata.kwargs`` of a weights file).
    """

    name = NAME
    weights = WEIGHTS
    sample_rate = 44100
    mel = None

    def __init__(self, options: LoadOptions) -> None:
        super().__init__(options)
        # The quantizer stays in fp32: it is tiny, and the nearest-code search must not flip codes by rounding.
        self.model.quantizer.float()
        n = options.params.get("n_quantizers")
        books = self.model.quantizer.n_codebooks
        self.n_quantizers = books if n is None else int(n)
        if not 1 <= self.n_quantizers <= books:
            raise ValueError(f"{NAME}: n_quantizers must be in 1..{books}, got {n}")

    def extra_params(self) -> tuple[str, ...]:
        return ("n_quantizers",)

    def default_config(self) -> dict[str, Any]:
        return dict(DAC_44K_KWARGS)

    def read_checkpoint(self, directory: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
        given = Path(self.options.weights_path or directory).expanduser()
        # A file of any name is accepted (DAC's own cache calls it weights_44khz_8kbps_0.0.1.pth).
        path = given if given.is_file() else directory / WEIGHTS.files[0]
        ckpt = read_torch_file(path, NAME)
        state = state_dict_from(ckpt, "state_dict", NAME, str(path))
        meta = ckpt.get("metadata")
        kwargs = meta.get("kwargs") if isinstance(meta, dict) else None
        if kwargs is None:
            kwargs = dict(DAC_44K_KWARGS)  # a bare {"state_dict": ...} file: assume the 44 kHz model
        if not isinstance(kwargs, dict):
            raise CheckpointError(f"{NAME}: {path}: metadata.kwargs is not a mapping")
        return dict(kwargs), canonical_weight_norm_keys(state), str(path)

    def build(self, config: dict[str, Any], state: dict[str, torch.Tensor] | None, source: str) -> nn.Module:
        unknown = sorted(set(config) - _KWARGS)
        if unknown:
            raise ValueError(f"unsupported DAC model arguments: {', '.join(unknown)}")
        model = DACModel(**{**DAC_44K_KWARGS, **config})
        self.sample_rate = model.sample_rate
        if model.upsampling != model.hop_length:
            raise ValueError(f"prod(decoder_rates) = {model.upsampling} differs from the hop {model.hop_length}")
        if state is not None:
            load_state_dict_strict(model, state, NAME, source)
        return model

    @staticmethod
    def _fp32(device: torch.device) -> contextlib.AbstractContextManager:
        return torch.autocast(device.type, enabled=False)

    def analyse(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio [B, T] at 44.1 kHz -> codes [B, n_quantizers, ceil(T / 512)] (int64)."""
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        x = self.model.preprocess(audio.to(self.device, self.dtype).unsqueeze(1))
        z = self.model.encoder(x)
        with self._fp32(self.device):
            _, codes = self.model.quantizer(z.float(), self.n_quantizers)
        return codes

    def synthesise(self, features: torch.Tensor) -> torch.Tensor:
        """Codes [B, n, L] -> audio [B, L * 512] at 44.1 kHz (float32)."""
        if features.dim() == 2:
            features = features.unsqueeze(0)
        with self._fp32(self.device):
            z = self.model.quantizer.from_codes(features.to(self.device))
        return self.generate(z.to(self.dtype)).reshape(z.shape[0], -1).float()

    def generate(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.decode(features)

    def copy_synthesis(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, T] -> [B, T]: DAC's forward pass (pad to the hop, code, decode) trimmed to the input length."""
        with torch.inference_mode():
            return self.synthesise(self.analyse(audio.to(self.device)))[..., : audio.shape[-1]]

    def batch_key(self, n_samples: int) -> int:
        """The codec zero-pads each clip to a multiple of its hop: clips with the same padded length batch."""
        return -(-n_samples // self.model.hop_length)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "n_quantizers": self.n_quantizers, "hop_length": self.model.hop_length,
                "padding": "right zero-pad to a multiple of the hop; output trimmed to the input length"}


ENTRY = VocoderEntry(
    name=NAME,
    factory=DAC,
    sample_rate=44100,
    description="Descript Audio Codec 44.1 kHz (8 kbps, 9 codebooks): encode -> RVQ -> decode resynthesis",
    weights=WEIGHTS,
    gpu_capable=True,
    params=(*NEURAL_PARAM_SPECS,
            ParamSpec("n_quantizers", int, None, "codebooks used (None = all; at most the checkpoint's count, 9 "
                      "for the 44.1 kHz model)", minimum=1, optional=True)),
    family="neural",
)
