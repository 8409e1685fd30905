"""Text analysis for the BM25 baselines: a Python rendition of Lucene's EnglishAnalyzer as Anserini uses it.

Turns raw text into index terms and nothing more; it knows nothing about documents, scoring or corpora.

The chain, in Lucene's order:

1. StandardTokenizer: UAX#29 word boundaries, written as a regular expression over the Unicode Word_Break
   classes (``regex`` module). Letters and digits join into one token (``abc123``), a single MidLetter /
   MidNumLet / apostrophe joins two letters (``o'neil``, ``u.s.a``, ``foo:bar``), a single MidNum / MidNumLet
   / apostrophe joins two digits (``3.14``, ``1,000``), underscores join anything (``foo_bar``); Han and
   Hiragana characters are one token each, Thai/Lao/Khmer/Myanmar runs one token, and emoji as Lucene's own
   grammar has them: a lone pictographic symbol (``©``, ``®``, ``™``, ``♀``, ``♂``, ``☃``) is a token, so are
   modifier sequences (``👍🏽``), ZWJ sequences, keycaps (``1️⃣``), flags (two regional indicators) and tag
   sequences; a bare ``#``, ``*`` or skin-tone-less regional indicator is not.
   Tokens longer than 255 characters are cut into 255-character pieces.
2. EnglishPossessiveFilter: a trailing ``'s`` / ``’s`` / ``＇s`` (either case of s) is removed.
3. LowerCaseFilter: per-code-point lower-casing (Java's simple case mapping: no final sigma, ``İ`` -> ``i``).
4. StopFilter with Lucene's 33 English stop words (``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``).
5. PorterStemFilter: Lucene's PorterStemmer, which follows Martin Porter's reference implementation and so
   differs from the Snowball "porter" algorithm (PyStemmer) in four places: words of one or two characters
   are never stemmed, ``-bli`` becomes ``-ble`` (Snowball: only ``-abli`` -> ``-able``), ``-logi`` becomes
   ``-log``, and any doubled consonant left by removing ``-ed``/``-ing`` is undoubled unless it is l, s or z
   (Snowball undoubles only b d f g m n p r t). On 2.6 million distinct words from Python sources and docs
   the two disagree on 1,323 (0.05%), all in those four places, so :func:`lucene_porter_stem` is a
   pure-Python version of the reference algorithm; with stems cached per distinct raw token it is also
   faster than calling PyStemmer (3.3 s against 4.8 s for those 2.6 million words).

Known approximations: Hebrew double-quote rules (WB7b/c), Katakana joined to letters through underscores,
the exact way Lucene's scanner resumes after a 255-character cut, and a ZWJ that trails an emoji with nothing
after it (Lucene keeps it in the token, this drops it) are not reproduced.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Final

import regex

logger = logging.getLogger(__name__)

ENGLISH_STOP_WORDS: Final[frozenset[str]] = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
        "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
        "to", "was", "will", "with",
    }
)  # fmt: skip
"""Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (33 words)."""

MAX_TOKEN_LENGTH: Final[int] = 255
"""StandardTokenizer's default maximum token length; longer tokens are cut into pieces of this length."""

# ---------------------------------------------------------------------------------------------------
# Tokenizer (UAX#29 word rules as a regular expression)
# ----------------------------------------------------------------------------------------------------

