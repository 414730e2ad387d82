"""The fingerprint comes from the student's process: whatever it sends is parsed as data, and a
malformed one is a failed fingerprint (flagged), never a crash of the grader."""

from __future__ import annotations

import json

import pytest

from graders.grading import integrity


def _reply(value) -> str:  # what user_expressions returns: the repr of the JSON string
    return repr(json.dumps(value))


def test_a_well_formed_fingerprint_parses_with_tuple_entries():
    fp = integrity.parse(_reply({"digests": {"torch": "1"}, "objects": {"torch.add": [1, 1, False, 2]}, "hooks": []}))
    assert fp["objects"] == {"torch.add": (1, 1, False, 2)}
    assert integrity.tampered(fp, fp) == []


@pytest.mark.parametrize("forged", [
    {"digests": {}, "objects": {"torch.add": 5}, "hooks": []},       # an entry that is not a sequence
    {"digests": {}, "objects": {"torch.add": []}, "hooks": []},      # an empty entry
    {"digests": [], "objects": {}, "hooks": []},
    {"digests": {}, "objects": {}, "hooks": "none"},
    ["not", "a", "dict"],
])
def test_a_forged_fingerprint_is_refused_as_data(forged):
    with pytest.raises(ValueError):
        integrity.parse(_reply(forged))
