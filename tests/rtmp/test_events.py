"""Events: frozen, slotted dataclasses, all in the ``Event`` union, exported."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from synctv.rtmp import events

CLASSES = [getattr(events, name) for name in events.__all__ if name != "Event"]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_frozen_and_slotted(cls: type) -> None:
    assert dataclasses.is_dataclass(cls)
    assert "__slots__" in cls.__dict__
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    fields = dataclasses.fields(cls)
    required = {
        f.name: 0
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    instance = cls(**required)
    if fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(instance, fields[0].name, 1)


def test_event_union_lists_every_event() -> None:
    assert set(typing.get_args(events.Event)) == set(CLASSES)


def test_past_tense_names() -> None:
    for cls in CLASSES:
        assert cls.__name__.endswith(("ed", "Closed")), cls.__name__
