"""DisCoder (Lanzendörfer et al. 2025): 44.1 kHz 128-band log-mel -> DAC latent space -> fine-tuned DAC decoder.

Weights: ``config.json`` + ``model.pt`` of ``disco-eth/discoder`` (Hugging Face), loaded strictly (the reference
loader's ``strict=False`` can silently leave layers random). A DDP ``module.`` prefix is stripped.

Padding (``params["padding"]``): the network needs an even number of mel frames, i.e. audio whose length is a
multiple of 512 samples; the output has 256 samples per mel frame and is trimmed back to the input length.
- ``"reference"`` (default): like the reference inference script, right-pad with zeros by
  ``segment_size - T % segment_size`` samples (16384 in the released config; a full segment when T is already
  a multiple). The encoder's receptive field is about +-455 mel frames (+-2.6 s), so the last seconds of a clip
  depend on how much silence follows it: only this rule reproduces the reference's output for every kept sample.
- ``"minimal"``: right-pad with zeros to the next multiple of 512 (less work; the last ~2.6 s of a clip can
  differ slightly from the reference's output).

Batches: every item is computed as if alone. :meth:`DisCoder.copy_synthesis_items` takes clips of different
lengths, pads each by its own rule and runs clips of equal padded length together. (The reference's batch
helper decodes the first item's latent for the whole batch; that bug is not reproduced.)

Skip connection (``params["skip"]``): the released model is fine-tuned with the encoder's skip added to the
decoder input. ``None`` (default) does what the reference does: skip on, unless the checkpoint records a
``training_step`` below the config's ``unfreeze.steps`` (a stage-1 checkpoint, decoder frozen, no skip).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.mel import MelConfig, mel_spectrogram
from bench.params import ParamSpec
from bench.vocoders.base import LoadOptions
from bench.vocoders.nn.checkpoint import load_state_dict_strict, read_json, read_torch_file, state_dict_from
from bench.vocoders.nn.dac import canonical_weight_norm_keys
from bench.vocoders.nn.discoder import DisCoderModel
from bench.vocoders.nn.neural import NEURAL_PARAM_SPECS, NeuralVocoder
from bench.vocoders.registry import VocoderEntry
from bench.vocoders.weights import WeightSpec

NAME = "discoder"
WEIGHTS = WeightSpec(files=("config.json", "model.pt"), repo_id="disco-eth/discoder")
PADDINGS = ("reference", "minimal")

#: The network-defining sections of the released ``config.json`` (predict_type "z", 128 mel bands); used for
#: random-init models (benchmarks) when no config is given.
RELEASED_CONFIG: dict[str, Any] = {
    "sample_rate": 44100,
    "segment_size": 16384,
    "unfreeze": {"steps": 100000},
    "model": {
        "latent_dim": 1024, "n_codebooks": 9, "codebook_dim": 8, "codebook_size": 1024, "n_resblocks": 6,
        "initial_out_channels": 1024, "intermediate_dim": 1152, "resblock_type": "AMP",
        "resblock_kernel_sizes": [3, 3, 7, 7, 11, 11], "resblock_dilations": [[1, 3, 5]] * 6,
        "predict_type": "z", "activation": "snake",
    },
    "mel": {"n_fft": 1024, "win_length": 1024, "hop_length": 256, "f_min": 0, "f_max": None, "n_mels": 128},
}


def mel_config(config: Mapping[str, Any]) -> MelConfig:
    """The log-mel front-end a DisCoder config describes (BigVGAN's framing and filterbank)."""
    m = config["mel"]
    return MelConfig(sample_rate=int(config["sample_rate"]), n_fft=int(m["n_fft"]), hop_length=int(m["hop_length"]),
                     win_length=int(m["win_length"]), n_mels=int(m["n_mels"]), fmin=float(m.get("f_min") or 0.0),
                     fmax=None if m.get("f_max") is None else float(m["f_max"]))


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the ``module.`` prefix(es) DistributedDataParallel puts in front of every key."""
    out = {}
    for key, value in state_dict.items():
        while key.startswith("module."):
            key = key[len("module."):]
        out[key] = value
    return out


class DisCoder(NeuralVocoder):
    """DisCoder: log-mel [B, 128, F] -> audio [B, 256 F] at 44.1 kHz; :meth:`copy_synthesis` keeps the length.

    params (besides those of :class:`~bench.vocoders.nn.neural.NeuralVocoder`, whose ``config`` overrides
    top-level sections of config.json, e.g. ``{"model": {...}, "mel": {...}}``): ``padding`` ("reference" |
    "minimal") and ``skip`` (None = as the reference decides, True, False); see the module docstring.
    """

    name = NAME
    weights = WEIGHTS
    sample_rate = 44100

    def __init__(self, options: LoadOptions) -> None:
        self._training_step: int | None = None
        super().__init__(options)
        p = options.params
        self.padding = p.get("padding", "reference")
        if self.padding not in PADDINGS:
            raise ValueError(f"{NAME}: padding must be one of {PADDINGS}, got {self.padding!r}")
        self.frame_pair = 2 * self.mel.hop_length  # audio lengths must be multiples (an even mel frame count)
        self.segment = int(self.architecture.get("segment_size", 16384))
        if self.padding == "reference" and (self.segment <= 0 or self.segment % self.frame_pair):
            raise ValueError(f"{NAME}: segment_size {self.segment} is not a multiple of {self.frame_pair}")
        skip = p.get("skip")
        if skip is None:
            unfreeze = (self.architecture.get("unfreeze") or {}).get("steps")
            step = self._training_step
            skip = not (step is not None and unfreeze is not None and step < unfreeze)
        self.use_skip = bool(skip)

    def extra_params(self) -> tuple[str, ...]:
        return ("padding", "skip")

    def default_config(self) -> dict[str, Any]:
        return copy.deepcopy(RELEASED_CONFIG)

    def read_checkpoint(self, directory: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
        config = read_json(directory / "config.json", NAME)
        path = directory / "model.pt"
        ckpt = read_torch_file(path, NAME)
        state = strip_module_prefix(state_dict_from(ckpt, "model_state_dict", NAME, str(path)))
        # The DAC decoder may come in either weight-norm layout (later DAC code uses parametrizations).
        dec = {k: v for k, v in state.items() if k.startswith("decoder.dac_decoder.")}
        state = {**{k: v for k, v in state.items() if k not in dec}, **canonical_weight_norm_keys(dec)}
        step = ckpt.get("training_step")
        self._training_step = int(step) if isinstance(step, (int, float, torch.Tensor)) else None
        return config, state, str(path)

    def build(self, config: dict[str, Any], state: dict[str, torch.Tensor] | None, source: str) -> nn.Module:
        model = DisCoderModel(config)
        self.mel = mel_config(config)
        self.sample_rate = self.mel.sample_rate
        if model.samples_per_frame != self.mel.hop_length:
            raise ValueError(f"the decoder makes {model.samples_per_frame} samples per mel frame but the mel hop "
                             f"is {self.mel.hop_length}")
        if state is not None:
            load_state_dict_strict(model, state, NAME, source)
        return model

    # -- lengths ---------------------------------------------------------------------------------------------

    def padded_length(self, length: int) -> int:
        """Samples the clip is zero-padded to before analysis (see the module docstring)."""
        if length < 1:
            raise ValueError("discoder: empty audio")
        if self.padding == "reference":
            return length + self.segment - length % self.segment
        return -(-length // self.frame_pair) * self.frame_pair

    # -- interface -------------------------------------------------------------------------------------------

    def analyse(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio [B, T] at 44.1 kHz -> log-mel [B, n_mels, padded_length(T) / 256] (fp32; an even frame count)."""
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        length = audio.shape[-1]
        x = F.pad(audio.to(self.device, torch.float32), (0, self.padded_length(length) - length))
        with torch.autocast(self.device.type, enabled=False):  # the front-end is always computed in fp32
            return mel_spectrogram(x, self.mel)

    def generate(self, features: torch.Tensor) -> torch.Tensor:
        """log-mel [B, n_mels, F] (model dtype) -> audio [B, 1, 256 F].

        An odd F (a mel not made by :meth:`analyse`) is handled by repeating the last frame and dropping the
        extra 256 output samples.
        """
        frames = features.shape[-1]
        mel = F.pad(features, (0, 1), mode="replicate") if frames % 2 else features
        return self.model(mel, use_skip=self.use_skip)[..., : frames * self.mel.hop_length]

    def copy_synthesis(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, T] -> [B, T]: every item is padded by the padding rule, vocoded, and trimmed back to T."""
        with torch.inference_mode():
            return self.synthesise(self.analyse(audio.to(self.device)))[..., : audio.shape[-1]]

    def batch_key(self, n_samples: int) -> int:
        """Clips whose padded lengths agree see identical (zero-padded) inputs, so they can share a batch."""
        return self.padded_length(n_samples)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "padding": self.padding, "segment_size": self.segment, "skip": self.use_skip,
                "training_step": self._training_step}


ENTRY = VocoderEntry(
    name=NAME,
    factory=DisCoder,
    sample_rate=44100,
    description="DisCoder (2025): 128-band log-mel -> DAC latent -> fine-tuned DAC 44.1 kHz decoder",
    weights=WEIGHTS,
    gpu_capable=True,
    params=(*NEURAL_PARAM_SPECS,
            ParamSpec("padding", str, "reference", "input padding (see bench/vocoders/discoder.py)", choices=PADDINGS),
            ParamSpec("skip", bool, None, "encoder skip connection (None = as the reference code decides)",
                      optional=True)),
    family="neural",
)
