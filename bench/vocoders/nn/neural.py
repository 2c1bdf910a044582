"""Shared loading logic of the checkpoint-compatible neural vocoders (BigVGAN, HiFi-GAN, Vocos).

``LoadOptions.params`` understood by every subclass:

- ``config`` (dict): architecture keys that override the checkpoint's config file (or the built-in published
  config when ``random_init``); tests build tiny models this way through the same code path.
- ``random_init`` (bool, default False): build with seeded random weights and no checkpoint (tests, speed
  benchmarks). Never used silently: without it, missing weights are an error.
- ``seed`` (int, default 0): seed of the random initialisation (the global RNG is left untouched).
- ``remove_weight_norm`` (bool, default True): fold weight norm into plain weights after loading (same output,
  less work per forward pass); False keeps the training-time parametrisation.

Precision: the model runs in ``options.precision`` (fp32/bf16/fp16); features are cast to it and the audio is
returned as float32.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.errors import MissingWeightsError
from bench.params import ParamSpec
from bench.vocoders.base import DTYPES, LoadOptions, Vocoder
from bench.mel import MelConfig, mel_spectrogram
from bench.vocoders.nn.checkpoint import (CheckpointError, load_state_dict_strict, read_json, read_torch_file,
                                          state_dict_from)
from bench.vocoders.nn.weightnorm import detect_style, remove_weight_norm
from bench.vocoders.weights import WeightSpec

#: Parameters handled here (subclasses may add their own); see the module docstring.
NEURAL_PARAM_SPECS = (
    ParamSpec("config", dict, None, "architecture keys overriding the checkpoint's config", optional=True),
    ParamSpec("random_init", bool, False, "seeded random weights instead of a checkpoint (untrained: tests and "
              "speed only)"),
    ParamSpec("seed", int, 0, "seed of the random initialisation", minimum=0),
    ParamSpec("remove_weight_norm", bool, True, "fold weight norm into plain weights after loading (same output)"),
)
#: Keys of ``LoadOptions.params`` handled here.
NEURAL_PARAMS = tuple(s.name for s in NEURAL_PARAM_SPECS)


class NeuralVocoder(Vocoder):
    """A vocoder whose network is built from an architecture config and a published state dict.

    Subclasses set ``name`` (registry name, used in messages) and ``weights``, and implement
    :meth:`default_config`, :meth:`read_checkpoint`, :meth:`build` and :meth:`generate`.
    """

    name: str
    weights: WeightSpec

    def __init__(self, options: LoadOptions) -> None:
        super().__init__(options)
        p = options.params
        unknown = sorted(set(p) - set(NEURAL_PARAMS) - set(self.extra_params()))
        if unknown:
            raise ValueError(f"{self.name}: unknown params {', '.join(unknown)}; known: "
                             f"{', '.join(NEURAL_PARAMS + self.extra_params())}")
        if options.precision not in DTYPES:
            raise ValueError(f"{self.name}: precision must be one of {', '.join(DTYPES)}")
        self.dtype = DTYPES[options.precision]
        self.random_init = bool(p.get("random_init", False))
        self.seed = int(p.get("seed", 0))
        self.weight_norm_removed = bool(p.get("remove_weight_norm", True))
        override = dict(p.get("config") or {})
        if self.random_init:
            config, state, source = {**self.default_config(), **override}, None, "random initialisation"
        else:
            directory = self._weights_dir()
            config, state, source = self.read_checkpoint(directory)
            config = {**config, **override}
        self.architecture = config
        self.source = source
        # Build under a private RNG so that random initialisation is reproducible and leaves global state alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            try:
                model = self.build(config, state, source)
            except (ValueError, KeyError, TypeError) as err:
                raise CheckpointError(f"{self.name}: invalid architecture config ({source}): {err}") from None
        model.eval()
        # Before freezing: removing a parametrisation from a frozen weight would leave it as a buffer, hidden
        # from parameters() (and from parameter counts).
        if self.weight_norm_removed:
            remove_weight_norm(model)
        model.requires_grad_(False)
        self.model = model.to(device=self.device, dtype=self.dtype)

    # -- subclass interface ------------------------------------------------------------------------------------
    def extra_params(self) -> tuple[str, ...]:
        """Additional ``params`` keys a subclass accepts."""
        return ()

    @abstractmethod
    def default_config(self) -> dict[str, Any]:
        """The published architecture (and front-end) config, used for random initialisation."""

    @abstractmethod
    def read_checkpoint(self, directory: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
        """(config, state dict, description of the source) from the published files in ``directory``."""

    @abstractmethod
    def build(self, config: dict[str, Any], state: dict[str, torch.Tensor] | None, source: str) -> nn.Module:
        """The network for ``config`` with ``state`` loaded strictly (random weights when None).

        Also sets ``sample_rate`` and ``mel`` from ``config``. Raises ValueError for an invalid config.
        """

    @abstractmethod
    def generate(self, features: torch.Tensor) -> torch.Tensor:
        """Run the network: features [B, ...] (on device, in the model dtype) -> audio [B, T] or [B, 1, T]."""

    # -- Vocoder -------------------------------------------------------------------------------------------------
    def _weights_dir(self) -> Path:
        if self.options.weights_path is None:
            raise MissingWeightsError(
                f"{self.name}: no weights given (expected {', '.join(self.weights.files)}); resolve them with "
                f"bench.vocoders.weights.resolve or pass params random_init=True for an untrained model")
        path = Path(self.options.weights_path)
        return path.parent if path.is_file() else path

    def synthesise(self, features: torch.Tensor) -> torch.Tensor:
        """Audio [B, T] (float32, ``sample_rate`` Hz) from features [B, ...] of :meth:`analyse`."""
        if features.dim() == 2:
            features = features.unsqueeze(0)
        audio = self.generate(features.to(device=self.device, dtype=self.dtype))
        return audio.reshape(audio.shape[0], -1).float()

    def config(self) -> dict[str, Any]:
        out = super().config()
        out.update(architecture=self.architecture, weights_source=self.source,
                   weight_norm_removed=self.weight_norm_removed)
        return out

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def meldataset_mel(h: dict[str, Any], default_n_mels: int | None = None) -> MelConfig:
    """The log-mel front-end a HiFi-GAN/BigVGAN ``config.json`` defines (their ``meldataset.mel_spectrogram``):
    reflect padding of (n_fft - hop) / 2, ``torch.stft(center=False)``, periodic Hann window,
    sqrt(|X|^2 + 1e-9), librosa Slaney filterbank, ln(clamp(x, 1e-5))."""
    fmax = h.get("fmax")
    n_mels = h["num_mels"] if default_n_mels is None else h.get("num_mels", default_n_mels)
    return MelConfig(sample_rate=int(h["sampling_rate"]), n_fft=int(h["n_fft"]), hop_length=int(h["hop_size"]),
                     win_length=int(h["win_size"]), n_mels=int(n_mels), fmin=float(h.get("fmin", 0)),
                     fmax=None if fmax is None else float(fmax), framing="reflect", mel_scale="slaney",
                     mel_norm="slaney", power=1.0, mag_eps=1e-9, log="ln", clamp_min=1e-5)


class MelGeneratorVocoder(NeuralVocoder):
    """A HiFi-GAN-style generator (HiFi-GAN, BigVGAN): ``config.json`` + ``{"generator": state_dict}``.

    Subclasses set ``checkpoint_file``, ``config_class`` (``from_dict``, ``hop_length``, ``num_mels``),
    ``generator_class`` (``(arch, weight_norm=style)``) and optionally ``default_n_mels``.
    """

    checkpoint_file: str
    config_class: Any
    generator_class: Any
    default_n_mels: int | None = None

    def read_checkpoint(self, directory: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
        config = read_json(directory / "config.json", self.name)
        path = directory / self.checkpoint_file
        state = state_dict_from(read_torch_file(path, self.name), "generator", self.name, str(path))
        if int(config.get("sampling_rate", -1)) != self.sample_rate:
            raise CheckpointError(f"{self.name}: {directory / 'config.json'} is for {config.get('sampling_rate')} Hz "
                                  f"but {self.name} runs at {self.sample_rate} Hz; wrong files in {directory}?")
        return config, state, str(path)

    def build(self, config: dict[str, Any], state: dict[str, torch.Tensor] | None, source: str) -> nn.Module:
        arch = self.config_class.from_dict(config)
        self.mel = meldataset_mel(config, self.default_n_mels)
        self.sample_rate = self.mel.sample_rate
        if arch.hop_length != self.mel.hop_length:
            raise ValueError(f"prod(upsample_rates) = {arch.hop_length} differs from hop_size = {self.mel.hop_length}")
        if arch.num_mels != self.mel.n_mels:
            raise ValueError("num_mels of the network and of the front-end differ")
        # The published files keep weight norm (weight_g / weight_v); fine-tuned exports may have removed it.
        style = (detect_style(state, "conv_pre") or "old") if state is not None else "old"
        model = self.generator_class(arch, weight_norm=style)
        if state is not None:
            load_state_dict_strict(model, state, self.name, source)
        return model

    def analyse(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel [B, num_mels, T // hop] of audio [B, T] at ``sample_rate`` Hz."""
        return mel_spectrogram(audio.to(self.device, torch.float32), self.mel)

    def generate(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features)