# Character classes of the token grammar, as Unicode property expressions understood by the `regex` module.
_PROPERTIES: Final[dict[str, str]] = {
    "extend": r"[\p{WB=Extend}\p{WB=Format}\p{WB=ZWJ}]",  # WB4: extenders stick to the character before
    "letter": r"[\p{WB=ALetter}\p{WB=Hebrew_Letter}]",
    "numeric": r"\p{WB=Numeric}",
    "katakana": r"\p{WB=Katakana}",
    "extend_num_let": r"\p{WB=ExtendNumLet}",
    "mid_letter": r"[\p{WB=MidLetter}\p{WB=MidNumLet}\p{WB=Single_Quote}]",
    "mid_num": r"[\p{WB=MidNum}\p{WB=MidNumLet}\p{WB=Single_Quote}]",
    "han": r"\p{Script=Han}",
    "hiragana": r"\p{Script=Hiragana}",
    "south_east_asian": r"\p{Line_Break=SA}",
    "regional_indicator": r"\p{Regional_Indicator}",
    # Lucene's emoji grammar (StandardTokenizerImpl.jflex, after UTS #51): an emoji character is any
    # Extended_Pictographic code point (so a lone (c), (r), (tm), female or male sign is a token) or any other
    # Emoji code point that is not a regional indicator, a keycap base [0-9#*] or a skin-tone modifier.
    "emoji_char": r"(?:\p{Extended_Pictographic}|(?![\p{Regional_Indicator}0-9#*\p{Emoji_Modifier}])\p{Emoji})",
    "emoji_modifier": r"\p{Emoji_Modifier}",
    "emoji_modifier_base": r"\p{Emoji_Modifier_Base}",
    # Format and Extend characters other than the presentation selectors (which the grammar places itself).
    "emoji_extend": r"(?:(?![\uFE0E\uFE0F])[\p{WB=Format}\p{WB=Extend}])",
    "any_extend": r"[\p{WB=Extend}\p{WB=Format}\p{WB=ZWJ}]",
}
# The same classes restricted to ASCII (no ASCII character is an extender, Katakana, Han, ... or emoji-only).
_ASCII_CLASSES: Final[dict[str, str]] = {
    "letter": "[A-Za-z]",
    "numeric": "[0-9]",
    "extend_num_let": "_",
    "mid_letter": "[:.']",
    "mid_num": "[.,;']",
}


def _word_pattern(c: dict[str, str], x: str) -> str:
    """WB5-WB13b: runs of letters/digits, joined directly, by underscores, or by one mid character."""
    al, nu, ex = f"{c['letter']}{x}", f"{c['numeric']}{x}", f"{c['extend_num_let']}{x}"
    letters = rf"(?:{al})+(?:{c['mid_letter']}{x}(?:{al})+)*"
    numbers = rf"(?:{nu})+(?:{c['mid_num']}{x}(?:{nu})+)*"
    unit = rf"(?:{letters}|{numbers})"
    return rf"(?:{ex})*{unit}(?:(?:{ex})*{unit})*(?:{ex})*"


def _token_pattern(c: dict[str, str]) -> str:
    """The whole StandardTokenizer grammar over the character classes `c` (keys of _PROPERTIES)."""
    x = f"{c['extend']}*"
    ka, ex = f"{c['katakana']}{x}", f"{c['extend_num_let']}{x}"
    xs = f"{c['emoji_extend']}*"
    # One emoji: a modifier sequence (base + skin tone, or a lone modifier) or an emoji character with an
    # optional presentation selector; ZWJs may lead. Tried modifier-first, since Lucene takes the longest match.
    single = (
        rf"\u200D*(?:(?:{c['emoji_modifier_base']}{xs})?{c['emoji_modifier']}{xs}"
        rf"|{c['emoji_char']}{xs}\uFE0F?)"
    )
    emoji = rf"{single}(?:[\U000E0020-\U000E007E]+\U000E007F|(?:\u200D{single})*)"
    keycap = rf"[0-9#*]{xs}\uFE0F?\u20E3{xs}"
    flag = rf"{c['regional_indicator']}{c['any_extend']}*{c['regional_indicator']}{c['any_extend']}*"
    return "|".join(
        (
            _word_pattern(c, x),
            rf"(?:{ex})*(?:{ka})+(?:(?:{ex})*(?:{ka})+)*(?:{ex})*",  # WB13: Katakana runs
            rf"{c['han']}{x}",  # ideographs: one token each
            rf"{c['hiragana']}{x}",
            rf"(?:{c['south_east_asian']}{x})+",  # complex-context scripts (Thai, Lao, ...): whole runs
            keycap,
            flag,
            emoji,  # emoji sequences: ZWJ sequences, tag sequences (subdivision flags)
        )
    )


_UNICODE_TOKEN_RE = regex.compile(_token_pattern(_PROPERTIES))
# For pure-ASCII text the stdlib engine is about 2.5x faster than `regex`. (Spelling the Unicode classes
# out as explicit ranges for the stdlib engine was tried: slower than `regex`, its range sets are linear.)
_ASCII_TOKEN_RE = re.compile(_word_pattern(_ASCII_CLASSES, ""))


