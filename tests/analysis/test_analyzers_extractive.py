"""ExtractiveAnalyzer on written meeting transcripts and the committed speech sample."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from transcription_platform.analysis.analyzers import AnalysisResult, TranscriptInput
from transcription_platform.analysis.analyzers.extractive import (
    ExtractiveAnalyzer,
    split_sentences,
)

FIXTURES = Path(__file__).parent / "fixtures"
SPEECH_SAMPLE = Path(__file__).parents[2] / "samples" / "speech_en.txt"


def load(name: str) -> str | dict:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else text


def sentences_of(transcript: str | dict) -> set[str]:
    return {s.text for s in split_sentences(TranscriptInput.coerce(transcript))}


def items_by_text(result: AnalysisResult) -> dict[str, object]:
    return {item.text: item for item in result.action_items}


def assert_extractive_summary(result: AnalysisResult, transcript: str | dict, bound: int) -> None:
    """The summary is made of whole sentences of the transcript, within the bound."""
    assert result.summary
    assert len(result.summary) <= bound
    available = sentences_of(transcript)
    remaining = result.summary
    for sentence in sorted(available, key=len, reverse=True):
        remaining = remaining.replace(sentence, "")
    assert remaining.strip() == "", f"not from the transcript: {remaining!r}"


@pytest.fixture
def analyzer() -> ExtractiveAnalyzer:
    return ExtractiveAnalyzer("test", **{"summary_sentences": 3, "summary_max_chars": 400})


def test_product_sync_action_items(analyzer):
    transcript = load("product_sync.txt")
    result = analyzer.analyze(transcript, language="en")

    items = items_by_text(result)
    test = items["I'll write the regression test for the login flow tomorrow morning."]
    assert (test.owner, test.due) == ("David", "tomorrow morning")  # the labelled speaker
    notes = items["Priya will finish the release notes by Thursday."]
    assert (notes.owner, notes.due) == ("Priya", "Thursday")
    usability = items["Tom, can you run a usability session on the new onboarding flow next week?"]
    assert (usability.owner, usability.due) == ("Tom", "next week")
    build = items["David to submit the build to the app store review no later than Friday."]
    assert (build.owner, build.due) == ("David", "Friday")
    review = items["Schedule a security review of the payment service next month."]
    assert (review.owner, review.due) == (None, "next month")  # an explicit marker
    shorten = items["We need to shorten the onboarding screens before the public release."]
    assert shorten.owner is None
    # Small talk, questions and negations with the shape of a commitment are not items.
    texts = " ".join(items)
    for phrase in ("get started", "pricing page", "be honest", "wrap up", "release notes?"):
        assert phrase not in texts
    assert len(items) == 6

    assert_extractive_summary(result, transcript, 400)
    labels = [t.label for t in result.topics]
    assert "onboarding screens" in labels
    assert result.topics[0].relevance == 1.0
    assert all(0 < t.relevance <= 1 for t in result.topics)


def test_budget_review_segments_are_timed(analyzer):
    transcript = load("budget_review.json")
    result = analyzer.analyze(transcript)

    items = items_by_text(result)
    plan = items["Jonas will ask the agency for a revised advertising plan before the 20th of May."]
    assert (plan.owner, plan.due, plan.start) == ("Jonas", "the 20th of May", 18.0)
    report = items["Elena, could you send the webinar registration report to the whole team?"]
    assert (report.owner, report.start) == ("Elena", 36.6)
    # A sentence cut across two segments is timed by the segment it begins in.
    deadline = next(i for i in result.action_items if i.text.startswith("The final budget"))
    assert (deadline.due, deadline.start) == ("Friday the 16th", 41.2)
    budget = items[
        "For next quarter we should move some of the trade show budget to online advertising."
    ]
    assert (budget.owner, budget.due, budget.start) == (None, "next quarter", 23.4)
    assert not any("webinar numbers?" in text for text in items)  # a question
    assert len(items) == 4

    assert_extractive_summary(result, transcript, 400)
    labels = [t.label for t in result.topics]
    assert "trade show" in labels
    assert "budget" in labels


def test_minutes_style_and_markers(analyzer):
    transcript = load("standup_minutes.txt")
    result = analyzer.analyze(transcript)

    items = items_by_text(result)
    quota = items["Omar to increase the storage bucket quota and add an alert for the backup job."]
    assert quota.owner == "Omar"
    move = items["Lena will move the monitoring dashboards to the new cluster by end of the week."]
    assert (move.owner, move.due) == ("Lena", "end of the week")
    runbook = items["Someone needs to write the runbook for restoring the database from a backup."]
    assert runbook.owner is None
    marker = items["Decommission the old cluster on March 14th once the backups are verified."]
    assert marker.due == "March 14th"
    texts = " ".join(items)
    assert "deployment pipeline" not in texts  # "did not need to": past, negated
    assert "budget" not in texts  # a question and a past fact
    assert all(item.start is None for item in result.action_items)  # untimed text
    assert len(items) == 4

    assert_extractive_summary(result, transcript, 400)
    assert "cluster" in [t.label for t in result.topics]


def test_explicit_markers_in_unpunctuated_speech(analyzer):
    """What the bundled Whisper model wrote for a spoken meeting: no punctuation, several
    markers and a named commitment run together in one segment."""
    transcript = load("payments_sync_asr.json")
    result = analyzer.analyze(transcript, language="en")

    found = [(i.text, i.owner, i.due, i.start) for i in result.action_items]
    assert found == [
        ("Schedule security review of the payment service next month", None, "next month", 0.0),
        ("Maria will prepare the rollback plan before next Tuesday", "Maria", "next Tuesday", 0.0),
        ("Migrate the billing database to the new cluster", None, None, 0.0),
        ("Update the incident runbook for the payment outage", None, None, 0.0),
        ("Follow up with the vendor", None, None, 0.0),
        ("Rotate the API keys on the gateway", "Omar", None, 29.76),
    ]
    assert_extractive_summary(result, transcript, 400)


@pytest.mark.skipif(not SPEECH_SAMPLE.exists(), reason="samples/speech_en.txt not committed yet")
def test_speech_sample_text():
    transcript = SPEECH_SAMPLE.read_text(encoding="utf-8")
    result = ExtractiveAnalyzer().analyze(transcript, language="en")

    assert_extractive_summary(result, transcript, 600)
    assert result.topics
    window = items_by_text(result)[
        "Please remember to close the window before you leave the house."
    ]
    assert window.owner is None
    assert result.model == "extractive-v1"
    assert result.usage.input_tokens == result.usage.output_tokens == 0


def test_summary_respects_sentence_and_length_bounds():
    sentences = [f"Sentence number {i} talks about the shared roadmap topic." for i in range(30)]
    transcript = " ".join(sentences)
    one = ExtractiveAnalyzer("one", **{"summary_sentences": 1}).analyze(transcript)
    assert one.summary in sentences
    short = ExtractiveAnalyzer("short", **{"summary_max_chars": 120}).analyze(transcript)
    assert 0 < len(short.summary) <= 120
    assert_extractive_summary(short, transcript, 120)


def test_summary_when_every_sentence_is_longer_than_the_bound():
    sentence = "The committee reviewed " + ", ".join(f"proposal {i}" for i in range(20)) + "."
    result = ExtractiveAnalyzer("tight", **{"summary_max_chars": 80}).analyze(sentence)
    assert len(result.summary) <= 80
    assert result.summary.endswith("\u2026")
    assert sentence.startswith(result.summary[:-1])


def test_headings_are_not_speakers():
    transcript = "Attendees: Grace, Omar.\nI will send the agenda."
    [item] = ExtractiveAnalyzer().analyze(transcript).action_items
    assert item.owner is None


def test_unpunctuated_speech_is_cut_into_pieces():
    # Some recognisers emit no punctuation: a summary must still be bounded.
    words = " ".join(["the migration plan needs review"] * 60)
    segments = [
        {"start": i * 5.0, "end": i * 5.0 + 5, "text": words[i * 30 : i * 30 + 30]}
        for i in range(len(words) // 30 + 1)
    ]
    result = ExtractiveAnalyzer().analyze({"segments": segments})
    assert 0 < len(result.summary) <= 600
    assert [t.label for t in result.topics][:1] == ["migration plan"]


def test_curly_quotes_and_speaker_labels():
    transcript = (
        "Ana: I\u2019ll send the contract to legal by Monday.\nBen: Thanks, that\u2019s great."
    )
    result = ExtractiveAnalyzer().analyze(transcript)
    [item] = result.action_items
    assert item.owner == "Ana"
    assert item.due == "Monday"
    assert "contract" in item.text


def test_empty_transcript_gives_empty_result():
    result = ExtractiveAnalyzer().analyze({"text": "  ", "segments": []})
    assert result == AnalysisResult(summary="", model="extractive-v1")


def test_transcript_of_stop_words_only():
    result = ExtractiveAnalyzer().analyze("Okay. Yeah. Um, so, yeah.")
    assert result.topics == []
    assert result.action_items == []
    assert re.fullmatch(r"[\w\s.,]+", result.summary)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"summary_sentences": 0}, "summary_sentences"),
        ({"summary_max_chars": "600"}, "summary_max_chars"),
        ({"max_topics": True}, "max_topics"),
        ({"extra_stopwords": "meeting"}, "extra_stopwords"),
        ({"sumary_sentences": 2}, "sumary_sentences"),
    ],
)
def test_bad_options_name_the_key(options, key):
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings

    from transcription_platform.analysis.analyzers import get_analyzer

    entry = {"BACKEND": f"{ExtractiveAnalyzer.__module__}.ExtractiveAnalyzer", "OPTIONS": options}
    with (
        override_settings(TRANSCRIPTION_PLATFORM={"ANALYZERS": {"offline": entry}}),
        pytest.raises(ImproperlyConfigured, match=rf"\['offline'\]\['OPTIONS'\]\['{key}'\]"),
    ):
        get_analyzer("offline")


def test_extra_stopwords_remove_topics():
    transcript = load("standup_minutes.txt")
    result = ExtractiveAnalyzer("x", **{"extra_stopwords": ["cluster"]}).analyze(transcript)
    assert all("cluster" not in t.label.lower() for t in result.topics)


@pytest.mark.parametrize(
    ("sentence", "owner", "due"),
    [
        ("We need to start the security audit this week.", None, "this week"),
        ("Kim is responsible for the vendor contract.", "Kim", None),
        ("Action item: renew the SSL certificates before 2026-12-01.", None, "2026-12-01"),
        ("To-do: Raj will book the venue within two weeks.", "Raj", "within two weeks"),
        ("Please send me the slides by EOD.", None, "EOD"),
        ("Make sure the invoices go out on the 3rd of June.", None, "the 3rd of June"),
        ("Sam, please review the pull request.", "Sam", None),
        ("The report is due next Monday.", None, "next Monday"),
        ("I'm going to draft the announcement tonight.", None, "tonight"),
    ],
)
def test_commitments_are_found(sentence, owner, due):
    [item] = ExtractiveAnalyzer().analyze(sentence).action_items
    assert (item.owner, item.due) == (owner, due)


@pytest.mark.parametrize(
    "sentence",
    [
        "Let's move on to the next topic.",
        "I'll share my screen now.",
        "I'll hand it over to Maria.",
        "We will see how it goes.",
        "Should we send the report to finance?",
        "We don't need to change the schedule.",
        "I will not attend the offsite.",
        "Last year we finished the audit by Friday the 3rd.",
        "The weather will be nice tomorrow.",
        "Everyone will get a bonus.",
        "Welcome to the quarterly planning call.",
        "Thanks to our hosts in Lisbon.",
    ],
)
def test_small_talk_questions_and_negations_are_not_items(sentence):
    assert ExtractiveAnalyzer().analyze(sentence).action_items == []


@pytest.mark.parametrize(
    ("transcript", "text", "owner", "due"),
    [
        (
            "Action item: schedule a security review of the payment service next month.",
            "Schedule a security review of the payment service next month.",
            None,
            "next month",
        ),
        (
            "Action item, schedule a security review of the payment service next month.",
            "Schedule a security review of the payment service next month.",
            None,
            "next month",
        ),
        (
            "action item schedule a security review of the payment service next month",
            "Schedule a security review of the payment service next month",
            None,
            "next month",
        ),
        (
            "The action item is to schedule a security review of the payment service.",
            "Schedule a security review of the payment service.",
            None,
            None,
        ),
        (
            "Action item. Schedule a security review of the payment service next month.",
            "Schedule a security review of the payment service next month.",
            None,
            "next month",
        ),
        ("Action Item: archive the old dashboards.", "Archive the old dashboards.", None, None),
        (
            "Action item for Omar: rotate the API keys on the gateway.",
            "Rotate the API keys on the gateway.",
            "Omar",
            None,
        ),
        (
            "Action item for Omar rotate the API keys on the gateway",
            "Rotate the API keys on the gateway",
            "Omar",
            None,
        ),
        (
            "Next step: migrate the billing database to the new cluster.",
            "Migrate the billing database to the new cluster.",
            None,
            None,
        ),
        (
            "The next step is to migrate the billing database by Friday.",
            "Migrate the billing database by Friday.",
            None,
            "Friday",
        ),
        ("To do: update the incident runbook.", "Update the incident runbook.", None, None),
        ("TODO update the incident runbook", "Update the incident runbook", None, None),
        ("To-do, update the incident runbook.", "Update the incident runbook.", None, None),
        (
            "Follow-up: send the signed contract to legal.",
            "Send the signed contract to legal.",
            None,
            None,
        ),
        (
            "Follow up with the vendor about the expired certificate.",
            "Follow up with the vendor about the expired certificate.",
            None,
            None,
        ),
        (
            "One more action item: Priya, can you send the notes?",
            "Priya, can you send the notes?",
            "Priya",
            None,
        ),
    ],
)
def test_explicit_markers_are_always_caught(transcript, text, owner, due):
    [item] = ExtractiveAnalyzer().analyze(transcript).action_items
    assert (item.text, item.owner, item.due) == (text, owner, due)


@pytest.mark.parametrize(
    "sentence",
    [
        "What are the action items?",
        "Any action items?",
        "Are there any action items from last week?",
        "We reviewed the action items from last week.",
        "That is the next step.",
        "The next step in the old process was manual.",
        "I have nothing to do with the budget.",
        "There is a lot to do before the launch.",
        "What to do about the budget is unclear.",
        "I don't know what to do.",
        "The follow up meeting went well.",
    ],
)
def test_marker_words_that_give_no_task_are_not_items(sentence):
    assert ExtractiveAnalyzer().analyze(sentence).action_items == []
