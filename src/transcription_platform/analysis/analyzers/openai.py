"""Analysis by an OpenAI chat model (or any OpenAI-compatible server via ``base_url``).

The model answers with structured output: the request carries a strict JSON schema
generated from the pydantic models below, and the reply is validated against them.
An invalid reply gets one repair round-trip, then a permanent error. A transcript
larger than ``max_input_tokens`` is analysed in parts whose results are combined by
one more call (map-reduce) — never truncated.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from transcription_platform.analysis.analyzers.base import (
    ActionItem,
    AnalysisError,
    AnalysisResult,
    Analyzer,
    ContextTooLong,
    PermanentAnalysisError,
    RetryableAnalysisError,
    Topic,
    TranscriptInput,
    Usage,
    analysis_error,
)
from transcription_platform.analysis.error_codes import AnalysisErrorCode
from transcription_platform.openai_client import classify, create_client

# --------------------------------------------------------------------------- output schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TopicOutput(_Strict):
    label: str = Field(description="A short noun phrase naming the topic.")
    relevance: float = Field(description="How central the topic is, from 0 to 1.")


class ActionItemOutput(_Strict):
    text: str = Field(description="The task, as one imperative or declarative sentence.")
    owner: str | None = Field(description="The person named as responsible, else null.")
    due: str | None = Field(description="The deadline exactly as said, else null.")
    segment: int | None = Field(
        description="The [id] of the transcript line where the task was said, else null."
    )


class AnalysisOutput(_Strict):
    """What the model must return for (a part of) a transcript."""

    summary: str = Field(description="A concise summary of the transcript.")
    topics: list[TopicOutput] = Field(description="The main topics, most relevant first.")
    action_items: list[ActionItemOutput] = Field(
        description="Tasks someone committed to or was asked to do."
    )


class CombinedOutput(_Strict):
    """What the model must return when combining the analyses of consecutive parts."""

    summary: str = Field(description="One concise summary of the whole transcript.")
    topics: list[TopicOutput] = Field(description="The main topics, most relevant first.")


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema in the form OpenAI's strict structured outputs accept:
    every object closed (``additionalProperties: false``) and every property required."""
    schema = model.model_json_schema()

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
                for value in node["properties"].values():
                    close(value)
            for key, value in node.items():
                if key != "properties":
                    close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


# --------------------------------------------------------------------------- prompts

ANALYSIS_PROMPT = """\
You analyse meeting and conversation transcripts. Each transcript line starts with \
[id mm:ss] or [id]. Return:
- summary: a concise, faithful summary (at most about 8 sentences); do not invent facts.
- topics: up to 8 main topics, most relevant first, relevance between 0 and 1.
- action_items: every task someone committed to or was asked to do. owner is the \
person named as responsible (null if nobody is named; never guess), due is the deadline \
exactly as said (null if none), segment is the [id] of the line where it was said.
{part}{language}"""

COMBINE_PROMPT = """\
You are given the analyses of consecutive parts of one long transcript, in order. \
Combine them into one concise, faithful summary of the whole transcript and its main \
topics (up to 8, most relevant first, relevance between 0 and 1). Do not invent facts.
{language}"""

REPAIR_PROMPT = """\
Your reply did not match the required JSON schema: {problem}
Reply again with only a JSON object that matches the schema."""

# A part smaller than this that still overflows the context means a misconfiguration.
MIN_PART_TOKENS = 100
# Conservative: English averages about 4 characters per token, other languages fewer.
CHARS_PER_TOKEN = 3


