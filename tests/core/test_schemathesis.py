"""Schemathesis over every operation of the live schema, in process (issue 12).

Every operation, authenticated with a JWT and with an API key, fed schema-conforming
and schema-violating data, with all of Schemathesis' checks: no 500, no status,
content type, header or body the schema does not declare, no invalid input accepted
and no valid input refused. Bounded by ``TP_SCHEMATHESIS_EXAMPLES`` (examples per
operation, mode and credential; 10 by default). ``nox -s schemathesis`` runs it; the
default suite skips it, which it would slow down by minutes.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest

from tests.fixtures.api import API
from tests.fixtures.users import make_user

ENABLED = bool(os.environ.get("TP_SCHEMATHESIS"))
MAX_EXAMPLES = int(os.environ.get("TP_SCHEMATHESIS_EXAMPLES", "10"))

pytestmark = [
    pytest.mark.skipif(not ENABLED, reason="run by nox -s schemathesis"),
    # Committed rows: the health checks run in threads, on connections of their own.
    pytest.mark.django_db(transaction=True),
]

#: Every scope of RATE_LIMITS: off, or most cases become (documented) 429s.
NO_RATE_LIMITS = dict.fromkeys(
    ["anon", "user", "login", "login_account", "registration", "refresh", "logout",
     "transcription_create", "auth_failure"],
    None,
)  # fmt: skip


#: Every check of Schemathesis, enabled. Only one setting departs from its defaults,
#: and says what docs/api.md promises: a request the schema allows may still be
#: refused by a business rule with a documented 4xx — 400 (a value the schema allows but
#: the operation refuses: an unknown refresh token, an address the webhook policy
#: refuses), 402 (a budget), 413/415 (an upload that is too long or not audio). A 422
#: for data the schema allows stays a failure: that is the schema lying.
CONFIG = {
    "checks": {
        "enabled": True,
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "402", "403", "404", "409", "413", "415"]
        },
    }
}


@functools.cache
def _load_schema() -> Any:
    import schemathesis
    from django.core.wsgi import get_wsgi_application
    from schemathesis.config import SchemathesisConfig

    return schemathesis.openapi.from_wsgi(
        f"{API}/openapi.json",
        get_wsgi_application(),
        config=SchemathesisConfig.from_dict(CONFIG),
    )


def _operations() -> list[str]:
    if not ENABLED:
        return []
    return [result.ok().label for result in _load_schema().get_all_operations()]


def _has_inputs(operation: Any) -> bool:
    """Whether some input of the operation can be made invalid (negative mode)."""
    definition = operation.definition.raw
    return bool(definition.get("requestBody")) or any(
        _can_be_invalid(parameter) for parameter in definition.get("parameters", [])
    )


def _can_be_invalid(parameter: dict[str, Any]) -> bool:
    # Any non-empty text is a valid unconstrained path string (e.g. /callbacks/{engine}/):
    # Schemathesis finds no invalid value and Hypothesis reports the run unsatisfiable.
    schema = parameter.get("schema", {})
    unconstrained = schema.get("type") == "string" and set(schema) <= {
        "type",
        "title",
        "description",
    }
    return not (parameter.get("in") == "path" and unconstrained)


@pytest.fixture
def credential(request, settings, tmp_storage) -> dict[str, str]:
    from ninja_jwt.tokens import RefreshToken

    from transcription_platform.accounts.services import create_api_key
    from transcription_platform.health.tasks import record_heartbeat

    record_heartbeat()  # a healthy site: the health endpoint answers 200, not 503

    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "RATE_LIMITS": NO_RATE_LIMITS,
    }
    # A superuser: role checks let every case reach the operation's own validation.
    user = make_user("fuzzer", is_staff=True, is_superuser=True)
    if request.param == "jwt":
        return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}
    _, secret = create_api_key(user, name="schemathesis")
    return {"X-API-Key": str(secret)}


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("credential", ["jwt", "api_key"], indirect=True)
@pytest.mark.parametrize("label", _operations())
def test_every_operation_conforms_to_the_schema(label, credential, mode):
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    schema = _load_schema()
    operation = next(
        result.ok() for result in schema.get_all_operations() if result.ok().label == label
    )
    if mode == "negative" and not _has_inputs(operation):
        pytest.skip("no parameter or body that can be made invalid")
    strategy = operation.as_strategy(generation_mode=GenerationMode(mode))

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def run(case: Any) -> None:
        # Given at the call, the credential is one Schemathesis knows to be valid: its
        # ignored_auth check then also replays the case without it and with a wrong one.
        for name in ("Authorization", "X-API-Key"):
            (case.headers or {}).pop(name, None)
        case.call_and_validate(headers=credential)

    run()
