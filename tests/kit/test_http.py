"""kit.http.encode_json: every GraphQL answer of the gateway and the subgraphs goes through it."""

from __future__ import annotations

import json

from suishin.kit.http import encode_json


def test_answers_are_compact_utf8_json_without_escapes() -> None:
    answer = {
        "data": {
            "plan": {
                "title": "板橋区DX推進計画",
                "measures": [{"no": 12, "grade": "A", "rate": 0.85, "done": True, "note": None}],
            }
        }
    }
    text = encode_json(answer)
    assert "板橋区DX推進計画" in text and "\\u" not in text
    assert " " not in text  # compact
    assert text == json.dumps(answer, ensure_ascii=False, separators=(",", ":"))


def test_what_utf8_cannot_carry_is_escaped_not_refused() -> None:
    lone_surrogate = {"errors": [{"message": "bad \ud800 character"}]}
    text = encode_json(lone_surrogate)
    text.encode()  # sendable as UTF-8
    assert "\\ud800" in text
    assert json.loads(text) == lone_surrogate


def test_integers_beyond_64_bits_are_written_exactly() -> None:
    big = {"data": {"count": 2**70, "small": -(2**63)}}
    assert json.loads(encode_json(big)) == big
