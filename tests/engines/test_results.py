"""TranscriptResult JSON round trip and stitching of chunk results."""

from __future__ import annotations

import itertools
import json

from transcription_platform.engines import Segment, TranscriptResult, Usage, Word, stitch


def result(segments, *, duration, language="en", usage=None, text=None):
    segments = tuple(segments)
    return TranscriptResult(
        text=text if text is not None else " ".join(s.text for s in segments),
        segments=segments,
        language=language,
        duration=duration,
        model="m",
        usage=usage or Usage(audio_seconds=duration),
    )


def seg(i, start, end, text, words=()):
    return Segment(i, start, end, text, tuple(words))


def test_json_round_trip_through_a_string():
    original = result(
        [seg(0, 0.0, 1.5, "hello there", [Word(0.0, 0.6, "hello", 0.9), Word(0.7, 1.5, "there")])],
        duration=2.0,
        usage=Usage(audio_seconds=2.0, input_tokens=10, output_tokens=3),
    )
    restored = TranscriptResult.from_dict(json.loads(json.dumps(original.to_dict())))
    assert restored == original


def test_stitch_shifts_timestamps_and_renumbers_contiguously():
    first = result([seg(0, 0.0, 4.0, "one two"), seg(1, 5.0, 9.5, "three")], duration=10.0)
    second = result(
        [seg(0, 0.5, 3.0, "four", [Word(0.5, 1.0, "four")]), seg(1, 3.0, 6.0, "five six")],
        duration=8.0,
        language="en",
    )
    merged = stitch([(10.0, second), (0.0, first)])  # order of arrival does not matter
    assert [s.id for s in merged.segments] == [0, 1, 2, 3]
    assert [(s.start, s.end) for s in merged.segments] == [
        (0.0, 4.0),
        (5.0, 9.5),
        (10.5, 13.0),
        (13.0, 16.0),
    ]
    assert merged.segments[2].words == (Word(10.5, 11.0, "four"),)
    assert merged.text == "one two three four five six"
    assert merged.duration == 18.0
    assert merged.usage.audio_seconds == 18.0
    assert merged.language == "en"


def test_stitch_keeps_every_word_once_and_clamps_to_the_chunk_window():
    # The engine claims its last segment runs past the clip's end (common with Whisper).
    first = result([seg(0, 0.0, 9.0, "a b"), seg(1, 9.0, 12.5, "c")], duration=10.0)
    second = result([seg(0, 0.0, 2.0, "d e")], duration=5.0)
    merged = stitch([(0.0, first), (10.0, second)])
    assert merged.text.split() == ["a", "b", "c", "d", "e"]
    assert merged.segments[1].end == 10.0
    starts = [s.start for s in merged.segments]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in itertools.pairwise(merged.segments))


def test_json_only_results_become_one_segment_per_chunk():
    first = result([], duration=30.0, text="first chunk text", language="en")
    second = result([], duration=12.0, text="second chunk", language="fr")
    merged = stitch([(0.0, first), (30.0, second)])
    assert [(s.start, s.end, s.text) for s in merged.segments] == [
        (0.0, 30.0, "first chunk text"),
        (30.0, 42.0, "second chunk"),
    ]
    assert merged.language == "en"  # weighted by audio seconds


def test_usage_tokens_add_up_and_stay_none_when_never_reported():
    a = result([], duration=1.0, text="x", usage=Usage(1.0, 5, 2))
    b = result([], duration=1.0, text="y", usage=Usage(1.0, 7, None))
    assert stitch([(0.0, a), (1.0, b)]).usage == Usage(2.0, 12, 2)
    c = result([], duration=1.0, text="z")
    assert stitch([(0.0, c)]).usage == Usage(1.0, None, None)


def test_stitch_of_nothing_is_empty():
    merged = stitch([])
    assert merged.text == ""
    assert merged.segments == ()
