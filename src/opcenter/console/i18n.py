"""The page's languages: English and Simplified Chinese, every string in one catalog per
language (`messages/<lang>.json`, flat keys → text with `{name}` placeholders).

The language is the `opcenter_lang` cookie when set (the switch in the page's header), else the
first of the browser's `Accept-Language` that the page speaks (any `zh` → Simplified Chinese),
else English. A key missing from a catalog is a bug (tests/console/test_i18n.py compares the
catalogs and the keys the templates and scripts use); at run time it falls back to English,
then to the key itself.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT", "LANGUAGES", "LANG_COOKIE", "Translator", "catalog", "pick_language"]

LANGUAGES = {"en": "English", "zh-CN": "简体中文"}
DEFAULT = "en"
LANG_COOKIE = "opcenter_lang"
_HERE = Path(__file__).parent / "messages"


@cache
def catalog(lang: str) -> dict[str, str]:
    """The messages of `lang` (a key of LANGUAGES)."""
    return json.loads((_HERE / f"{lang}.json").read_text(encoding="utf-8"))


def _speaks(tag: str) -> str | None:
    tag = tag.strip().lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The language of a request (see the module docstring)."""
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, q = part.partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        lang = _speaks(tag)
        if lang and weight > 0:
            ranked.append((-weight, i, lang))
    return min(ranked)[2] if ranked else DEFAULT


class Translator:
    """`t(key, **values)`: the message of `key` in one language, placeholders filled."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT
        self.messages = catalog(self.lang)

    def __call__(self, key: str, **values: Any) -> str:
        text = self.messages.get(key) or catalog(DEFAULT).get(key) or key
        return text.format(**values) if values else text

    def subset(self, prefix: str) -> dict[str, str]:
        """The messages whose keys start with `prefix` (handed to the page's scripts)."""
        base = catalog(DEFAULT)
        return {k: self.messages.get(k, v) for k, v in base.items() if k.startswith(prefix)}
