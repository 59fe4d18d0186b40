"""The list and detail answers, serialised without ninja's validation pass
(``transcription_platform.rendering``), equal what the schemas would produce."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from ninja.responses import NinjaJSONEncoder

from tests.fixtures.api import API, bearer_client
from tests.fixtures.transcriptions import make_transcription
from transcription_platform.rendering import render
from transcription_platform.transcriptions.schemas import TranscriptionListItem, TranscriptionOut

pytestmark = pytest.mark.django_db

SEGMENTS = [
    {
        "id": 0,
        "start": 0,
        "end": 1.5,
        "text": "Hello there.",
        "tokens": [50364, 2425],  # stored by the engine, not part of the API
        "avg_logprob": -0.2,
        "words": [
            {"start": 0, "end": 0.5, "text": "Hello", "probability": 0.9, "speaker": "A"},
            {"start": 0.6, "end": 1.5, "text": "there."},
        ],
    },
    {"id": 1, "start": 2.0, "end": 3.0, "text": "No words here."},
]


def validated(schema, obj) -> dict:
    """What ninja answered before: schema validation, ``model_dump``, its encoder."""
    return json.loads(json.dumps(schema.model_validate(obj).model_dump(), cls=NinjaJSONEncoder))


def test_list_items_equal_the_validated_schema(user) -> None:
    rows = [
        make_transcription(user, "completed", title="Done", duration=12.5),
        make_transcription(user, "failed", title="Broken"),
        make_transcription(user, "pending"),
    ]
    page = bearer_client(user).get(f"{API}/transcriptions/").json()
    assert page["count"] == 3
    by_id = {item["id"]: item for item in page["results"]}
    for row in rows:
        row.refresh_from_db()
        assert by_id[str(row.pk)] == validated(TranscriptionListItem, row)
    assert by_id[str(rows[1].pk)]["error"] == {
        "code": "engine_rejected",
        "message": "The engine refused the audio.",
    }


def test_detail_equals_the_validated_schema_and_drops_undocumented_keys(user) -> None:
    transcription = make_transcription(user, "completed", segments=SEGMENTS, usage={"a": 1})
    response = bearer_client(user).get(f"{API}/transcriptions/{transcription.pk}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    transcription.refresh_from_db()
    expected = validated(TranscriptionOut, transcription)
    # The detail hooks (billing) add to the usage; the rest is the row's.
    assert body.pop("usage").items() >= expected.pop("usage").items()
    assert body == expected
    first = body["segments"][0]
    assert set(first) == {"id", "start", "end", "text", "words"}
    assert first["words"][0] == {"start": 0.0, "end": 0.5, "text": "Hello", "probability": 0.9}
    assert body["segments"][1]["words"] == []


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 2, 1, 2, 3, tzinfo=UTC),
        datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(2026, 12, 2, 1, 2, 3, 999, tzinfo=UTC),  # ".000", as Django writes it
        datetime(2026, 12, 2, 1, 2, 3, 120000, tzinfo=ZoneInfo("Europe/Lisbon")),
        datetime(2026, 7, 2, 1, 2, 3, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
        datetime(2026, 12, 2, 1, 2, 3, 5),  # naive
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        {"nested": [uuid.uuid4(), datetime(1999, 1, 1, tzinfo=UTC), "é", 1.5, None]},
    ],
)
def test_render_writes_the_bytes_of_ninjas_encoder(value) -> None:
    data = {"value": value, "text": "naïve ✓", "number": 0.1 + 0.2}
    assert render(data).content == json.dumps(data, cls=NinjaJSONEncoder).encode()


def test_a_filtered_list_and_the_plain_list_write_the_same_items(user) -> None:
    """The plain list runs SQL compiled once per process, a filtered one the ORM."""
    for index in range(3):
        make_transcription(user, "completed", title=f"T{index}")
    make_transcription(user, "failed", title="Broken")
    client = bearer_client(user)
    for _ in range(2):  # the first request compiles the shape, the second reuses it
        plain = client.get(f"{API}/transcriptions/?page_size=2&page=2").json()
        filtered = client.get(
            f"{API}/transcriptions/?page_size=2&page=2&created_after=2000-01-01T00:00:00Z"
        ).json()
        assert plain["results"] == filtered["results"]
        assert plain["count"] == filtered["count"] == 4
