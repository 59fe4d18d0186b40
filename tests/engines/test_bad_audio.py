"""Malformed uploads: each gets the right InvalidAudio code, never an unhandled error."""

from __future__ import annotations

import io

import pytest

from tests.fixtures.audio import write_audio
from tests.fixtures.bad_audio import CASES
from transcription_platform.engines.audio import AudioClip, plan_chunks, probe
from transcription_platform.engines.errors import InvalidAudio
from transcription_platform.exceptions import ValidationError

NOT_AUDIO = {"not_audio", "no_audio_stream"}


@pytest.mark.parametrize("name", CASES)
def test_probe_gives_the_right_code_and_status(corpus, name):
    path, code = corpus[name]
    with pytest.raises(InvalidAudio) as info:
        probe(path)
    error = info.value
    assert error.code == code
    assert isinstance(error, ValidationError)
    assert error.status_code == (415 if code in NOT_AUDIO else 400)
    assert error.message
    assert "Traceback" not in error.message


@pytest.mark.parametrize("name", CASES)
def test_decoding_paths_fail_cleanly_too(corpus, name):
    path, _code = corpus[name]
    with pytest.raises(InvalidAudio):
        plan_chunks(path, 30)
    with pytest.raises(InvalidAudio):
        AudioClip(str(path)).pcm()


@pytest.mark.parametrize("name", CASES)
def test_file_objects_get_the_same_answer(corpus, name):
    path, code = corpus[name]
    with pytest.raises(InvalidAudio) as info:
        probe(io.BytesIO(path.read_bytes()))
    assert info.value.code == code


def test_wrong_extension_but_valid_audio_is_accepted(tmp_path):
    real_wav = write_audio(tmp_path / "real.wav", [(1.5, 440.0)])
    disguised = tmp_path / "disguised.mp3"
    disguised.write_bytes(real_wav.read_bytes())
    info = probe(disguised)
    assert info.container == "wav"
    assert info.duration == pytest.approx(1.5, abs=0.01)
    assert plan_chunks(disguised, 30)[-1].end == pytest.approx(1.5, abs=0.01)


def test_damage_after_good_audio_keeps_what_decodes(tmp_path):
    mp3 = write_audio(tmp_path / "good.mp3", [(10.0, 440.0)], rate=16_000, channels=1)
    damaged = tmp_path / "damaged.mp3"
    data = mp3.read_bytes()
    damaged.write_bytes(data[: len(data) // 2] + bytes(range(256)) * 40)
    clips = plan_chunks(damaged, 30)
    assert 4.0 < clips[-1].end < 6.0
