import numpy as np
import pytest

from musicjax.data import audio
from musicjax.data.score import make_score


def test_numpy_synthesis_has_the_notes_pitch():
    s = make_score([69], [0], [2], tempos=((0, 60),))
    y = audio.synthesize(s, method="numpy")
    assert y.dtype == np.float32 and abs(len(y) / audio.SAMPLE_RATE - 2.3) < 0.01
    spec = np.abs(np.fft.rfft(y[: audio.SAMPLE_RATE]))
    assert abs(np.argmax(spec) * audio.SAMPLE_RATE / audio.SAMPLE_RATE - 440) <= 1  # 1 Hz bins


@pytest.mark.skipif(not audio.fluidsynth_available(), reason="FluidSynth not installed")
def test_fluidsynth_renders_a_chorale(chorales):
    y = audio.synthesize(chorales[0], method="fluidsynth")
    assert len(y) / audio.SAMPLE_RATE > chorales[0].duration and np.abs(y).max() > 0.5


def test_features_and_griffin_lim(tmp_path):
    s = make_score([60, 64, 67], [0, 1, 2], [1, 2, 3])
    y = audio.synthesize(s, method="numpy")
    mag = audio.stft_magnitude(y)
    back = audio.griffin_lim(mag, n_iter=16)
    # the spectral envelope survives phase recovery
    err = np.linalg.norm(audio.stft_magnitude(back)[:, : mag.shape[1]] - mag) / np.linalg.norm(mag)
    assert err < 0.5
    mel = audio.mel_spectrogram(y)
    assert mel.shape[0] == 128 and np.all(mel >= 0)
    audio.write_wav(back, tmp_path / "g.wav")
    assert (tmp_path / "g.wav").stat().st_size > 1000
