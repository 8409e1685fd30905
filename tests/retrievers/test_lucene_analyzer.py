"""Tests for the Lucene EnglishAnalyzer rendition: tokenizer rules, filters and Lucene's Porter stemmer."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import regex
import Stemmer
from hypothesis import given, settings
from hypothesis import strategies as st

from rtriever_eval.retrievers import lucene_analyzer as analysis
from rtriever_eval.retrievers.lucene_analyzer import (
    ENGLISH_STOP_WORDS,
    LuceneEnglishAnalyzer,
    lowercase,
    lucene_porter_stem,
    strip_possessive,
    tokenize,
)

CACM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cacm" / "cacm.tar.gz"
DEPARTURE = regex.compile(r"^.{1,2}$|bli|bly|logi|logy|(.)\1(?:ed|ing)s?$")
"""Words on which Lucene's Porter stemmer and Snowball's may legitimately disagree."""


def test_brief_example() -> None:
    assert LuceneEnglishAnalyzer()("The Dog's running quickly!") == ["dog", "run", "quickli"]


def test_stop_words_are_lucenes_33() -> None:
    expected = {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
        "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
        "to", "was", "will", "with",
    }  # fmt: skip
    assert expected == ENGLISH_STOP_WORDS
    assert len(ENGLISH_STOP_WORDS) == 33


def test_stop_words_removed_after_possessive_and_lowercase_but_not_after_stemming() -> None:
    analyzer = LuceneEnglishAnalyzer()
    assert analyzer("It's THE end, and THEN some") == ["end", "some"]
    assert analyzer("theirs") == ["their"]  # stemmed to a stop word: kept, the stop filter runs first


def test_tokenizer_word_rules() -> None:
    cases = {
        "O'Neil's": ["O'Neil's"],
        "3.14 1,000 1;2": ["3.14", "1,000", "1;2"],
        "U.S.A. e.g.": ["U.S.A", "e.g"],
        "e-mail a/b x@y": ["e", "mail", "a", "b", "x", "y"],
        "abc123 123abc ab1.5": ["abc123", "123abc", "ab1.5"],
        "a.1 1.a a'1": ["a", "1", "1", "a", "a", "1"],
        "foo_bar __init__ ___ _x": ["foo_bar", "__init__", "_x"],
        "foo:bar 1:2": ["foo:bar", "1", "2"],
        "end. Next,word": ["end", "Next", "word"],
        "rock'n'roll don't 'quoted'": ["rock'n'roll", "don't", "quoted"],
    }
    for text, expected in cases.items():
        assert tokenize(text) == expected, text


def test_tokenizer_unicode() -> None:
    assert tokenize("café naïve e\u0301te\u0301") == ["café", "naïve", "e\u0301te\u0301"]
    assert tokenize("中文字 ひらがな") == ["中", "文", "字", "ひ", "ら", "が", "な"]
    assert tokenize("カタカナ ภาษาไทย") == ["カタカナ", "ภาษาไทย"]
    assert tokenize("ok 😀 👍🏽 go") == ["ok", "😀", "👍🏽", "go"]
    assert tokenize("l\u2019homme ١٢٣") == ["l\u2019homme", "١٢٣"]


def test_lone_pictographic_symbols_are_tokens_as_in_lucene() -> None:
    """Lucene's StandardTokenizer emits Extended_Pictographic symbols as <EMOJI> tokens; keycap bases alone are not."""
    assert tokenize("a©b ®x Foo™") == ["a", "©", "b", "®", "x", "Foo", "™"]
    assert tokenize("♀ ♂️ ☃ 〰") == ["♀", "♂️", "☃", "〰"]
    assert tokenize("1️⃣ #️⃣ # * 1") == ["1️⃣", "#️⃣", "1"]  # a bare # or * is no token; 1 is a number
    assert tokenize("🇫🇷🇩🇪x") == ["🇫🇷", "🇩🇪", "x"]  # flags pair up regional indicators
    assert tokenize("👨\u200d👩\u200d👧 ok 🏽") == ["👨\u200d👩\u200d👧", "ok", "🏽"]
    assert LuceneEnglishAnalyzer()("© 2024 ACME™ Labs") == ["©", "2024", "acm", "™", "lab"]


_PICTOGRAPHS = [
    chr(cp)
    for cp in (*range(0xA0, 0x3400), *range(0x1F000, 0x1FB00))
    if regex.match(r"\p{Extended_Pictographic}", chr(cp))
    and regex.match(r"\p{Assigned}", chr(cp))
    and not regex.match(r"[\p{WB=Extend}\p{WB=Format}\p{WB=ALetter}]", chr(cp))
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_PICTOGRAPHS), st.sampled_from(["", " ", "word ", "12 "]), st.sampled_from(["", " ", " end"]))
def test_every_lone_pictograph_is_one_token(symbol: str, before: str, after: str) -> None:
    assert symbol in tokenize(before + symbol + after)
    assert tokenize(f"{before}{symbol}{after}").count(symbol) == 1


def test_long_tokens_are_cut_at_255() -> None:
    assert [len(t) for t in tokenize("x " + "a" * 600 + " y")] == [1, 255, 255, 90, 1]


def test_possessive_and_lowercase() -> None:
    assert strip_possessive("Dog's") == "Dog"
    assert strip_possessive("DOG'S") == "DOG"
    assert strip_possessive("dog\u2019s") == "dog"
    assert strip_possessive("dog\uff07s") == "dog"
    assert strip_possessive("dogs") == "dogs"
    assert strip_possessive("s") == "s"
    # Java's Character.toLowerCase: no final sigma, dotted capital I becomes a plain i
    assert lowercase("ΟΔΟΣ") == "οδοσ"
    assert lowercase("İstanbul") == "istanbul"


