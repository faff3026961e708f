import pickle

import pytest

from boxen.common.record import Record


class Point(Record):
    x: int
    y: int = 0


class Point3(Point):
    z: int = 0


def test_fields_defaults_and_order():
    p = Point(1)
    assert (p.x, p.y) == (1, 0)
    assert Point(1, y=2) == Point(x=1, y=2)
    assert Point3(1, 2, 3).__fields__ == ("x", "y", "z")


def test_frozen_and_hashable():
    p = Point(1, 2)
    with pytest.raises(AttributeError):
        p.x = 3
    assert hash(p) == hash(Point(1, 2))
    assert {p, Point(1, 2)} == {p}
    assert Point(1, 2) != Point3(1, 2)


def test_errors_name_the_field():
    with pytest.raises(TypeError, match="missing field 'x'"):
        Point()
    with pytest.raises(TypeError, match="no field 'w'"):
        Point(1, w=2)


def test_replace_as_dict_repr_pickle():
    p = Point3(1, 2, 3)
    assert p.replace(z=9) == Point3(1, 2, 9)
    assert p.as_dict() == {"x": 1, "y": 2, "z": 3}
    assert repr(p) == "Point3(x=1, y=2, z=3)"
    assert pickle.loads(pickle.dumps(p)) == p


def test_match_args():
    match Point(1, 2):
        case Point(a, b):
            assert (a, b) == (1, 2)
