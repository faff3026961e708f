"""Dockerfile word processing: quotes, escapes, variable expansion with modifiers, pairs."""

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.build.words import Lexer, pairs, raw_words

ENV = {"A": "1", "EMPTY": "", "SPACED": "x  y", "HOME": "/root"}
lex = Lexer()


@pytest.mark.parametrize("text, expected", [
    ("$A", "1"),
    ("${A}", "1"),
    ("pre${A}post", "pre1post"),
    ("$UNSET", ""),
    ("${UNSET:-default}", "default"),
    ("${EMPTY:-default}", "default"),
    ("${EMPTY-default}", ""),
    ("${UNSET-default}", "default"),
    ("${A:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-$HOME/x}", "/root/x"),
    ("${UNSET:-'quoted }'}", "quoted }"),
    ("'$A'", "$A"),
    ('"$A"', "1"),
    ('"a\\"b"', 'a"b'),
    ('"a\\nb"', "a\\nb"),
    ("\\$A", "$A"),
    ("a\\ b", "a b"),
    ("$", "$"),
    ("$-x", "x"),  # $- is a special parameter: empty in a Dockerfile, as BuildKit has it
    ("cost: 5$", "cost: 5$"),
])
def test_word(text, expected):
    assert lex.word(text, ENV) == expected


PATHS = {"F": "dir/sub/file.tar.gz", "P": "*.", "AB": "abab"}


@pytest.mark.parametrize("text, expected", [
    ("${F#*/}", "sub/file.tar.gz"),
    ("${F##*/}", "file.tar.gz"),
    ("${F%.*}", "dir/sub/file.tar"),
    ("${F%%.*}", "dir/sub/file"),
    ("${F#nomatch}", "dir/sub/file.tar.gz"),
    ("${F#$P}", "tar.gz"),  # the pattern is expanded first
    ("${F#[a-d]}", "ir/sub/file.tar.gz"),
    ("${AB/b/X}", "aXab"),
    ("${AB//b/X}", "aXaX"),
    ("${AB/a*/X}", "X"),  # the longest match
    ("${AB//?b}", ""),
    ("${UNSET#x}", ""),
    ("$1$2${3}x", "x"),
    ("$10y", "y"),
    ("[$@][$*][$#][$?][$$][$!][$0]", "[][][][][][][]"),
])
def test_pattern_modifiers_and_special_parameters(text, expected):
    assert lex.word(text, PATHS) == expected


def test_word_keeps_blanks_words_split_them():
    assert lex.word("/my dir/$SPACED", ENV) == "/my dir/x  y"
    assert lex.words("a  b\t$SPACED 'c d' \"\"", ENV) == ["a", "b", "x", "y", "c d", ""]


def test_other_escape_character():
    backtick = Lexer("`")
    assert backtick.word("c:\\dir `$A", ENV) == "c:\\dir $A"
    assert backtick.word('"`"x"', ENV) == '"x'


def test_required_variable_errors():
    with pytest.raises(InvalidArgument, match="UNSET: give it"):
        lex.word("${UNSET:?give it}", ENV)
    with pytest.raises(InvalidArgument, match="EMPTY: is not allowed to be unset"):
        lex.word("${EMPTY:?}", ENV)
    assert lex.word("${EMPTY?}", ENV) == ""


@pytest.mark.parametrize("text, message", [
    ("'open", "single quote"),
    ('"open', "double quote"),
    ("${A", "missing '}'"),
    ("${A:-x", "missing '}'"),
    ("${}", "expected a variable name"),
    ("${A^x}", "unsupported modifier"),
    ("${A/x", "missing '/' or '}'"),
])
def test_malformed(text, message):
    with pytest.raises(InvalidArgument, match=message):
        lex.word(text, ENV)


def test_raw_words_keep_quotes_and_escapes():
    assert raw_words('a="x y" b=c\\ d \'e f\'') == ['a="x y"', "b=c\\ d", "'e f'"]


def test_pairs_for_env_label_and_arg():
    assert pairs('A=1 B="two words"', "ENV") == [("A", "1"), ("B", '"two words"')]
    assert pairs("NAME some value  here", "ENV") == [("NAME", "some value  here")]
    assert pairs('"my key"=v', "LABEL") == [('"my key"', "v")]
    assert pairs("A B=2", "ARG") == [("A", None), ("B", "2")]
    with pytest.raises(InvalidArgument, match="cannot find ="):
        pairs("A=1 B", "ENV")
    with pytest.raises(InvalidArgument, match="needs a value"):
        pairs("ALONE", "ENV")
