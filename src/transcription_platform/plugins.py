"""Pluggable backends, configured like Django's ``CACHES`` and ``STORAGES``.

Every plugin family (speech engines, analyzers, and what comes next: webhook
transports, price sources, diarizers) is one setting of ``TRANSCRIPTION_PLATFORM``
mapping aliases to a backend and its options::

    "ENGINES": {
        "default": {"BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
                    "OPTIONS": {"model": "whisper-1"}},
    }

and follows one convention:

* a backend is a subclass of the family's base class, itself a `Plugin`;
* its constructor is ``__init__(self, alias="default", *, <option>=<default>, ...)``:
  the alias, then every option as a keyword-only argument with its default, so the
  signature *is* the list of accepted options (an unknown option is an
  ``ImproperlyConfigured`` naming the exact settings key, before anything is built);
* the provider's model, when there is one, is the option and attribute ``model``.

A family is one `Registry` line::

    diarizers = Registry("DIARIZERS", Diarizer, default_setting="DEFAULT_DIARIZER")
    diarizers.get("default")  # built once per process, rebuilt after setting_changed
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from transcription_platform.conf import SETTINGS_NAME, settings
from transcription_platform.exceptions import ConfigurationError

ENTRY_KEYS = frozenset({"BACKEND", "OPTIONS"})


def settings_key(setting: str, *parts: str) -> str:
    """How a key is written in the settings file, for error messages.

    Args:
        setting: The family's setting, e.g. ``"ENGINES"``.
        *parts: Keys below it, e.g. the alias, ``"OPTIONS"`` and an option name.

    Returns:
        E.g. ``TRANSCRIPTION_PLATFORM['ENGINES']['default']['OPTIONS']['model']``.
    """
    return SETTINGS_NAME + "".join(f"[{part!r}]" for part in (setting, *parts))


class Plugin:
    """Base of every pluggable backend: knows its alias and where its settings live.

    Subclasses (the family bases) set `setting`; backends take their options as
    keyword-only constructor arguments and call ``super().__init__(alias)``.
    """

    #: The family's setting (``"ENGINES"``), for error messages that name the key.
    setting: ClassVar[str] = ""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias

    def option_error(self, option: str, problem: str) -> ConfigurationError:
        """A configuration error naming this backend's option ``option`` exactly.

        Args:
            option: The option's name in ``OPTIONS``.
            problem: What is wrong, e.g. ``"must be a positive number"``.

        Returns:
            The error, for the caller to raise.
        """
        key = settings_key(self.setting, self.alias, "OPTIONS", option)
        return ConfigurationError(f"{key} {problem}.")

    def positive_number(self, option: str, value: Any, *, integer: bool = False) -> Any:
        """``value`` of ``option``, checked to be a positive number (an int if ``integer``).

        Raises:
            ConfigurationError: It is not.
        """
        types = int if integer else int | float
        if isinstance(value, bool) or not isinstance(value, types) or value <= 0:
            raise self.option_error(option, f"must be a positive {'int' if integer else 'number'}")
        return value


P = TypeVar("P", bound=Plugin)


class Registry(Generic[P]):
    """The configured backends of one family, built once per process and per alias.

    Args:
        setting: The family's setting name in ``TRANSCRIPTION_PLATFORM``.
        base: The class every backend must subclass.
        default_setting: The setting naming the alias used when none is given.
    """

    def __init__(self, setting: str, base: type[P], *, default_setting: str) -> None:
        self.setting = setting
        self.base = base
        self.default_setting = default_setting
        self._instances: dict[str, P] = {}
        self._lock = threading.Lock()
        # Strong reference: a registry lives as long as its module.
        setting_changed.connect(self._on_setting_changed, weak=False)

    def names(self) -> list[str]:
        """The configured aliases, in settings order."""
        return list(getattr(settings, self.setting))

    def get(self, alias: str | None = None) -> P:
        """The backend configured under ``alias`` (the default alias when None).

        Args:
            alias: A key of the family's setting.

        Returns:
            The shared instance (thread-safe backends serve every job of a process).

        Raises:
            ConfigurationError: The entry is missing or wrong; the message names the key.
        """
        alias = alias or getattr(settings, self.default_setting)
        instance = self._instances.get(alias)
        if instance is not None:
            return instance
        with self._lock:
            if alias not in self._instances:
                self._instances[alias] = self.build(alias)
            return self._instances[alias]

    def build(self, alias: str) -> P:
        """A new instance of the backend configured under ``alias`` (not cached)."""
        key = settings_key(self.setting, alias)
        entries = getattr(settings, self.setting)
        if alias not in entries:
            known = ", ".join(map(repr, entries)) or "none"
            raise ConfigurationError(f"{key} is not configured (configured: {known}).")
        entry = entries[alias]
        if not isinstance(entry, Mapping):
            raise ConfigurationError(f"{key} must be a dict with BACKEND and OPTIONS.")
        unknown_keys = sorted(set(entry) - ENTRY_KEYS)
        if unknown_keys:
            raise ConfigurationError(f"{key} has unknown key(s): {', '.join(unknown_keys)}.")
        backend = self._import(key, entry.get("BACKEND"))
        options = entry.get("OPTIONS")
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise ConfigurationError(f"{key}['OPTIONS'] must be a dict.")
        check_options(backend, options, key)
        return backend(alias, **options)

    def clear(self) -> None:
        """Forget built instances (the next `get` builds them again)."""
        with self._lock:
            self._instances.clear()

    def _import(self, key: str, path: Any) -> type[P]:
        noun = self.base.__name__
        article = "an" if noun[0].lower() in "aeiou" else "a"
        if not isinstance(path, str) or not path:
            raise ConfigurationError(
                f"{key}['BACKEND'] must be a dotted path to {article} {noun} subclass."
            )
        try:
            backend = import_string(path)
        except ImportError as exc:
            if type(exc) not in (ImportError, ModuleNotFoundError):
                raise  # MissingExtra: its message already says what to install
            raise ConfigurationError(f"{key}['BACKEND'] cannot be imported: {exc}") from exc
        if not (isinstance(backend, type) and issubclass(backend, self.base)):
            raise ConfigurationError(f"{key}['BACKEND'] {path!r} is not {article} {noun} subclass.")
        return backend

    def _on_setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        if setting == SETTINGS_NAME:
            self.clear()


def check_options(backend: type[Plugin], options: Mapping[str, Any], key: str) -> None:
    """Refuse options ``backend``'s constructor does not take, naming the exact key.

    Args:
        backend: The backend class.
        options: The entry's ``OPTIONS``.
        key: The entry's settings key, for the message.

    Raises:
        ConfigurationError: An option is not a keyword-only constructor argument.
    """
    parameters = inspect.signature(backend.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return  # the backend checks its own options
    accepted = {n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigurationError(
            f"{key}['OPTIONS'][{unknown[0]!r}]: unknown option(s) {', '.join(unknown)} for "
            f"{backend.__name__}; accepted: {', '.join(sorted(accepted)) or 'none'}."
        )
