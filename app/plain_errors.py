"""The schema's validation messages, said in plain words for the form.

Why: the engine's messages are written for logs and scripts ("nepochs: expected int, got 'ten'
(str) from the form"); an operator at a form needs "nepochs needs a whole number (you typed
'ten')". Messages this module does not recognise are shown unchanged, so nothing is lost.
"""
from __future__ import annotations

import re

from ptycho_engine.config.schema import FieldSpec

KIND_WORDS = {
    "int": "a whole number",
    "float": "a number such as 0.001 or 1e6",
    "bool": "true or false",
    "str": "some text",
    "Path": "a file or folder path",
}

_TYPE = re.compile(r"^(?P<name>\w+): expected (?P<kind>[\w .|\[\]]+?), got (?P<got>.+?) \(\w+\) from .+$")
_RANGE = re.compile(r"^(?P<name>\w+): expected a value in \[(?P<lo>[^,]+), (?P<hi>[^\]]+)\], got (?P<got>.+?) from .+$")
_CHOICE = re.compile(r"^(?P<name>\w+): expected one of \[(?P<choices>.*)\], got (?P<got>.+?) from .+$")
_FINITE = re.compile(r"^(?P<name>\w+): expected a finite number, got (?P<got>.+?) from .+$")


def _bounds(lo: str, hi: str) -> str:
    if lo == "-inf":
        return f"at most {hi}"
    if hi in ("inf", "-inf"):  # the schema writes an open upper bound as -inf too
        return f"at least {lo}"
    return f"between {lo} and {hi}"


def plain(spec: FieldSpec, message: str) -> str:
    """``message`` (a ConfigError text about ``spec``) in plain words, or unchanged."""
    if m := _RANGE.match(message):
        return f"{m['name']} must be {_bounds(m['lo'], m['hi'])} (you typed {m['got']})"
    if m := _CHOICE.match(message):
        return f"{m['name']} must be one of {m['choices']} (not {m['got']})"
    if m := _FINITE.match(message):
        return f"{m['name']} needs a finite number (not {m['got']})"
    if m := _TYPE.match(message):
        kind = m["kind"].replace(" | None", "").strip()
        words = KIND_WORDS.get(kind, kind)
        empty = " or nothing" if spec.optional else ""
        return f"{m['name']} needs {words}{empty} (you typed {m['got']})"
    if message.endswith("a value is required"):
        return f"{spec.name} needs a value"
    return message
