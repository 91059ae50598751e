"""Plain records (pipeline/util/plain.py): written like dataclasses, defined at the cost of a class."""
from __future__ import annotations

import pytest

from pipeline.util.plain import Plain


class Step(Plain):
    """A record with a default, a method and a class attribute."""

    done: int
    sizes: list
    loss: float = 1.5
    kind = "step"  # not annotated: a class attribute, not a field

    def half(self) -> float:
        return self.done / 2


def test_fields_by_order_or_name_with_defaults():
    a = Step(4, [1, 2])
    assert (a.done, a.sizes, a.loss, a.half(), a.kind) == (4, [1, 2], 1.5, 2.0, "step")
    assert Step(done=4, sizes=[1, 2], loss=0.5).loss == 0.5
    assert Step._fields == ("done", "sizes", "loss") and Step.__slots__ == ("done", "sizes", "loss")


def test_equality_and_repr_go_field_by_field():
    assert Step(1, []) == Step(1, [], 1.5) and Step(1, []) != Step(2, [])
    assert Step(1, []) != (1, [], 1.5)  # not a tuple
    assert repr(Step(1, [3])) == "Step(done=1, sizes=[3], loss=1.5)"


@pytest.mark.parametrize("args, kwargs, message", [
    ((1,), {}, "missing ['sizes']"),
    ((1, [], 2.0, 9), {}, "takes 3 values, not 4"),
    ((1, []), {"size": 3}, "unknown ['size']"),
])
def test_a_wrong_call_is_a_type_error(args, kwargs, message):
    with pytest.raises(TypeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Step(*args, **kwargs)


def test_no_field_outside_the_class_body():
    with pytest.raises(AttributeError):
        Step(1, []).typo = 2
