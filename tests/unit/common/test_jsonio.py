import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boxen.common import jsonio
from boxen.common.errors import InvalidArgument

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_matches_the_json_module(value):
    assert jsonio.loads(jsonio.dumps(value)) == json.loads(json.dumps(value))
    assert jsonio.dumps(value, indent=2) == json.dumps(value, indent=2, ensure_ascii=False)


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"a":', "unexpected end"),
        ('{"a" 1}', "line 1 column 6"),
        ("[1] x", "extra data"),
        ('{"a": NaN}', "NaN is not valid JSON"),
        ("", "unexpected end"),
    ],
)
def test_errors_say_where(text, message):
    with pytest.raises(InvalidArgument, match=message) as info:
        jsonio.loads(text, source="config.json")
    assert info.value.field == "config.json"


def test_bytes_must_be_utf8():
    with pytest.raises(InvalidArgument, match="not UTF-8"):
        jsonio.loads(b'"\xff"')


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")])
def test_nesting_deeper_than_the_recursion_limit_is_an_error_not_a_crash(opening, closing):
    text = opening * 100_000 + "1" + closing * 100_000
    with pytest.raises(InvalidArgument, match="nested too deeply") as info:
        jsonio.loads(text, source="config.json")
    assert info.value.field == "config.json"


def test_ordinary_nesting_still_parses():
    assert jsonio.loads("[" * 200 + "]" * 200) == eval("[" * 200 + "]" * 200)
