"""Neural-network building blocks of the checkpoint-compatible vocoders.

- :mod:`bench.vocoders.nn.alias_free` — Snake/SnakeBeta and the anti-aliased ``Activation1d`` (BigVGAN, DisCoder).
- :mod:`bench.vocoders.nn.amp` — BigVGAN's AMP residual blocks.
- :mod:`bench.vocoders.nn.weightnorm` — weight norm in either of PyTorch's two state-dict layouts, and its removal.
- :mod:`bench.vocoders.nn.checkpoint` — reading published checkpoint files and strict loading with one-line errors.
- :mod:`bench.vocoders.nn.neural` — ``NeuralVocoder``, the shared loading logic (params ``config``, ``random_init``,
  ``seed``, ``remove_weight_norm``; precision) of the checkpoint-compatible vocoders.
- :mod:`bench.vocoders.nn.bigvgan`, :mod:`~bench.vocoders.nn.hifigan`, :mod:`~bench.vocoders.nn.vocos` — generators.

Module and parameter names follow the published checkpoints exactly, so that their state dicts load strictly.
"""