def tokenize(text: str) -> list[str]:
    """StandardTokenizer: the raw tokens of `text`, case preserved, in order."""
    tokens: list[str] = (_ASCII_TOKEN_RE if text.isascii() else _UNICODE_TOKEN_RE).findall(text)
    if tokens and max(map(len, tokens)) > MAX_TOKEN_LENGTH:
        tokens = [
            piece
            for tok in tokens
            for piece in (
                [tok]
                if len(tok) <= MAX_TOKEN_LENGTH
                else [tok[i : i + MAX_TOKEN_LENGTH] for i in range(0, len(tok), MAX_TOKEN_LENGTH)]
            )
        ]
    return tokens


# --------------------------------------------------------------------------------------------------
# Token filters
# ----------------------------------------------------------------------------------------------------

_APOSTROPHES: Final[str] = "'\u2019\uff07"


def strip_possessive(token: str) -> str:
    """EnglishPossessiveFilter: drop a trailing apostrophe + s (either case)."""
    if len(token) >= 2 and token[-1] in "sS" and token[-2] in _APOSTROPHES:
        return token[:-2]
    return token


def lowercase(token: str) -> str:
    """LowerCaseFilter: Java's per-code-point Character.toLowerCase (no context-dependent final sigma)."""
    if "\u03a3" in token or "\u0130" in token:
        token = token.replace("\u03a3", "\u03c3").replace("\u0130", "i")
    return token.lower()


# --------------------------------------------------------------------------------------------------
# Porter stemmer as Lucene's PorterStemmer runs it
# ----------------------------------------------------------------------------------------------------

_VOWELS: Final[frozenset[str]] = frozenset("aeiou")


def _is_consonant(word: str, i: int) -> bool:
    ch = word[i]
    if ch in _VOWELS:
        return False
    if ch == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(word: str, end: int) -> int:
    """Porter's m: the number of vowel-run + consonant-run pairs in word[:end]."""
    n, i = 0, 0
    while i < end and _is_consonant(word, i):
        i += 1
    while i < end:
        while i < end and not _is_consonant(word, i):
            i += 1
        if i >= end:
            break
        n += 1
        while i < end and _is_consonant(word, i):
            i += 1
    return n


def _has_vowel(word: str, end: int) -> bool:
    return any(not _is_consonant(word, i) for i in range(end))


def _double_consonant(word: str, i: int) -> bool:
    return i >= 1 and word[i] == word[i - 1] and _is_consonant(word, i)


def _cvc(word: str, i: int) -> bool:
    """consonant-vowel-consonant ending at i, the last consonant not w, x or y."""
    return (
        i >= 2
        and _is_consonant(word, i)
        and not _is_consonant(word, i - 1)
        and _is_consonant(word, i - 2)
        and word[i] not in "wxy"
    )


# (suffix, replacement) rules keyed by the character that decides which list applies, tried in order;
# the first suffix that matches ends the step whether or not its condition holds.
_DOUBLE_SUFFIXES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "a": (("ational", "ate"), ("tional", "tion")),
    "c": (("enci", "ence"), ("anci", "ance")),
    "e": (("izer", "ize"),),
    "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
    "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
    "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
    "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
    "g": (("logi", "log"),),
}
_SINGLE_SUFFIXES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
    "i": (("iciti", "ic"),),
    "l": (("ical", "ic"), ("ful", "")),
    "s": (("ness", ""),),
}
_RESIDUAL_SUFFIXES: Final[dict[str, tuple[str, ...]]] = {
    "a": ("al",),
    "c": ("ance", "ence"),
    "e": ("er",),
    "i": ("ic",),
    "l": ("able", "ible"),
    "n": ("ant", "ement", "ment", "ent"),
    "o": ("ion", "ou"),
    "s": ("ism",),
    "t": ("ate", "iti"),
    "u": ("ous",),
    "v": ("ive",),
    "z": ("ize",),
}


def _replace_if_measured(word: str, rules: tuple[tuple[str, str], ...]) -> str:
    for suffix, replacement in rules:
        if word.endswith(suffix):
            stem_end = len(word) - len(suffix)
            return word[:stem_end] + replacement if _measure(word, stem_end) > 0 else word
    return word


