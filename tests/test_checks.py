"""System checks of the library and the ``startup_checks`` command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.checks import Error, run_checks
from django.core.management import CommandError, call_command
from django.test import override_settings

from transcription_platform import checks

STRONG_KEY = "x7#Lq9!vR2@mZ4$wT8^pK1&nB6*cY3(hF5)dJ0_gS" + "aE2-uN7+oI4"
FAKE_ENGINE = {"BACKEND": "transcription_platform.engines.fake.FakeEngine", "OPTIONS": {}}


def ids(messages: list) -> list[str]:
    return [message.id for message in messages]


WITH_SESSION = [
    "transcription_platform.auth.PlatformAuth",
    "transcription_platform.auth.SessionAuth",
]


def platform(**values: object) -> dict:
    """A TRANSCRIPTION_PLATFORM with the test engine plus ``values``.

    The test project installs the web pages, which need the session accepted by the API
    (else ``transcription_platform_web.W001``).
    """
    return {"ENGINES": {"default": FAKE_ENGINE}, "AUTHENTICATION": WITH_SESSION, **values}


@pytest.fixture(autouse=True)
def _reload_library_settings():
    yield
    # The checks read the settings object; leave it in the state of tests.settings.
    from transcription_platform.conf import settings

    settings.reload()


class TestLibraryChecks:
    def test_valid_configuration_has_no_errors(self) -> None:
        with override_settings(TRANSCRIPTION_PLATFORM=platform()):
            assert checks.check_settings() == []
            assert checks.check_library_wiring() == []

    def test_unknown_key_is_e001_and_skips_the_wiring_checks(self) -> None:
        with override_settings(TRANSCRIPTION_PLATFORM=platform(MAX_UPLOAD=1)):
            [error] = checks.check_settings()
            assert error.id == "transcription_platform.E001"
            assert "MAX_UPLOAD" in error.msg
            assert checks.check_library_wiring() == []

    def test_backend_that_cannot_be_imported_is_e002(self) -> None:
        engines = {
            "default": FAKE_ENGINE,
            "broken": {"BACKEND": "transcription_platform.engines.nope.Engine"},
        }
        with override_settings(TRANSCRIPTION_PLATFORM=platform(ENGINES=engines)):
            [error] = checks.check_library_wiring()
        assert error.id == "transcription_platform.E002"
        assert "['ENGINES']['broken']['BACKEND']" in error.msg
        assert "transcription_platform.engines.nope" in error.msg

    @pytest.mark.parametrize(
        "config",
        [{"OPTIONS": {}}, "transcription_platform.engines.fake.FakeEngine", {"BACKEND": 1}],
    )
    def test_entry_without_a_backend_path_is_e002(self, config: object) -> None:
        engines = {"default": FAKE_ENGINE, "odd": config}
        with override_settings(TRANSCRIPTION_PLATFORM=platform(ENGINES=engines)):
            assert ids(checks.check_library_wiring()) == ["transcription_platform.E002"]

    def test_options_must_be_a_dict(self) -> None:
        engines = {"default": {**FAKE_ENGINE, "OPTIONS": ["model"]}}
        with override_settings(TRANSCRIPTION_PLATFORM=platform(ENGINES=engines)):
            [error] = checks.check_library_wiring()
        assert error.id == "transcription_platform.E002"
        assert "['OPTIONS'] must be a dict" in error.msg

    def test_default_engine_must_exist_e003(self) -> None:
        with override_settings(TRANSCRIPTION_PLATFORM=platform(DEFAULT_ENGINE="whisper")):
            [error] = checks.check_library_wiring()
        assert error.id == "transcription_platform.E003"
        assert "'whisper'" in error.msg

    def test_default_analyzer_must_exist_e003(self) -> None:
        with override_settings(TRANSCRIPTION_PLATFORM=platform(DEFAULT_ANALYZER="gpt")):
            assert ids(checks.check_library_wiring()) == ["transcription_platform.E003"]

    def test_audio_storage_must_be_a_storages_alias_e004(self) -> None:
        with override_settings(TRANSCRIPTION_PLATFORM=platform(AUDIO_STORAGE="audio")):
            [error] = checks.check_library_wiring()
        assert error.id == "transcription_platform.E004"
        assert "'audio'" in error.msg

    @pytest.mark.parametrize("rate", ["100", "100/week", "lots/d", "10 per minute", 5])
    def test_invalid_rate_is_e005(self, rate: object) -> None:
        with override_settings(TRANSCRIPTION_PLATFORM=platform(RATE_LIMITS={"user": rate})):
            [error] = checks.check_library_wiring()
        assert error.id == "transcription_platform.E005"
        assert "['RATE_LIMITS']['user']" in error.msg

    @pytest.mark.parametrize("rate", ["100/d", "5/10m", "1/s", None])
    def test_valid_rates_and_disabled_scopes_pass(self, rate: object) -> None:
        with override_settings(TRANSCRIPTION_PLATFORM=platform(RATE_LIMITS={"user": rate})):
            assert checks.check_library_wiring() == []

    def test_health_check_must_import_e006(self) -> None:
        paths = ["transcription_platform.health.checks.database", "health.missing.check"]
        with override_settings(TRANSCRIPTION_PLATFORM=platform(HEALTH_CHECKS=paths)):
            [error] = checks.check_library_wiring()
        assert error.id == "transcription_platform.E006"
        assert "'health.missing.check'" in error.msg

    def test_health_check_must_be_callable_e006(self) -> None:
        paths = ["transcription_platform.checks.TAG"]
        with override_settings(TRANSCRIPTION_PLATFORM=platform(HEALTH_CHECKS=paths)):
            [error] = checks.check_library_wiring()
        assert error.id == "transcription_platform.E006"
        assert "not callable" in error.msg


class TestHostAndSecretChecks:
    def test_empty_secret_key_is_e010(self) -> None:
        with override_settings(SECRET_KEY=""):
            assert "transcription_platform.E010" in ids(checks.check_hosts_and_secret())

    def test_empty_allowed_hosts_with_debug_off_is_e012(self) -> None:
        with override_settings(DEBUG=False, ALLOWED_HOSTS=[]):
            assert ids(checks.check_hosts_and_secret()) == ["transcription_platform.E012"]

    def test_empty_allowed_hosts_is_fine_in_debug(self) -> None:
        with override_settings(DEBUG=True, ALLOWED_HOSTS=[]):
            assert checks.check_hosts_and_secret() == []


class TestDeploymentChecks:
    @pytest.mark.parametrize(
        "key",
        ["too-short", "a" * 60, "django-insecure-" + STRONG_KEY],
    )
    def test_weak_secret_key_is_e011(self, key: str) -> None:
        with override_settings(DEBUG=False, SECRET_KEY=key, ALLOWED_HOSTS=["example.com"]):
            assert "transcription_platform.E011" in ids(checks.check_deployment())

    @pytest.mark.django_db
    def test_empty_secret_key_is_left_to_e010(self) -> None:
        with override_settings(DEBUG=False, SECRET_KEY="", ALLOWED_HOSTS=["a.example"]):
            assert "transcription_platform.E011" not in ids(checks.check_deployment())
            err = StringIO()
            with pytest.raises(CommandError):
                call_command("startup_checks", stderr=err)
        assert "ERROR transcription_platform.E010: SECRET_KEY is not set." in err.getvalue()

    def test_wildcard_host_is_w012(self) -> None:
        with override_settings(DEBUG=False, SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS=["*"]):
            assert "transcription_platform.W012" in ids(checks.check_deployment())

    def test_per_process_cache_is_w013(self) -> None:
        with override_settings(DEBUG=False, SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS=["a.example"]):
            # tests.settings uses LocMemCache.
            assert ids(checks.check_deployment()) == ["transcription_platform.W013"]

    def test_atomic_cache_and_strong_key_pass(self) -> None:
        caches = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:6379/2",
            }
        }
        with override_settings(
            DEBUG=False, SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS=["a.example"], CACHES=caches
        ):
            assert checks.check_deployment() == []

    @pytest.mark.parametrize(
        "backend",
        [
            "django.core.cache.backends.filebased.FileBasedCache",
            "django.core.cache.backends.db.DatabaseCache",
        ],
    )
    def test_a_cache_that_counts_with_read_then_write_is_w013(self, tmp_path, backend) -> None:
        caches = {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "limits": {"BACKEND": backend, "LOCATION": str(tmp_path)},
        }
        with override_settings(
            DEBUG=False,
            SECRET_KEY=STRONG_KEY,
            ALLOWED_HOSTS=["a.example"],
            CACHES=caches,
            RATELIMIT_USE_CACHE="limits",
        ):
            [warning] = checks.check_deployment()
        assert warning.id == "transcription_platform.W013"
        assert "'limits'" in warning.msg
        assert "over-admit" in warning.msg

    def test_nothing_is_reported_in_debug(self) -> None:
        with override_settings(DEBUG=True, SECRET_KEY="weak", ALLOWED_HOSTS=["*"]):
            assert checks.check_deployment() == []

    def test_registered_as_deployment_checks_under_the_library_tag(self) -> None:
        with override_settings(DEBUG=False, SECRET_KEY="weak", ALLOWED_HOSTS=["a.example"]):
            plain = ids(run_checks(tags=[checks.TAG]))
            deploy = ids(run_checks(tags=[checks.TAG], include_deployment_checks=True))
        assert "transcription_platform.E011" not in plain
        assert "transcription_platform.E011" in deploy


@pytest.fixture
def unreachable_database():
    """A real PostgreSQL alias whose server is not there (loopback port 9: refused)."""
    from django.db import connections

    alias = "unreachable"
    configured = connections.configure_settings(
        {
            "default": connections["default"].settings_dict,
            alias: {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "app",
                "USER": "app",
                "PASSWORD": "s3cr3t-pw",
                "HOST": "127.0.0.1",
                "PORT": 9,
            },
        }
    )
    connections.settings[alias] = configured[alias]
    yield alias
    connections[alias].close()
    del connections[alias]
    del connections.settings[alias]


@pytest.mark.django_db
def test_database_check_reports_an_unreachable_database(unreachable_database: str) -> None:
    [error] = checks.check_database_connection(databases=["default", unreachable_database])
    assert error.id == "transcription_platform.E014"
    assert "Cannot connect to database 'unreachable' (postgresql 127.0.0.1:9 app)" in error.msg
    assert "s3cr3t-pw" not in error.msg
    assert "\n" not in error.msg


@pytest.mark.django_db
def test_database_check_connects_to_the_databases_asked_for() -> None:
    assert checks.check_database_connection(databases=["default"]) == []
    # Without databases (plain `manage.py check`) nothing is touched.
    assert checks.check_database_connection() == []


class TestStartupChecksCommand:
    def run(self, *args: str) -> tuple[str, str]:
        out, err = StringIO(), StringIO()
        call_command("startup_checks", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    @pytest.mark.django_db
    def test_passes_on_a_good_configuration(self) -> None:
        # DEBUG on: Django's own deployment warnings (HSTS...) are not asked for here;
        # the production settings of the example project are checked in their tests.
        with override_settings(DEBUG=True, TRANSCRIPTION_PLATFORM=platform()):
            out, err = self.run()
        assert out.strip() == "Startup checks passed."
        assert err == ""

    @pytest.mark.django_db
    def test_lists_every_problem_and_fails(self) -> None:
        err = StringIO()
        with (
            override_settings(
                DEBUG=False,
                SECRET_KEY="weak",
                ALLOWED_HOSTS=["*"],
                TRANSCRIPTION_PLATFORM=platform(DEFAULT_ENGINE="nope"),
            ),
            pytest.raises(CommandError, match="Start-up refused"),
        ):
            call_command("startup_checks", stdout=StringIO(), stderr=err)
        report = err.getvalue()
        assert "problem(s):" in report
        for expected in (
            "ERROR transcription_platform.E003",
            "ERROR transcription_platform.E011",
            "WARNING transcription_platform.W012",
            "WARNING transcription_platform.W013",
            "hint: ",
        ):
            assert expected in report
        # Errors first, then warnings.
        assert report.index("ERROR") < report.index("WARNING")

    @pytest.mark.django_db
    def test_warnings_alone_pass_unless_fail_level_is_warning(self) -> None:
        with override_settings(
            DEBUG=False,
            SECRET_KEY=STRONG_KEY,
            ALLOWED_HOSTS=["*"],
            TRANSCRIPTION_PLATFORM=platform(),
        ):
            out, err = self.run()
            assert "WARNING transcription_platform.W012" in err
            assert "passed" not in out
            with pytest.raises(CommandError):
                self.run("--fail-level", "WARNING")

    def test_library_errors_are_system_check_errors(self) -> None:
        with override_settings(TRANSCRIPTION_PLATFORM=platform(AUDIO_STORAGE="missing")):
            errors = [m for m in run_checks(tags=[checks.TAG]) if isinstance(m, Error)]
        assert "transcription_platform.E004" in ids(errors)


class TestDefaultEngineCheck:
    """W014: the README's empty TRANSCRIPTION_PLATFORM must not be silently broken."""

    def test_openai_default_without_any_key_warns(self, monkeypatch) -> None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        with override_settings(TRANSCRIPTION_PLATFORM={}):
            assert ids(checks.check_default_engine()) == ["transcription_platform.W014"]

    def test_a_key_in_the_environment_or_options_silences_it(self, monkeypatch) -> None:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-placeholder")
        with override_settings(TRANSCRIPTION_PLATFORM={}):
            assert checks.check_default_engine() == []
        monkeypatch.delenv("OPENAI_API_KEY")
        engine = {
            "BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
            "OPTIONS": {"api_key": "sk-test-placeholder"},
        }
        with override_settings(TRANSCRIPTION_PLATFORM={"ENGINES": {"default": engine}}):
            assert checks.check_default_engine() == []

    def test_an_offline_default_engine_needs_no_key(self, monkeypatch) -> None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        with override_settings(TRANSCRIPTION_PLATFORM=platform()):
            assert checks.check_default_engine() == []


