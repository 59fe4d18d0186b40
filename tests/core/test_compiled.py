"""Querysets compiled once per shape (``transcription_platform.compiled``): the same rows
as the ORM, for every caller, and a shape whose parameters differ is never reused."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from tests.fixtures.transcriptions import make_transcription
from transcription_platform import compiled
from transcription_platform.transcriptions.models import Transcription

pytestmark = pytest.mark.django_db

FIELDS = ("id", "title", "status", "created_at", "duration")


def shapes() -> dict:
    return connections["default"].__dict__.setdefault(compiled._ATTR, {})


@pytest.fixture(autouse=True)
def _no_shapes():
    shapes().clear()
    yield
    shapes().clear()


class Builds:
    """A ``build`` callable that counts its calls."""

    def __init__(self, owner):
        self.owner = owner
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return (
            Transcription.objects.filter(owner=self.owner)
            .order_by("-created_at", "-pk")
            .values(*FIELDS)
        )


def test_a_known_shape_reads_the_same_rows_without_building_the_queryset(user, other_user):
    mine = [make_transcription(user, "completed", title=f"t{i}", duration=1.5) for i in range(3)]
    theirs = make_transcription(other_user, "pending", title="other")
    build = Builds(user)
    first = compiled.values_rows("default", "shape", (user.pk,), lambda: build()[0:2])
    again = compiled.values_rows("default", "shape", (user.pk,), lambda: build()[0:2])
    assert build.calls == 1
    assert first == again == list(build()[0:2])
    assert {row["id"] for row in first} <= {t.pk for t in mine}
    # Another caller of the same shape: only the parameters change.
    build.owner = other_user
    other = compiled.values_rows("default", "shape", (other_user.pk,), lambda: build()[0:2])
    assert [row["id"] for row in other] == [theirs.pk]
    assert build.calls == 2  # the reader's first call, and the test's own list above


def test_count_of_a_known_shape_is_one_query(user, other_user):
    for _ in range(4):
        make_transcription(user, "pending")
    make_transcription(other_user, "pending")
    build = Builds(user)
    assert compiled.count("default", "n", (user.pk,), build) == 4
    with CaptureQueriesContext(connection) as queries:
        assert compiled.count("default", "n", (other_user.pk,), lambda: None) == 1
    assert len(queries) == 1
    assert build.calls == 1


def test_a_shape_whose_parameters_differ_from_the_compiled_ones_is_never_reused(user):
    make_transcription(user, "pending")
    build = Builds(user)
    # The caller claims no parameters, but the SQL takes the owner: not cached.
    assert compiled.count("default", "wrong", (), build) == 1
    assert compiled.count("default", "wrong", (), build) == 1
    assert build.calls == 2
    rows = compiled.values_rows("default", "wrong-rows", (), build)
    assert compiled.values_rows("default", "wrong-rows", (), build) == rows
    assert build.calls == 4


def test_first_instance_is_the_orm_row_or_none(user):
    transcription = make_transcription(user, "completed", title="x", segments=[{"id": 0}])
    pk_field = Transcription._meta.pk

    def read(pk):
        value = pk_field.get_db_prep_value(pk, connection)
        return compiled.first_instance(
            "default", "by-pk", (value,), lambda: Transcription.objects.filter(pk=pk)[:1]
        )

    found = read(transcription.pk)
    assert found is not None
    assert found.pk == transcription.pk
    with CaptureQueriesContext(connection) as queries:
        again = read(transcription.pk)
        missing = read(uuid.uuid4())
    assert len(queries) == 2
    assert missing is None
    expected = Transcription.objects.get(pk=transcription.pk)
    for field in Transcription._meta.concrete_fields:
        assert getattr(again, field.attname) == getattr(expected, field.attname), field.name
    assert again._state.db == "default"
    assert not again._state.adding
    # A model read this way saves like any other.
    again.title = "renamed"
    again.save(update_fields=["title"])
    assert Transcription.objects.get(pk=transcription.pk).title == "renamed"


def test_shapes_per_connection_are_bounded(user):
    make_transcription(user, "pending")
    build = Builds(user)
    for index in range(compiled.MAX_SHAPES + 5):
        compiled.count("default", ("many", index), (user.pk,), build)
    assert 0 < len(shapes()) <= compiled.MAX_SHAPES


def test_a_shape_with_extra_columns_is_read_through_the_orm(user):
    transcription = make_transcription(user, "completed", title="x")
    calls = []

    def build():
        calls.append(1)
        return Transcription.objects.filter(pk=transcription.pk).extra(select={"one": "1"})[:1]

    # The right parameters: only the extra column keeps the shape from being reused.
    params = (Transcription._meta.pk.get_db_prep_value(transcription.pk, connection),)
    for _ in range(2):
        found = compiled.first_instance("default", "extra", params, build)
        assert found is not None
        assert found.pk == transcription.pk
    assert len(calls) == 2  # never reused
