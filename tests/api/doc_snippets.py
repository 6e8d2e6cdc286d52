"""The SDK snippets of the docs, aimed at a live server: what the README's and docs/api.md's
snippet tests share."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.api.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from tests.api.opsupport import Live

ROOT = Path(__file__).resolve().parents[2]
# What a snippet writes where the reader puts the values `make serve` prints.
PLACEHOLDERS = ('"<the key make serve printed>"', '"<its secret>"', '"127.0.0.1:8080"')


def python_block(doc: Path) -> str:
    """The one ```python block of `doc` that is a whole program: it names the placeholders of
    `make serve`'s key (other blocks are fragments that use a client made before)."""
    text = doc.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    programs = [b for b in blocks if PLACEHOLDERS[0] in b]
    assert len(programs) == 1, f"{doc.name} has {len(programs)} whole python programs, expected 1"
    return programs[0]


def aimed_at(live: Live, code: str, doc: Path) -> str:
    """`code` with the placeholders of `make serve`'s key and address replaced by `live`'s."""
    key, secret, endpoint = PLACEHOLDERS
    replacements = {
        key: repr(ACCESS_KEY_ID),
        secret: repr(ACCESS_KEY_SECRET),
        endpoint: repr(live.endpoint),
    }
    for placeholder, value in replacements.items():
        assert placeholder in code, f"the {doc.name} snippet no longer contains {placeholder}"
        code = code.replace(placeholder, value)
    return code


def run_snippet(live: Live, doc: Path) -> tuple[dict[str, object], str]:
    """Run the python block of `doc` against `live`: (its namespace, what it printed)."""
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    code = aimed_at(live, python_block(doc), doc)
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(doc.relative_to(ROOT)), "exec"), namespace)
    return namespace, printed.getvalue()