def test_porter_paper_examples() -> None:
    # Full stems (all steps) of the examples in Porter (1980); Lucene and Snowball agree on all of these.
    cases = {
        "caresses": "caress", "ponies": "poni", "ties": "ti", "caress": "caress", "cats": "cat",
        "feed": "feed", "agreed": "agre", "disabled": "disabl", "matting": "mat", "mating": "mate",
        "meeting": "meet", "milling": "mill", "messing": "mess", "meetings": "meet", "happy": "happi",
        "relational": "relat", "conditional": "condit", "rational": "ration", "digitizer": "digit",
        "operator": "oper", "feudalism": "feudal", "decisiveness": "decis", "hopefulness": "hope",
        "callousness": "callous", "formaliti": "formal", "sensitiviti": "sensit", "triplicate": "triplic",
        "formative": "form", "formalize": "formal", "electriciti": "electr", "electrical": "electr",
        "hopeful": "hope", "goodness": "good", "revival": "reviv", "allowance": "allow", "inference": "infer",
        "airliner": "airlin", "adjustable": "adjust", "defensible": "defens", "irritant": "irrit",
        "replacement": "replac", "adjustment": "adjust", "dependent": "depend", "adoption": "adopt",
        "communism": "commun", "activate": "activ", "angulariti": "angular", "homologous": "homolog",
        "effective": "effect", "bowdlerize": "bowdler", "probate": "probat", "rate": "rate",
        "cease": "ceas", "controlling": "control", "roll": "roll", "generalization": "gener",
        "running": "run", "quickly": "quickli", "computers": "comput",
    }  # fmt: skip
    snowball = Stemmer.Stemmer("porter")
    for word, stem in cases.items():
        assert lucene_porter_stem(word) == stem, word
        assert snowball.stemWord(word) == stem, word


def test_porter_lucene_departures_from_snowball() -> None:
    # Lucene's PorterStemmer is Porter's reference implementation, not the Snowball "porter" algorithm:
    cases = {
        "us": "us", "is": "is", "as": "as",  # words of <= 2 characters are never stemmed (Snowball: u, i, a)
        "possibly": "possibl",  # -bli -> -ble, then -e dropped (Snowball: possibli)
        "archaeology": "archaeolog",  # -logi -> -log (Snowball: archaeologi)
        "analogies": "analog",
        "trekking": "trek",  # kk undoubled (Snowball undoubles only b d f g m n p r t: trekk)
        "revving": "rev",
    }  # fmt: skip
    snowball = Stemmer.Stemmer("porter")
    for word, stem in cases.items():
        assert lucene_porter_stem(word) == stem, word
        assert snowball.stemWord(word) != stem, word


def test_porter_matches_snowball_outside_the_departures() -> None:
    analyzer = LuceneEnglishAnalyzer()
    text = (
        "Information retrieval systems rank documents by estimated relevance; probabilistic models, such as "
        "the binary independence model and its descendants, weight terms by their discriminating power. "
        "Generalizations, normalization, conditionally, sensational, organizational, hopelessness, "
        "encyclopedias, abilities, feasibility, agreement, nationalities, hypothesizing, recursively."
    )
    words = {lowercase(strip_possessive(t)) for t in tokenize(text)} - ENGLISH_STOP_WORDS
    snowball = Stemmer.Stemmer("porter")
    checked = [w for w in sorted(words) if not DEPARTURE.search(w)]
    assert len(checked) > 25
    for word in checked:
        assert lucene_porter_stem(word) == snowball.stemWord(word), word
    assert analyzer(text)[:4] == ["inform", "retriev", "system", "rank"]


def test_analyze_batch_matches_single_calls_and_leaves_input_alone() -> None:
    texts = ["The Dog's running quickly!", "", "the of and", "Cats and DOGS", "The Dog's running quickly!"]
    before = list(texts)
    analyzer = LuceneEnglishAnalyzer()
    batch = analyzer.analyze_batch(texts)
    assert texts == before
    assert batch == [LuceneEnglishAnalyzer()(t) for t in texts]
    assert batch[1] == [] and batch[2] == []
    assert batch[3] == ["cat", "dog"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab1Z_.,;:' -\"é\u0301", max_size=40))
def test_ascii_fast_path_equals_unicode_grammar(text: str) -> None:
    ascii_text = text.encode("ascii", "ignore").decode()
    assert analysis._ASCII_TOKEN_RE.findall(ascii_text) == analysis._UNICODE_TOKEN_RE.findall(ascii_text)
    # every token starts and ends with a letter, digit or underscore (or an extender after one)
    for tok in tokenize(text):
        assert regex.match(r"[\w]", tok) and regex.search(r"[\w\u0301]$", tok), tok


@pytest.mark.slow
@pytest.mark.skipif(not CACM.is_file(), reason="../shared/data/cacm is absent (real data lives outside the project)")
def test_porter_matches_snowball_on_the_cacm_vocabulary() -> None:
    words: set[str] = set()
    with tarfile.open(CACM, "r:gz") as tar:
        for member in tar:
            handle = tar.extractfile(member)
            if handle is not None:
                words.update(lowercase(strip_possessive(t)) for t in tokenize(handle.read().decode("utf-8", "replace")))
    snowball = Stemmer.Stemmer("porter")
    ordinary = sorted(w for w in words if not DEPARTURE.search(w))
    assert len(ordinary) > 5000
    assert [lucene_porter_stem(w) for w in ordinary] == snowball.stemWords(ordinary)
