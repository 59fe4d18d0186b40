"""The list and detail answers, serialised without ninja's validation pass
(``transcription_platform.rendering``), equal what the schemas would produce."""

from __future__ import annotations

import json

import pytest
from ninja.responses import NinjaJSONEncoder

from tests.fixtures.api import API, bearer_client
from tests.fixtures.transcriptions import make_transcription
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