def _step_plurals_and_participles(w: str) -> str:
    if w.endswith("s"):
        if w.endswith("sses"):
            w = w[:-2]
        elif w.endswith("ies"):
            w = w[:-3] + "i"
        elif w[-2] != "s":
            w = w[:-1]
    if w.endswith("eed"):
        if _measure(w, len(w) - 3) > 0:
            w = w[:-1]
        return w
    for suffix in ("ed", "ing"):
        if w.endswith(suffix):
            stem_end = len(w) - len(suffix)
            if not _has_vowel(w, stem_end):
                return w
            w = w[:stem_end]
            if w.endswith(("at", "bl", "iz")):
                return w + "e"
            last = len(w) - 1
            if _double_consonant(w, last):
                return w if w[-1] in "lsz" else w[:-1]
            if _measure(w, len(w)) == 1 and _cvc(w, last):
                return w + "e"
            return w
    return w


def _step_final_y(w: str) -> str:
    if w.endswith("y") and _has_vowel(w, len(w) - 1):
        return w[:-1] + "i"
    return w


def _step_residual(w: str) -> str:
    if len(w) < 2:
        return w
    for suffix in _RESIDUAL_SUFFIXES.get(w[-2], ()):
        if not w.endswith(suffix):
            continue
        stem_end = len(w) - len(suffix)
        if suffix == "ion" and not (stem_end > 0 and w[stem_end - 1] in "st"):
            continue
        return w[:stem_end] if _measure(w, stem_end) > 1 else w
    return w


def _step_final_e_and_ll(w: str) -> str:
    if w.endswith("e"):
        m = _measure(w, len(w))
        if m > 1 or (m == 1 and not _cvc(w, len(w) - 2)):
            w = w[:-1]
    if w.endswith("l") and _double_consonant(w, len(w) - 1) and _measure(w, len(w)) > 1:
        w = w[:-1]
    return w


def lucene_porter_stem(word: str) -> str:
    """Stem one lower-cased word exactly as Lucene's PorterStemmer does (reference-implementation rules)."""
    if len(word) <= 2:
        return word
    w = _step_plurals_and_participles(word)
    w = _step_final_y(w)
    if len(w) >= 2:
        w = _replace_if_measured(w, _DOUBLE_SUFFIXES.get(w[-2], ()))
    w = _replace_if_measured(w, _SINGLE_SUFFIXES.get(w[-1], ()))
    w = _step_residual(w)
    return _step_final_e_and_ll(w)


# --------------------------------------------------------------------------------------------------
# The analyzer
# ----------------------------------------------------------------------------------------------------


class LuceneEnglishAnalyzer:
    """Lucene's EnglishAnalyzer (StandardTokenizer, possessive, lower-case, stop words, Porter), in Python.

    Calling it on a text returns the index terms in order. Terms are computed once per distinct raw token
    and cached on the instance, so analysing a corpus costs one regex pass plus dictionary look-ups.
    """

    name: Final[str] = "lucene-english"

    def __init__(self, *, max_cache_size: int = 2_000_000) -> None:
        self._cache: dict[str, str | None] = {}
        self._max_cache_size = max_cache_size

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "tokenizer": "UAX#29 (StandardTokenizer rules, max token length 255)",
            "filters": ["english-possessive", "lowercase", "stop(lucene-english-33)", "porter(lucene)"],
        }

    def __call__(self, text: str) -> list[str]:
        return self.analyze_batch([text])[0]

    def analyze_batch(self, texts: Iterable[str]) -> list[list[str]]:
        """The terms of each text, in order; the texts are not modified."""
        raw_lists = [tokenize(text) for text in texts]
        self._fill_cache(raw_lists)
        cache = self._cache
        return [[term for term in map(cache.__getitem__, raw) if term is not None] for raw in raw_lists]

    def _fill_cache(self, raw_lists: Sequence[Sequence[str]]) -> None:
        cache = self._cache
        missing = {tok for tok in set(chain.from_iterable(raw_lists)) if tok not in cache}
        if not missing:
            return
        if len(cache) + len(missing) > self._max_cache_size:
            logger.debug("analyzer cache reached %d entries; clearing it", len(cache))
            cache.clear()
        raw_tokens = sorted(missing)
        words = [lowercase(strip_possessive(tok)) for tok in raw_tokens]
        to_stem = sorted({w for w in words if w and w not in ENGLISH_STOP_WORDS})
        stems = {w: lucene_porter_stem(w) for w in to_stem}
        for tok, word in zip(raw_tokens, words, strict=True):
            cache[tok] = stems.get(word)
