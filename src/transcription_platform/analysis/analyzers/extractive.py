"""An offline analyzer with no model: it only selects and matches, it never writes.

* summary — the highest-scoring sentences of the transcript itself (word-frequency
  scoring with a redundancy penalty), in their original order;
* topics — the most frequent content words and repeated multi-word phrases;
* action items — sentences that match commitment patterns ("Sarah will …", "we need
  to …", "… by Friday"), with the named owner and the deadline as said, linked to the
  start of the segment they were said in. Explicit markers ("action item", "to do",
  "next step", "follow up") are always caught, wherever they fall in the sentence and
  with or without punctuation, as a speech recogniser writes them.

It is tuned for English (its stop words and patterns are English). It cannot
paraphrase, infer an owner who is not named, or understand what was decided.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from transcription_platform.analysis.analyzers.base import (
    ActionItem,
    AnalysisResult,
    Analyzer,
    Topic,
    TranscriptInput,
)


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


STOPWORDS = _wordset(
    """
    a about above after again against all almost already also although always am among an
    and another any anybody anyone anything anyway anywhere are aren't around as at away
    back be became because become been before being below between both but by can can't
    cannot could couldn't did didn't do does doesn't doing don't done down during each
    either else enough etc even ever every everybody everyone everything everywhere few
    for from further get gets getting give given go goes going gone got gotten had hadn't
    has hasn't have haven't having he he'd he'll he's her here here's hers herself him
    himself his how how's however i i'd i'll i'm i've if in into is isn't it it's its
    itself just let let's like made make makes many may maybe me might mine more most
    much must mustn't my myself neither never no nobody none nor not nothing now of off
    often on once one only onto or other others otherwise our ours ourselves out over own
    per perhaps put quite rather really said same say says see seem seems shall shan't
    she she'd she'll she's should shouldn't since so some somebody someone something
    sometimes somewhat still such sure take taken than that that's the their theirs them
    themselves then there there's these they they'd they'll they're they've thing things
    think this those though through thus till to together too toward towards under
    unless until up upon us very via was wasn't way we we'd we'll we're we've well went
    were weren't what what's whatever when whenever where where's whether which while who
    who's whoever whole whom whose why will with within without won't would wouldn't yes
    yet you you'd you'll you're you've your yours yourself yourselves
    actually alright basically gonna gotta hmm kind kinda know lot lots mean mhm okay ok
    oh pretty right sort stuff uh um umm uhm wanna yeah yep yup guess want need needs
    good great thanks thank hello hi bye sounds sound anyway everyone today tomorrow
    yesterday next last first second new time times bit little able call called come
    comes coming look looks looking talk talking tell told feel try trying use using
    day days week weeks month months year years old big small high low long short full
    fine most least main part end start half across along behind beside beyond near
    inside outside later earlier likes liked remember forget please
    monday tuesday wednesday thursday friday saturday sunday
    """
)

# Words that start a sentence with a capital but are never a person's name.
_NOT_NAMES = STOPWORDS | _wordset(
    """
    january february march april may june july august september october november december
    team everybody everyone nobody someone somebody anyone anybody people guys folks
    action item items note next step steps follow todo todos also then attendees agenda
    summary decision
    decisions notes minutes date location subject topic present absent participants
    welcome thanks """
)

_ABBREVIATIONS = _wordset("mr mrs ms dr prof st jr sr vs etc inc ltd co e.g i.e approx dept fig no")
# Patterns match a copy of the text with typographic quotes and dashes made plain; the
# mapping is one character to one, so positions found in the copy hold in the original.
_PLAIN = str.maketrans("\u2018\u2019\u201c\u201d\u2013\u2014", "''\"\"--")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SPEAKER = re.compile(r"^\s*(?P<speaker>[A-Z][\w.\-]*(?: [A-Z][\w.\-]*){0,2})\s*:\s+")
_MAX_SENTENCE_WORDS = 60  # unpunctuated ASR output is cut into pieces of about this size

# --------------------------------------------------------------------------- patterns

_WEEKDAY = (
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"mon|tues?|wed|thu(?:rs?)?|fri)"
)
_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)"
)
_ORDINAL = r"\d{1,2}(?:st|nd|rd|th)?"
_NUMBER_WORD = r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|\d+)"
_WHEN = (
    rf"(?:{_MONTH}\.?\s+(?:the\s+)?{_ORDINAL}\b|(?:the\s+)?{_ORDINAL}\s+(?:of\s+)?{_MONTH}\b|"
    rf"\d{{4}}-\d{{2}}-\d{{2}}|"
    rf"\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?|"
    rf"(?:(?:this|next|the\s+coming|coming)\s+)?{_WEEKDAY}\b"
    rf"(?:\s+the\s+{_ORDINAL}\b|\s+(?:morning|afternoon|evening|night))?|"
    rf"tomorrow(?:\s+(?:morning|afternoon|evening|night))?|tonight|today|"
    rf"(?:the\s+)?end\s+of\s+(?:the\s+|this\s+|next\s+)?(?:day|week|month|quarter|year|sprint)|"
    rf"(?:next|this)\s+(?:week|month|quarter|sprint)|eod|eow|cob|noon|midnight)"
)
# "by Friday", "due the 3rd of May", "before end of the month", "in two weeks".
_DUE = re.compile(
    rf"\b(?:(?:by|before|until|till|no\s+later\s+than|due(?:\s+(?:on|by))?|on|for)\s+"
    rf"(?P<when>{_WHEN})|(?P<span>(?:in|within)\s+{_NUMBER_WORD}\s+(?:days?|weeks?|months?))|"
    rf"(?P<bare>tomorrow(?:\s+(?:morning|afternoon|evening))?|tonight|"
    rf"(?:next|this)\s+(?:week|month|quarter|sprint)|"
    rf"(?:the\s+)?end\s+of\s+(?:the\s+)?(?:day|week|month)))\b",
    re.IGNORECASE,
)
# A deadline on its own makes a sentence an action item ("The deck is due Friday").
_DEADLINE = re.compile(
    rf"\b(?:by|before|no\s+later\s+than|due(?:\s+(?:on|by))?|deadline\s+is)\s+{_WHEN}",
    re.IGNORECASE,
)
# Explicit markers. "action item" and "next step" say so in any position; "to do" and
# "follow up" are also ordinary words, so they count only where they cannot be
# ("nothing to do with", "the follow up meeting"): see _explicit_marker().
_MARKER = re.compile(
    r"\b(?P<marker>action[\s-]+items?|next[\s-]+steps?|to-dos?|todos?|to\s+do|"
    r"follow[\s-]+ups?)\b",
    re.IGNORECASE,
)
# What may stand between a marker and its task: "for Omar", ":", "is to", "would be".
_MARKER_LINK = re.compile(
    r"(?P<link>[\s:;,.\-]*(?:(?:is|are|would\s+be|will\s+be)\b[\s:,]*(?:to\b)?)?[\s:;,.\-]*)",
    re.IGNORECASE,
)
_MARKER_FOR = re.compile(r"\s+for\s+(?P<owner>[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?)\s*[:,\-]?")
# A marker followed by one of these is talked about, not given: "the action items from
# last week", "the next step in the process", "what we have to do is …".
_NOT_A_TASK_START = _wordset(
    """
    from of in at about that which who were was had have has and or so list is are be
    been on by during since this these those it its they them we've i've
    """
)
# "to do" after these is an infinitive: "need to do", "nothing to do", "what to do".
_INFINITIVE_LEAD = _wordset(
    """
    need needs needed have has had want wants wanted going got able nothing something
    anything everything what how much more lot lots plan plans planned like try tried
    trying used supposed ought decided agreed forgot remember easy hard things thing
    time way left lot to also still
    """
)
_FOLLOW_UP_LEAD = _wordset(
    """
    will 'll to should must can could would please i we you they he she let's need
    needs shall gonna the a an this that our your their his her my its
    """
)
_NAME = r"(?:[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?(?:\s+[A-Z][a-z]+)?)"
_MODAL = (
    r"(?:will|shall|'ll|is\s+going\s+to|is\s+gonna|is\s+to|needs\s+to|has\s+to|"
    r"agreed\s+to|volunteered\s+to|offered\s+to|promised\s+to|is\s+responsible\s+for)"
)
_NAMED = re.compile(rf"(?P<owner>{_NAME})\s*{_MODAL}\s+(?P<rest>.*)")
# Minutes style: "Priya to draft the proposal by Monday" — a verb follows "to", never a
# determiner ("Welcome to the call", "Thanks to our hosts").
_MINUTES = re.compile(
    rf"^(?P<owner>{_NAME})\s+to\s+(?!(?:the|a|an|this|that|these|those|my|your|our|their|"
    rf"his|her|its|all|every|each|some|me|you|us|them|him|it)\b)(?P<rest>[a-z].*)"
)
_VOCATIVE = re.compile(rf"^(?P<owner>{_NAME})\s*,\s*(?:(?:can|could|would|will)\s+you|please)\b")
_ASSIGNED = re.compile(rf"\b(?:assigned\s+to|owner\s*:)\s*(?P<owner>{_NAME})")
_GROUP = re.compile(
    r"\b(?:(?:we|i|someone|somebody)\s+(?:will|shall|need\s+to|needs\s+to|have\s+to|has\s+to|"
    r"must|should|are\s+going\s+to|am\s+going\s+to|are\s+gonna|am\s+gonna|gotta|"
    r"got\s+to|ought\s+to)|(?:we|i)'(?:ll|re\s+going\s+to|m\s+going\s+to|re\s+gonna|"
    r"m\s+gonna)|you\s+(?:need\s+to|have\s+to|must)|let'?s|(?:can|could|would|will)\s+you|"
    r"please|make\s+sure|remember\s+to|don't\s+forget\s+to|be\s+sure\s+to)\s+(?P<rest>.*)",
    re.IGNORECASE,
)
_FILLER_LEAD = re.compile(
    r"^(?:(?:so|okay|ok|and|um|uh|alright|all\s+right|right|well|also|then|yeah)\b[,\s]*)+",
    re.IGNORECASE,
)
# Meeting small talk that has the form of a commitment: "let's get started", "I'll
# hand it over", "we will see", "I'll share my screen" (but "we should move the budget"
# and "we need to start the audit" are tasks).
_SMALL_TALK = re.compile(
    r"(?:start|begin|move|get|go|wrap|hand|pass|turn|switch|jump|dive|continue|finish|"
    r"end|stop|take)\s+(?:on|up|over|ahead|with|through|in|into|off|back|started|going|"
    r"it\s+over|a\s+look|a\s+break|a\s+step\s+back)\b|"
    r"(?:start|begin|continue|finish|stop|end)\W*$|share\s+(?:my\s+|the\s+|your\s+)?screen|"
    r"(?:see|let|keep|tell|say|hear|look|try|not|never|think|guess|wonder|recap)\b",
    re.IGNORECASE,
)
_ADVERBS = _wordset(
    "just also then probably definitely quickly first still now really actually all both"
)
_QUESTION_START = re.compile(
    r"^(?:do|does|did|should|shall|is|are|was|were|have|has|had|what|why|how|when|where|"
    r"who|which|whose|am|isn't|aren't|don't|doesn't)\b",
    re.IGNORECASE,
)
# A deadline in a report of the past is not a task: "last year we finished by May".
_PAST = re.compile(
    r"\b(?:last\s+(?:year|week|month|quarter|time|sprint)|yesterday|ago|previously|"
    r"was|were|had|did|(?:we|i|they|he|she|you)\s+\w+ed)\b",
    re.IGNORECASE,
)
_REQUEST = re.compile(r"\b(?:can|could|would|will)\s+you\b|\bplease\b", re.IGNORECASE)


# --------------------------------------------------------------------------- sentences


@dataclass(frozen=True)
class Sentence:
    text: str
    start: float | None  # start of the segment the sentence begins in
    speaker: str | None  # "Alice" when the line was labelled "Alice: …"


def split_sentences(transcript: TranscriptInput) -> list[Sentence]:
    """The transcript's sentences, each with the start of the segment it begins in.

    Segments are joined before splitting because speech recognisers cut segments
    mid-sentence; a "Name:" at the start of a segment or line labels the speaker.
    """
    pieces: list[tuple[str, float | None]]
    if transcript.segments:
        pieces = [(s.text.strip(), s.start) for s in transcript.segments if s.text.strip()]
    else:
        pieces = [(line.strip(), None) for line in transcript.text.splitlines() if line.strip()]
    sentences: list[Sentence] = []
    speaker: str | None = None
    text = ""
    offsets: list[int] = []  # where each piece begins in ``text``
    starts: list[float | None] = []
    speakers: list[str | None] = []
    for piece, start in pieces:
        label = _SPEAKER.match(piece)
        if label and _is_name(label.group("speaker")):
            speaker = label.group("speaker")
            piece = piece[label.end() :]
            # A new speaker always starts a new sentence, punctuated or not.
            sentences.extend(_sentences_of(text, offsets, starts, speakers))
            text, offsets, starts, speakers = "", [], [], []
        offsets.append(len(text))
        starts.append(start)
        speakers.append(speaker)
        text += piece + " "
    sentences.extend(_sentences_of(text, offsets, starts, speakers))
    return sentences


def _sentences_of(
    text: str, offsets: list[int], starts: list[float | None], speakers: list[str | None]
) -> Iterator[Sentence]:
    def at(position: int) -> int:
        return bisect.bisect_right(offsets, position) - 1

    begin = 0
    for match in _SENTENCE_END.finditer(text.translate(_PLAIN)):
        previous = text[begin : match.start()].rsplit(None, 1)
        word = previous[-1].lower() if previous else ""
        if match.group().startswith(".") and (word in _ABBREVIATIONS or _is_initial(word)):
            continue
        yield from _pieces(text, begin, match.end(), offsets, at, starts, speakers)
        begin = match.end()
    yield from _pieces(text, begin, len(text), offsets, at, starts, speakers)


def _is_initial(word: str) -> bool:
    return len(word) == 1 and word.isalpha()


def _pieces(
    text: str,
    begin: int,
    end: int,
    offsets: list[int],
    at: Callable[[int], int],
    starts: list[float | None],
    speakers: list[str | None],
) -> Iterator[Sentence]:
    """One sentence, or several when an unpunctuated run is too long to be one."""
    raw = text[begin:end]
    lead = len(raw) - len(raw.lstrip())
    begin += lead
    raw = raw.strip()
    if not raw:
        return
    words = list(re.finditer(r"\S+", raw))
    if len(words) <= _MAX_SENTENCE_WORDS:
        index = at(begin)
        yield Sentence(raw, starts[index], speakers[index])
        return
    # Cut at segment boundaries when there are any inside the run, else by word count.
    cuts = [o - begin for o in offsets if begin < o < begin + len(raw)]
    if not cuts:
        step = _MAX_SENTENCE_WORDS // 2
        cuts = [words[i].start() for i in range(step, len(words), step)]
    for left, right in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        part = raw[left:right].strip()
        if part:
            index = at(begin + left + (len(raw[left:right]) - len(raw[left:right].lstrip())))
            yield Sentence(part, starts[index], speakers[index])


# --------------------------------------------------------------------------- words


def _content_words(text: str, stopwords: frozenset[str]) -> list[str]:
    words = []
    for match in _WORD.finditer(text.translate(_PLAIN)):
        word = match.group().lower()
        word = word.removesuffix("'s")
        if len(word) < 3 or word.isdigit() or word in stopwords:
            continue
        words.append(word)
    return words


def _normaliser(counts: Counter[str]) -> dict[str, str]:
    """Plural → singular when the singular is also said ("budgets" → "budget")."""
    mapping = {}
    for word in counts:
        for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
            stem = word[: -len(suffix)] + replacement if word.endswith(suffix) else None
            if stem and stem in counts and len(stem) >= 3:
                mapping[word] = stem
                break
    return mapping


# --------------------------------------------------------------------------- analyzer


class ExtractiveAnalyzer(Analyzer):
    """Offline summary, topics and action items by sentence scoring and patterns.

    OPTIONS: ``summary_sentences`` (most sentences in the summary, default 3),
    ``summary_max_chars`` (length bound of the summary, default 600), ``max_topics``
    (default 5), ``extra_stopwords`` (words never to report as topics).
    """

    #: Recorded as ``model`` on results: there is no model, only this algorithm.
    model = "extractive-v1"

    def __init__(
        self,
        alias: str = "default",
        *,
        summary_sentences: int = 3,
        summary_max_chars: int = 600,
        max_topics: int = 5,
        extra_stopwords: Sequence[str] = (),
    ) -> None:
        super().__init__(alias)
        self.summary_sentences = self.positive_number(
            "summary_sentences", summary_sentences, integer=True
        )
        self.summary_max_chars = self.positive_number(
            "summary_max_chars", summary_max_chars, integer=True
        )
        self.max_topics = self.positive_number("max_topics", max_topics, integer=True)
        if not isinstance(extra_stopwords, list | tuple) or not all(
            isinstance(w, str) for w in extra_stopwords
        ):
            raise self.option_error("extra_stopwords", "must be a list of words")
        self.stopwords = STOPWORDS | {w.lower() for w in extra_stopwords}

    def analyze_transcript(
        self, transcript: TranscriptInput, *, language: str | None, api_key: str | None
    ) -> AnalysisResult:
        sentences = split_sentences(transcript)
        words = [_content_words(s.text, self.stopwords) for s in sentences]
        counts = Counter(w for ws in words for w in ws)
        normal = _normaliser(counts)
        words = [[normal.get(w, w) for w in ws] for ws in words]
        return AnalysisResult(
            summary=self.summarise(sentences, words),
            topics=self.find_topics(sentences, normal),
            action_items=find_action_items(sentences),
            model=self.model,
        )

    # -- summary

    def summarise(self, sentences: list[Sentence], words: list[list[str]]) -> str:
        """The best sentences, chosen greedily: informative, and unlike those chosen."""
        frequency = Counter(w for ws in words for w in ws)
        top = max(frequency.values(), default=1)
        relevance = [
            sum(frequency[w] / top for w in set(ws)) / math.sqrt(len(ws) + 4) for ws in words
        ]
        chosen: list[int] = []
        remaining = set(range(len(sentences)))
        used = 0
        first_pick = None
        while remaining and len(chosen) < self.summary_sentences:
            best, best_score = -1, -math.inf
            for i in sorted(remaining):
                overlap = max((_similarity(words[i], words[j]) for j in chosen), default=0.0)
                score = relevance[i] * (1 - 0.6 * overlap)
                if score > best_score:
                    best, best_score = i, score
            remaining.discard(best)
            first_pick = best if first_pick is None else first_pick
            extra = len(sentences[best].text) + (1 if chosen else 0)
            if used + extra > self.summary_max_chars:
                continue  # too long to fit; a shorter one may still
            chosen.append(best)
            used += extra
        if not chosen and first_pick is not None:
            # Every sentence is longer than the bound: the best one, cut at a word.
            return _shorten(sentences[first_pick].text, self.summary_max_chars)
        return " ".join(sentences[i].text for i in sorted(chosen))

    # -- topics

    def find_topics(self, sentences: list[Sentence], normal: dict[str, str]) -> list[Topic]:
        """Repeated phrases (runs of content words) and frequent words, strongest first."""
        counts: Counter[tuple[str, ...]] = Counter()
        surface: dict[tuple[str, ...], Counter[str]] = {}
        for sentence in sentences:
            for run in self._runs(sentence.text):
                keys = [normal.get(w.lower(), w.lower()) for w in run]
                for size in (1, 2, 3):
                    for i in range(len(run) - size + 1):
                        key = tuple(keys[i : i + size])
                        counts[key] += 1
                        surface.setdefault(key, Counter())[" ".join(run[i : i + size])] += 1
        if not counts:
            return []
        scored: dict[tuple[str, ...], float] = {}
        for key, count in counts.items():
            if len(key) == 1:
                scored[key] = count
            elif count >= 2:
                # A repeated phrase says more than its words alone.
                scored[key] = count * (1 + 0.5 * len(key))
        chosen: list[tuple[str, ...]] = []
        # Ties go to longer phrases, then longer words: they tend to be more specific.
        by_strength = sorted(scored, key=lambda k: (-scored[k], -len(k), -len("".join(k)), k))
        for key in by_strength:
            if len(chosen) == self.max_topics:
                break
            if counts[key] < 2 and len(chosen) >= 1 and max(counts.values()) >= 2:
                break  # only one-off words remain; they are noise once repeats exist
            if any(_contains(other, key) or _contains(key, other) for other in chosen):
                continue
            chosen.append(key)
        best = scored[chosen[0]]
        return [
            Topic(
                label=_label(surface[key]),
                relevance=round(scored[key] / best, 2),
            )
            for key in chosen
        ]

    def _runs(self, text: str) -> Iterator[list[str]]:
        """Runs of adjacent content words, broken by stop words and punctuation."""
        run: list[str] = []
        position = 0
        text = text.translate(_PLAIN)
        for match in _WORD.finditer(text):
            gap = text[position : match.start()]
            position = match.end()
            word = match.group().removesuffix("'s")
            lower = word.lower()
            content = len(lower) >= 3 and not lower.isdigit() and lower not in self.stopwords
            if run and (not content or any(c in gap for c in ',.;:!?()"-')):
                yield run
                run = []
            if content:
                run.append(word)
        if run:
            yield run


def _shorten(text: str, limit: int) -> str:
    cut = text[: limit - 1].rsplit(None, 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,;:") + "\u2026"


def _similarity(a: list[str], b: list[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / math.sqrt(len(sa) * len(sb))


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    if len(shorter) >= len(longer):
        return False
    return any(
        longer[i : i + len(shorter)] == shorter for i in range(len(longer) - len(shorter) + 1)
    )


def _label(forms: Counter[str]) -> str:
    """The most used spelling; a sentence-initial capital loses to the lower-case form."""
    best = max(forms.items(), key=lambda item: (item[1], item[0].islower()))[0]
    lower = best.lower()
    if lower != best and forms.get(lower) and not best.isupper():
        return lower
    return best


# --------------------------------------------------------------------------- action items


def find_action_items(sentences: list[Sentence]) -> list[ActionItem]:
    """Sentences that commit someone to something, one item per sentence or clause.

    A sentence holding explicit markers is first cut at each of them (an unpunctuated
    run of speech can hold several), and a marker's task ends where another commitment
    ("Maria will …") begins; a marker said as a sentence of its own ("Action item.")
    takes the next sentence as its task.
    """
    items: list[ActionItem] = []
    seen: set[str] = set()
    for sentence, explicit in _clauses(sentences):
        item = _explicit_item(sentence, explicit) if explicit else _action_item(sentence)
        if item is None:
            continue
        key = re.sub(r"\W+", " ", item.text.lower()).strip()
        if key in seen:
            continue
        seen.add(key)
        items.append(item)
    return items


def _action_item(sentence: Sentence) -> ActionItem | None:
    text = _FILLER_LEAD.sub("", sentence.text.translate(_PLAIN)).strip()
    if len(text.split()) < 3:
        return None
    due = _due(text)
    question = text.rstrip().endswith("?")
    if question and not _REQUEST.search(text):
        return None
    if _QUESTION_START.match(text) and not _REQUEST.search(text):
        return None
    named = _NAMED.search(text)
    if named and _is_name(named.group("owner")) and _is_action(named.group("rest")):
        return ActionItem(_capitalise(text), named.group("owner"), due, sentence.start)
    minutes = _MINUTES.match(text)
    if minutes and _is_name(minutes.group("owner")):
        return ActionItem(_capitalise(text), minutes.group("owner"), due, sentence.start)
    group = _GROUP.search(text)
    if group and _is_action(group.group("rest")):
        owner = _owner(text)
        if owner is None and re.match(r"^i\b|^i'", group.group().lower()):
            owner = sentence.speaker  # "Alice: I'll send it" — the speaker commits
        return ActionItem(_capitalise(text), owner, due, sentence.start)
    if _DEADLINE.search(text) and not _PAST.search(text):
        return ActionItem(_capitalise(text), _owner(text), due, sentence.start)
    return None


@dataclass(frozen=True)
class _Explicit:
    """The task of an explicit marker; ``owner`` when it said "action item for Omar"."""

    owner: str | None


def _clauses(sentences: list[Sentence]) -> Iterator[tuple[Sentence, _Explicit | None]]:
    """The sentences, cut at explicit markers: (clause, marker or None) pairs."""
    pending: _Explicit | None = None  # a marker that was a sentence of its own
    for sentence in sentences:
        original, text = sentence.text, sentence.text.translate(_PLAIN)  # same positions
        if pending is not None:
            yield sentence, pending
            pending = None
            continue
        cuts = [
            found for match in _MARKER.finditer(text) if (found := _explicit_marker(text, match))
        ]
        if not cuts:
            yield sentence, None
            continue
        clause = partial(Sentence, start=sentence.start, speaker=sentence.speaker)
        if original[: cuts[0][0]].strip(" ,;:-"):
            yield clause(original[: cuts[0][0]].strip()), None
        for i, (_, body_start, owner) in enumerate(cuts):
            end = cuts[i + 1][0] if i + 1 < len(cuts) else len(original)
            body = original[body_start:end].strip(" ,;:-")
            if not _WORD.search(body):
                if i + 1 == len(cuts):
                    pending = _Explicit(owner)
                continue
            # Unpunctuated speech runs on into the next commitment: cut it there.
            following = _next_commitment(body)
            yield clause(body[:following].strip(" ,;:-")), _Explicit(owner)
            if following < len(body):
                yield clause(body[following:].strip()), None


def _explicit_marker(text: str, match: re.Match[str]) -> tuple[int, int, str | None] | None:
    """(where the marker starts, where its task starts, owner) if ``match`` gives a task."""
    marker = re.sub(r"[\s-]+", " ", match.group("marker").lower())
    before = _WORD.findall(text[: match.start()].lower())
    previous = before[-1] if before else ""
    position = match.end()
    owner = None
    named = _MARKER_FOR.match(text, position)
    if named and marker.startswith("action") and _is_name(named.group("owner")):
        owner, position = named.group("owner"), named.end()
    link = _MARKER_LINK.match(text, position)
    separated = bool(link and re.search(r"[:;,\-]|\b(?:is|are|be)\b", link.group("link")))
    body_start = link.end() if link else position
    words = [w.lower() for w in _WORD.findall(text[body_start:])]
    if not words:
        # Nothing follows: a heading ("Action item.") whose task is the next sentence,
        # unless it was a question ("Any action items?").
        rest = text[match.end() :].strip()
        if marker in ("to do", "follow up") or rest.startswith("?"):
            return None
        return match.start(), len(text), owner
    if not separated and words[0] in _NOT_A_TASK_START:
        return None
    if marker == "to do" and not separated and (previous in _INFINITIVE_LEAD or not before):
        # Mid-sentence "to do" with no colon is an infinitive unless a noun precedes
        # it, as when a recogniser runs "… the new cluster to do update the runbook".
        return None if before else (match.start(), body_start, owner)
    if marker in ("follow up", "follow ups") and not separated:
        # "follow up with the vendor" is itself the task; after "I'll", "we need to",
        # "the" it is ordinary speech the commitment patterns already read.
        if previous in _FOLLOW_UP_LEAD or words[0] not in ("with", "on"):
            return None
        return match.start(), match.start(), owner
    return match.start(), body_start, owner


def _next_commitment(body: str) -> int:
    """Where, after its first words, ``body`` runs on into another named commitment."""
    for capital in re.finditer(r"(?<=\s)[A-Z]", body):
        match = _NAMED.match(body, capital.start())
        if match and _is_name(match.group("owner")) and _is_action(match.group("rest")):
            return match.start()
    return len(body)


def _explicit_item(clause: Sentence, marker: _Explicit) -> ActionItem | None:
    """An explicit marker's task: always an item unless it is a question."""
    text = _FILLER_LEAD.sub("", clause.text.translate(_PLAIN)).strip()
    if not _WORD.search(text):
        return None
    if text.rstrip().endswith("?") and not _REQUEST.search(text):
        return None
    return ActionItem(
        text=_capitalise(clause.text.strip(" ,;:-")),
        owner=marker.owner or _owner(text),
        due=_due(text),
        start=clause.start,
    )


def _is_name(word: str) -> bool:
    # Hyphen parts too: "Follow-up:" or "To-do:" is a heading, not a speaker.
    return all(part.lower() not in _NOT_NAMES for part in re.split(r"[\s-]+", word) if part)


def _is_action(rest: str) -> bool:
    """Whether the words after the modal start with a verb that is a real task."""
    words = [w.lower() for w in _WORD.findall(rest)]
    while words and words[0] in _ADVERBS:
        words.pop(0)
    if not words:
        return False
    if words[0] == "be":
        # "will be presenting" is a task; "will be honest" is not.
        return len(words) > 1 and words[1].endswith("ing")
    return not _SMALL_TALK.match(" ".join(words))


def _owner(text: str) -> str | None:
    for pattern in (_VOCATIVE, _ASSIGNED, _NAMED, _MINUTES):
        match = pattern.search(text)
        if match and _is_name(match.group("owner")):
            return match.group("owner")
    return None


def _due(text: str) -> str | None:
    match = _DUE.search(text)
    if not match:
        return None
    return next(g for g in (match.group("when"), match.group("span"), match.group("bare")) if g)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