class TestOptionalPackagesCheck:
    """E015: a configured feature whose package is missing names the extra to install."""

    def test_everything_installed_passes(self) -> None:
        assert checks.check_optional_packages() == []

    @pytest.mark.parametrize(
        ("module", "setting", "value", "extra"),
        [
            (
                "redis",
                "CACHES",
                {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}},
                "redis",
            ),
            ("redis", "Q_CLUSTER", {"name": "x", "redis": {"host": "127.0.0.1"}}, "redis"),
            (
                "storages",
                "STORAGES",
                {
                    "default": {"BACKEND": "storages.backends.s3.S3Storage"},
                    "staticfiles": {
                        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
                    },
                },
                "s3",
            ),
        ],
    )
    def test_a_missing_package_is_an_error_with_the_pip_line(
        self, monkeypatch, module: str, setting: str, value: dict, extra: str
    ) -> None:
        import sys

        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
        with override_settings(**{setting: value}):
            messages = checks.check_optional_packages()
        assert ids(messages) == ["transcription_platform.E015"]
        assert messages[0].hint == f'pip install "transcription-platform[{extra}]"'


class TestPlaceholderApiKeys:
    @pytest.mark.parametrize(
        "value",
        [
            "your_openai_api_key_here",
            "your-api-key",
            "YOUR_KEY_HERE",
            "<your api key>",
            "sk-xxxx",
            "xxxxxxxx",
            "changeme",
            "REPLACE_ME",
            "placeholder",
            "...",
        ],
    )
    def test_placeholders_are_recognised(self, value: str) -> None:
        assert checks.looks_like_placeholder(value)

    @pytest.mark.parametrize(
        "value",
        [
            None,
            "",
            "sk-proj-4f9Kq2LxT7vB1nR8sW3eY6uZ0aC5dH9j",
            "sk-test",
            "9xKp2Lq7RvT3mW8sY1bN6cZ4",
            "sk-there-7Hq2",  # "here" inside a word is not the template's "_here"
        ],
    )
    def test_real_looking_keys_are_not_placeholders(self, value: str | None) -> None:
        assert not checks.looks_like_placeholder(value)

    def test_engine_with_a_placeholder_key_is_w030(self) -> None:
        engines = {
            "default": FAKE_ENGINE,
            "openai": {
                "BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
                "OPTIONS": {"api_key": "your_openai_api_key_here"},
            },
        }
        with override_settings(TRANSCRIPTION_PLATFORM=platform(ENGINES=engines)):
            [warning] = checks.check_placeholder_api_keys()
        assert warning.id == "transcription_platform.W030"
        assert "engine 'openai'" in warning.msg
        assert "['ENGINES']['openai']['OPTIONS']['api_key']" in warning.msg
        assert "your_openai" not in warning.msg + warning.hint  # never echo a key

    def test_analyzer_with_a_placeholder_key_is_w030(self) -> None:
        analyzers = {
            "default": {
                "BACKEND": "transcription_platform.analysis.analyzers.openai.OpenAIAnalyzer",
                "OPTIONS": {"api_key": "<api key>"},
            }
        }
        with override_settings(TRANSCRIPTION_PLATFORM=platform(ANALYZERS=analyzers)):
            assert ids(checks.check_placeholder_api_keys()) == ["transcription_platform.W030"]

    def test_openai_backend_falls_back_to_a_placeholder_environment_key(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        engines = {
            "default": {"BACKEND": "transcription_platform.engines.openai.OpenAIEngine"},
        }
        monkeypatch.setenv("OPENAI_API_KEY", "your_openai_api_key_here")
        with override_settings(TRANSCRIPTION_PLATFORM=platform(ENGINES=engines)):
            [warning] = checks.check_placeholder_api_keys()
        assert "OPENAI_API_KEY environment variable" in warning.msg
        monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-4f9Kq2LxT7vB1nR8sW3eY6uZ0aC5dH9j")
        with override_settings(TRANSCRIPTION_PLATFORM=platform(ENGINES=engines)):
            assert checks.check_placeholder_api_keys() == []

    def test_real_keys_and_keyless_engines_pass(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OPENAI_API_KEY", "your_openai_api_key_here")
        engines = {
            "default": FAKE_ENGINE,  # not an OpenAI backend: the variable is not its key
            "openai": {
                "BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
                "OPTIONS": {"api_key": "sk-proj-4f9Kq2LxT7vB1nR8sW3eY6uZ0aC5dH9j"},
            },
        }
        with override_settings(TRANSCRIPTION_PLATFORM=platform(ENGINES=engines)):
            assert checks.check_placeholder_api_keys() == []

    def test_registered_under_the_library_tag(self) -> None:
        engines = {"default": {**FAKE_ENGINE, "OPTIONS": {"model": "x"}}}
        engines["cloud"] = {
            "BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
            "OPTIONS": {"api_key": "changeme"},
        }
        with override_settings(TRANSCRIPTION_PLATFORM=platform(ENGINES=engines)):
            assert "transcription_platform.W030" in ids(run_checks(tags=[checks.TAG]))


class TestHintsNameLibraryOrDjangoSettings:
    """The library's checks run on any site: their hints name Django settings and our
    docs, never a variable that only the example project reads."""

    EXAMPLE_PROJECT_VARIABLES = ("REDIS_URL", "CACHE_URL", "DATABASE_URL", "DJANGO_")

    def test_cache_warning_names_caches_and_the_docs(self) -> None:
        with override_settings(DEBUG=False, SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS=["a.example"]):
            [warning] = checks.check_deployment()
        assert warning.id == "transcription_platform.W013"
        assert "CACHES['default']" in warning.hint
        assert "operations.md#cache" in warning.hint
        assert "REDIS_URL" not in warning.hint

    def test_no_hint_names_an_example_project_variable(self, unreachable_database: str) -> None:
        with override_settings(DEBUG=False, SECRET_KEY="", ALLOWED_HOSTS=[]):
            messages = checks.check_hosts_and_secret()
        with override_settings(DEBUG=False, SECRET_KEY="weak", ALLOWED_HOSTS=["*"]):
            messages += checks.check_deployment()
        messages += checks.check_database_connection(databases=[unreachable_database])
        assert {m.id.rsplit(".", 1)[1] for m in messages} >= {
            "E010", "E011", "E012", "W012", "W013", "E014"
        }  # fmt: skip
        for message in messages:
            for variable in self.EXAMPLE_PROJECT_VARIABLES:
                assert variable not in (message.hint or ""), message
