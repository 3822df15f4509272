"""The one keyset cursor codec of the subgraphs' connections."""

from __future__ import annotations

import base64

import pytest

from suishin.kit.paging import CursorCodec, InvalidCursor


def test_a_cursor_carries_its_sort_key_values() -> None:
    codec = CursorCodec("m:")
    assert codec.decode(codec.encode("0001.0002|x")) == ("0001.0002|x",)
    pair = CursorCodec("", parts=2)
    assert pair.decode(pair.encode("2025-06-11T10:00:00+00:00", "abc")) == (
        "2025-06-11T10:00:00+00:00",
        "abc",
    )


def test_cursors_keep_the_format_clients_already_hold() -> None:
    assert (
        CursorCodec("indicator:").encode("kpi-1")
        == base64.urlsafe_b64encode(b"indicator:kpi-1").decode()
    )


@pytest.mark.parametrize(
    "cursor",
    ["not base64!", base64.urlsafe_b64encode(b"other:1").decode(), "\u00e9", "YQ"],
)
def test_a_cursor_of_another_connection_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        CursorCodec("m:").decode(cursor)
    assert refused.value.code == "INVALID_CURSOR"
    with pytest.raises(InvalidCursor):
        CursorCodec("", parts=2).decode(base64.urlsafe_b64encode(b"no-separator").decode())
