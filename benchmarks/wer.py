"""Word error rate: word-level Levenshtein distance over the reference length.

Both texts are normalised first — lower case, punctuation dropped (apostrophes kept),
numbers spelled out ("9" → "nine") — so that "9 o'clock" and "nine o'clock" count as
the same words: Whisper writes digits where the reference spells them.
"""

from __future__ import annotations

import re

ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen",
)  # fmt: skip
TENS = (
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
)  # fmt: skip


def number_words(number: int) -> list[str]:
    """0 ≤ number < 1,000,000 spelled out in words; larger numbers stay digits."""
    if number < 20:
        return [ONES[number]]
    if number < 100:
        tens, ones = divmod(number, 10)
        return [TENS[tens]] + ([ONES[ones]] if ones else [])
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return [ONES[hundreds], "hundred"] + (number_words(rest) if rest else [])
    if number < 1_000_000:
        thousands, rest = divmod(number, 1000)
        return [*number_words(thousands), "thousand"] + (number_words(rest) if rest else [])
    return [str(number)]


def normalize(text: str) -> list[str]:
    """The words of ``text`` as compared by :func:`word_error_rate`."""
    words: list[str] = []
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,200 is one number
    for token in re.findall(r"[\w']+", text.lower()):
        token = token.strip("'")
        if token.isdigit():
            words.extend(number_words(int(token)))
        elif token:
            words.append(token)
    return words


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Substitutions + deletions + insertions turning ``reference`` into ``hypothesis``."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_word != hyp_word),  # substitution or match
                )
            )
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of ``hypothesis`` against ``reference`` (0.0 is perfect; may exceed 1.0)."""
    ref = normalize(reference)
    if not ref:
        raise ValueError("The reference text has no words.")
    return edit_distance(ref, normalize(hypothesis)) / len(ref)
