"""docs/errors.md lists every error code the code base can produce (the docs list every code a
user can get)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = re.compile(
    r"\"((?:Invalid|Forbidden|Signature|Incomplete|Unsupported|Throttling|Missing|InternalError)"
    r"[A-Za-z]*(?:\.[A-Za-z]+)+|SignatureDoesNotMatch|SignatureNonceUsed|IncompleteSignature|"
    r"InvalidSignatureMethod|InvalidVersion|UnsupportedHTTPMethod|MissingParameter|InvalidParameter)\""
)
KINDS = re.compile(r"(NotFound|Conflict)\(\s*\"([A-Za-z]+)\"")


def _codes_in_source() -> set[str]:
    codes: set[str] = set()
    for path in (ROOT / "src" / "opcenter").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        codes.update(CODE.findall(text))
        for cls, kind in KINDS.findall(text):
            if cls == "NotFound":
                codes.add(f"Invalid.{kind}.NotExists")
    return codes


def test_every_error_code_in_the_source_is_documented_in_docs_errors() -> None:
    documented = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    missing = sorted(code for code in _codes_in_source() if f"`{code}`" not in documented)
    assert missing == []
