import librosa
import numpy as np
import torch

from bench.mel import MelConfig, mel_spectrogram
from bench.mel.frontend import BIGVGAN_V2_44K_128
from numerics import assert_close_f32


def test_frame_count_reflect_framing(music):
    x = torch.from_numpy(music(1.0))[None, : 256 * 100]
    m = mel_spectrogram(x, BIGVGAN_V2_44K_128)
    assert m.shape == (1, 128, 100)


def test_matches_librosa_definition(music):
    """Independent computation with librosa/numpy of the BigVGAN-style log-mel."""
    cfg = BIGVGAN_V2_44K_128
    x = music(0.5)[: 256 * 40]
    ours = mel_spectrogram(torch.from_numpy(x)[None], cfg)[0].numpy()
    pad = (cfg.n_fft - cfg.hop_length) // 2
    xp = np.pad(x.astype(np.float64), pad, mode="reflect")
    spec = librosa.stft(xp, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, window="hann",
                        center=False)
    mag = np.sqrt(np.abs(spec) ** 2 + 1e-9)
    fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=0, fmax=None)
    ref = np.log(np.clip(fb @ mag, 1e-5, None))
    assert_close_f32(ours, ref, ulps=256)


def test_center_framing_and_log10():
    cfg = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, win_length=512, n_mels=40, framing="center",
                    log="log10", mag_eps=0.0)
    m = mel_spectrogram(torch.zeros(2, 1280) + 1e-3, cfg)
    assert m.shape == (2, 40, 11)
    assert torch.all(m >= np.log10(cfg.clamp_min) - 1e-6)