def estimate_tokens(text: str) -> int:
    """An upper-side estimate of ``text``'s token count (no tokenizer dependency)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _language_line(language: str | None) -> str:
    if language:
        return f"Write the summary, topic labels and action items in the language {language!r}."
    return "Write in the language of the transcript."


# --------------------------------------------------------------------------- transcript lines


@dataclass(frozen=True)
class Line:
    """One transcript line as the model sees it: ``[id mm:ss] text``."""

    id: int
    start: float | None
    text: str

    def render(self) -> str:
        if self.start is None:
            return f"[{self.id}] {self.text}"
        minutes, seconds = divmod(int(self.start), 60)
        return f"[{self.id} {minutes:02d}:{seconds:02d}] {self.text}"


def transcript_lines(transcript: TranscriptInput) -> list[Line]:
    """Segments as lines; an untimed transcript is cut into lines at its line breaks."""
    if transcript.segments:
        return [
            Line(i, s.start, s.text.strip())
            for i, s in enumerate(transcript.segments)
            if s.text.strip()
        ]
    texts = [t.strip() for t in transcript.text.splitlines() if t.strip()]
    return [Line(i, None, t) for i, t in enumerate(texts)]


def _cost(lines: list[Line]) -> int:
    return sum(estimate_tokens(line.render()) + 1 for line in lines)


def split_lines(lines: list[Line], budget: int) -> list[list[Line]]:
    """Consecutive lines packed into parts of at most ``budget`` estimated tokens; a
    line larger than the budget on its own is cut at word boundaries (same id)."""
    pieces = [piece for line in lines for piece in _fit_line(line, budget)]
    return _pack(pieces, lambda piece: estimate_tokens(piece.render()) + 1, budget)


T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=BaseModel)


def _pack(
    items: list[T], cost: Callable[[T], int], budget: int, *, at_least: int = 1
) -> list[list[T]]:
    """``items`` in order, packed greedily into groups costing at most ``budget``
    (a group of fewer than ``at_least`` items takes the next one regardless)."""
    groups: list[list[T]] = []
    current: list[T] = []
    used = 0
    for item in items:
        price = cost(item)
        if len(current) >= at_least and used + price > budget:
            groups.append(current)
            current, used = [], 0
        current.append(item)
        used += price
    if current:
        groups.append(current)
    return groups


def _fit_line(line: Line, budget: int) -> Iterator[Line]:
    if estimate_tokens(line.render()) + 1 <= budget:
        yield line
        return
    words: list[str] = []
    for word in line.text.split():
        candidate = Line(line.id, line.start, " ".join([*words, word]))
        if words and estimate_tokens(candidate.render()) + 1 > budget:
            yield Line(line.id, line.start, " ".join(words))
            words = []
        words.append(word)
    if words:
        yield Line(line.id, line.start, " ".join(words))


# --------------------------------------------------------------------------- analyzer


@dataclass
class _Run:
    """The state of one ``analyze`` call: its client and the tokens spent so far."""

    client: openai.OpenAI
    language: str | None
    usage: Usage = field(default_factory=Usage)


class OpenAIAnalyzer(Analyzer):
    """Summary, topics and action items from an OpenAI(-compatible) chat model.

    OPTIONS: ``model`` (default ``gpt-4o-mini``), ``base_url`` (any OpenAI-compatible
    server), ``api_key`` (the site's key; a per-call key wins; else ``OPENAI_API_KEY``),
    ``timeout`` (seconds per request), ``max_input_tokens`` (context budget of one
    request; larger transcripts are analysed in parts), ``max_retries`` (on 429/5xx/
    timeouts), ``retry_backoff`` (first delay, doubling) and ``max_retry_delay`` (a
    longer Retry-After is not slept through: the error goes to the task queue).
    """

    def __init__(
        self,
        alias: str = "default",
        *,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_input_tokens: int = 96_000,
        max_retries: int = 2,
        retry_backoff: float = 1.0,
        max_retry_delay: float = 30.0,
    ) -> None:
        super().__init__(alias)
        for option, value in (("model", model), ("base_url", base_url), ("api_key", api_key)):
            if value is not None and (not isinstance(value, str) or not value):
                raise self.option_error(option, "must be a non-empty string")
        if model is None:
            raise self.option_error("model", "must be a model name")
        self.model = model
        self.base_url = base_url
        self.api_key = api_key
        self.timeout = self.positive_number("timeout", timeout)
        self.max_input_tokens = int(
            self.positive_number("max_input_tokens", max_input_tokens, integer=True)
        )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise self.option_error("max_retries", "must be an int >= 0")
        self.max_retries = max_retries
        self.retry_backoff = self.positive_number("retry_backoff", retry_backoff)
        self.max_retry_delay = self.positive_number("max_retry_delay", max_retry_delay)
        self.analysis_schema = strict_json_schema(AnalysisOutput)
        self.combined_schema = strict_json_schema(CombinedOutput)
        overhead = self._overhead()
        if self.max_input_tokens < overhead + 100:
            raise self.option_error(
                "max_input_tokens",
                f"is too small: the instructions and schema alone take about {overhead} tokens",
            )
        self._site_client: openai.OpenAI | None = None

    # -- public

    def analyze_transcript(
        self, transcript: TranscriptInput, *, language: str | None, api_key: str | None
    ) -> AnalysisResult:
        if api_key:
            # The owner's own key: a client of its own, closed after this call.
            with self._client(api_key) as client:
                return self._analyze(transcript, _Run(client, language))
        return self._analyze(transcript, _Run(self._shared_client(), language))

    # -- clients

    def _client(self, api_key: str | None) -> openai.OpenAI:
        try:
            return create_client(api_key=api_key, base_url=self.base_url, timeout=self.timeout)
        except openai.OpenAIError as exc:
            raise analysis_error(classify(exc), self.alias) from exc

    def _shared_client(self) -> openai.OpenAI:
        if self._site_client is None:
            self._site_client = self._client(self.api_key)
        return self._site_client

    # -- map-reduce

    def _overhead(self) -> int:
        prompt = ANALYSIS_PROMPT.format(part="Part 99 of 99. ", language=_language_line("xx-XX"))
        return estimate_tokens(prompt + json.dumps(self.analysis_schema)) + 50

    def _analyze(self, transcript: TranscriptInput, run: _Run) -> AnalysisResult:
        lines = transcript_lines(transcript)
        starts = {line.id: line.start for line in lines}
        budget = self.max_input_tokens - self._overhead()
        try:
            while True:
                parts = split_lines(lines, budget)
                try:
                    outputs = [
                        self._analyze_part(part, i, len(parts), run) for i, part in enumerate(parts)
                    ]
                    break
                except ContextTooLong:
                    # Our estimate was too optimistic for this text: cut parts smaller.
                    largest = max(_cost(part) for part in parts)
                    if largest <= MIN_PART_TOKENS:
                        raise
                    budget = largest // 2
            if len(outputs) == 1:
                summary, topics = outputs[0].summary, outputs[0].topics
            else:
                combined = self._combine(outputs, run)
                summary, topics = combined.summary, combined.topics
        except AnalysisError as exc:
            exc.usage = run.usage  # tokens spent before the failure are still billed
            raise
        return AnalysisResult(
            summary=summary.strip(),
            topics=_topics(topics),
            action_items=_action_items(outputs, starts),
            model=self.model,
            usage=run.usage,
        )

    def _analyze_part(self, lines: list[Line], index: int, total: int, run: _Run) -> AnalysisOutput:
        part = f"This is part {index + 1} of {total} of a longer transcript. " if total > 1 else ""
        system = ANALYSIS_PROMPT.format(part=part, language=_language_line(run.language))
        transcript = "\n".join(line.render() for line in lines)
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": transcript},
        ]
        return self._structured(messages, AnalysisOutput, self.analysis_schema, run)

    def _combine(self, outputs: list[AnalysisOutput], run: _Run) -> CombinedOutput:
        """One summary and topic list from the parts' — in rounds if they do not fit."""
        partials = [{"summary": o.summary, "topics": _dump_topics(o.topics)} for o in outputs]
        system = COMBINE_PROMPT.format(language=_language_line(run.language))
        budget = self.max_input_tokens - estimate_tokens(system + json.dumps(self.combined_schema))
        while True:
            groups = _group(partials, budget)
            results = []
            for group in groups:
                messages = [
                    {"role": "system", "content": system},
                    {"role": "user", "content": json.dumps({"parts": group}, ensure_ascii=False)},
                ]
                results.append(
                    self._structured(messages, CombinedOutput, self.combined_schema, run)
                )
            if len(results) == 1:
                return results[0]
            partials = [{"summary": r.summary, "topics": _dump_topics(r.topics)} for r in results]

    # -- one structured call

    def _structured(
        self,
        messages: list[dict[str, str]],
        output: type[ModelT],
        schema: dict[str, Any],
        run: _Run,
    ) -> ModelT:
        """The reply to ``messages`` validated as ``output``, after at most one repair."""
        problem = ""
        for _attempt in range(2):
            completion = self._create(messages, output.__name__, schema, run)
            if completion.usage is not None:
                run.usage += Usage(
                    completion.usage.prompt_tokens or 0, completion.usage.completion_tokens or 0
                )
            choice = completion.choices[0] if completion.choices else None
            content = (choice.message.content if choice else None) or ""
            if choice is not None and getattr(choice.message, "refusal", None):
                raise PermanentAnalysisError(
                    f"The model refused to analyse the transcript: {choice.message.refusal}",
                    code=AnalysisErrorCode.ANALYSIS_REFUSED,
                    analyzer=self.alias,
                )
            try:
                return output.model_validate_json(_strip_fences(content))
            except pydantic.ValidationError as exc:
                problem = _describe(exc)
            if choice is not None and choice.finish_reason == "length":
                problem += " (the reply was cut off at the output token limit; be briefer)"
            messages = [
                *messages,
                {"role": "assistant", "content": content},
                {"role": "user", "content": REPAIR_PROMPT.format(problem=problem)},
            ]
        raise PermanentAnalysisError(
            f"The model's reply did not match the analysis schema, even after a repair "
            f"request: {problem}",
            code=AnalysisErrorCode.ANALYSIS_INVALID_OUTPUT,
            analyzer=self.alias,
        )

    def _create(
        self, messages: list[dict[str, str]], name: str, schema: dict[str, Any], run: _Run
    ) -> Any:
        """One chat completion, retried on transient errors with bounded backoff."""
        attempt = 0
        while True:
            try:
                # Plain dicts for messages and response_format: the SDK types them as
                # TypedDict unions that a list[dict[str, str]] cannot be narrowed to.
                return run.client.chat.completions.create(  # type: ignore[call-overload]
                    model=self.model,
                    messages=messages,
                    response_format={
                        "type": "json_schema",
                        "json_schema": {"name": name, "strict": True, "schema": schema},
                    },
                )
            except openai.OpenAIError as exc:
                error = analysis_error(classify(exc), self.alias)
                if not isinstance(error, RetryableAnalysisError) or attempt >= self.max_retries:
                    raise error from exc
                delay = error.retry_after
                if delay is None:
                    delay = self.retry_backoff * 2**attempt
                if delay > self.max_retry_delay:
                    # Don't hold a worker for minutes: the task queue can wait instead.
                    raise error from exc
            time.sleep(delay)
            attempt += 1


# --------------------------------------------------------------------------- helpers


def _strip_fences(content: str) -> str:
    """Some compatible servers wrap JSON in a Markdown code fence; unwrap it."""
    match = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", content, re.DOTALL)
    return match.group(1) if match else content


def _describe(exc: pydantic.ValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "reply"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def _dump_topics(topics: list[TopicOutput]) -> list[dict[str, Any]]:
    return [{"label": t.label, "relevance": t.relevance} for t in topics]


def _group(partials: list[dict[str, Any]], budget: int) -> list[list[dict[str, Any]]]:
    """Consecutive partial analyses packed into groups that fit ``budget`` (at least two
    per group, so every round of combining makes progress)."""
    return _pack(
        partials, lambda p: estimate_tokens(json.dumps(p, ensure_ascii=False)), budget, at_least=2
    )


def _topics(topics: list[TopicOutput]) -> list[Topic]:
    result: list[Topic] = []
    seen: set[str] = set()
    for topic in topics:
        label = topic.label.strip()
        if not label or label.lower() in seen:
            continue
        seen.add(label.lower())
        relevance = topic.relevance if math.isfinite(topic.relevance) else 0.0
        result.append(Topic(label=label, relevance=round(min(1.0, max(0.0, relevance)), 2)))
    return result


def _action_items(
    outputs: list[AnalysisOutput], starts: dict[int, float | None]
) -> list[ActionItem]:
    """All parts' action items, de-duplicated, timed by the segment the model named."""
    items: list[ActionItem] = []
    seen: set[str] = set()
    for output in outputs:
        for item in output.action_items:
            text = item.text.strip()
            key = re.sub(r"\W+", " ", text.lower()).strip()
            if not key or key in seen:
                continue
            seen.add(key)
            items.append(
                ActionItem(
                    text=text,
                    owner=(item.owner or "").strip() or None,
                    due=(item.due or "").strip() or None,
                    # An id the transcript does not have is the model's slip: untimed.
                    start=starts.get(item.segment) if item.segment is not None else None,
                )
            )
    return items
