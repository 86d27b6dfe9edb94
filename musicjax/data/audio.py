"""Audio: render Scores to waveforms (FluidSynth with pretty_midi's General MIDI soundfont, or a
pure-numpy additive synthesiser when FluidSynth is missing), librosa features, Griffin-Lim."""

from __future__ import annotations

import io
import os

import numpy as np

from musicjax.data.files import atomic_write
from musicjax.data.score import Score

SAMPLE_RATE = 22050


def fluidsynth_available() -> bool:
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth; needs the libfluidsynth shared library)
    except (ImportError, OSError):
        return False
    return True


def synthesize_numpy(score: Score, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """[samples] float32 in [-1, 1]: each note a few decaying harmonics with a short attack and
    release, loudness from its velocity. Deterministic and dependency-free."""
    n = int(np.ceil((score.duration + 0.3) * sample_rate)) if score.num_notes else 1
    out = np.zeros(n, np.float64)
    harmonics = np.array([1.0, 0.5, 0.25, 0.125])
    attack, release = int(0.01 * sample_rate), int(0.08 * sample_rate)
    for p, s, e, v in zip(score.pitch, score.start, score.end, score.velocity):
        i0 = int(round(s * sample_rate))
        length = max(int(round((e - s) * sample_rate)), 1) + release
        t = np.arange(length) / sample_rate
        f0 = 440.0 * 2.0 ** ((int(p) - 69) / 12.0)
        freqs = f0 * np.arange(1, len(harmonics) + 1)
        amps = harmonics * (freqs < sample_rate / 2)
        wave = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None, :])).sum(0)
        env = np.exp(-1.5 * t)
        env[:attack] *= np.linspace(0.0, 1.0, attack, endpoint=False)
        env[-release:] *= np.linspace(1.0, 0.0, release)
        seg = wave * env * (int(v) / 127.0)
        out[i0 : i0 + length] += seg[: max(0, n - i0)]
    peak = np.abs(out).max()
    return (out / peak * 0.9 if peak > 0 else out).astype(np.float32)


def synthesize(score: Score, sample_rate: int = SAMPLE_RATE, method: str = "auto") -> np.ndarray:
    """[samples] float32. method: 'fluidsynth', 'numpy', or 'auto' (FluidSynth when installed)."""
    if method == "auto":
        method = "fluidsynth" if fluidsynth_available() else "numpy"
    if method == "numpy":
        return synthesize_numpy(score, sample_rate)
    if method != "fluidsynth":
        raise ValueError(f"unknown synthesis method {method!r}")
    from musicjax.data.midi_interop import score_to_pretty_midi

    audio = score_to_pretty_midi(score).fluidsynth(fs=sample_rate)
    peak = np.abs(audio).max() if audio.size else 0.0
    return (audio / peak * 0.9 if peak > 0 else audio).astype(np.float32)


def write_wav(audio: np.ndarray, path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> None:
    """16-bit PCM WAV, written atomically."""
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.asarray(audio, np.float32), sample_rate, format="WAV", subtype="PCM_16")
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def stft_magnitude(audio: np.ndarray, n_fft: int = 1024, hop_length: int = 256) -> np.ndarray:
    """[1 + n_fft/2, frames] magnitude spectrogram."""
    import librosa

    return np.abs(librosa.stft(np.asarray(audio, np.float32), n_fft=n_fft, hop_length=hop_length))


def mel_spectrogram(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, n_fft: int = 1024, hop_length: int = 256,
                    n_mels: int = 128) -> np.ndarray:
    """[n_mels, frames] power mel spectrogram."""
    import librosa

    return librosa.feature.melspectrogram(y=np.asarray(audio, np.float32), sr=sample_rate, n_fft=n_fft,
                                          hop_length=hop_length, n_mels=n_mels)


def griffin_lim(magnitude: np.ndarray, hop_length: int = 256, n_iter: int = 32, seed: int = 0) -> np.ndarray:
    """Audio from a magnitude spectrogram [1 + n_fft/2, frames] by Griffin-Lim phase recovery."""
    import librosa

    return librosa.griffinlim(magnitude, n_iter=n_iter, hop_length=hop_length,
                              random_state=np.random.RandomState(seed)).astype(np.float32)


def mel_to_audio(mel: np.ndarray, sample_rate: int = SAMPLE_RATE, n_fft: int = 1024, hop_length: int = 256,
                 n_iter: int = 32) -> np.ndarray:
    import librosa

    return librosa.feature.inverse.mel_to_audio(mel, sr=sample_rate, n_fft=n_fft, hop_length=hop_length,
                                                n_iter=n_iter).astype(np.float32)
