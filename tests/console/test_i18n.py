"""The page's message catalogs: both languages say everything, every key the templates and
scripts use exists, and the language is picked as documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from opcenter.console import i18n

CONSOLE = Path(i18n.__file__).parent
_TEMPLATE_KEY = re.compile(r"""\bt\(\s*["']([A-Za-z0-9_.]+)["']""")
_SCRIPT_KEY = re.compile(r"""\bOC\.t\(\s*["']([A-Za-z0-9_.]+)["']""")


def _used(pattern: re.Pattern[str], folder: str, suffix: str, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for path in (CONSOLE / folder).glob(f"*{suffix}"):
        keys.update(prefix + k for k in pattern.findall(path.read_text(encoding="utf-8")))
    return keys


def _python_keys() -> set[str]:
    keys: set[str] = set()
    for path in CONSOLE.rglob("*.py"):
        keys.update(_TEMPLATE_KEY.findall(path.read_text(encoding="utf-8")))
    return keys


def test_both_catalogs_have_the_same_keys_and_no_empty_message():
    en, zh = i18n.catalog("en"), i18n.catalog("zh-CN")
    assert sorted(set(en) ^ set(zh)) == []
    assert [k for k, v in {**en, **zh}.items() if not v.strip()] == []


def test_the_chinese_catalog_is_translated():
    en, zh = i18n.catalog("en"), i18n.catalog("zh-CN")
    # Messages that are names or codes may read the same; prose must not.
    same = [k for k in en if en[k] == zh[k] and " " in re.sub(r"\s*\{\w+\}\s*", "", en[k])]
    assert same == []


def test_every_key_the_templates_scripts_and_handlers_use_is_in_the_catalog():
    en = i18n.catalog("en")
    used = (
        _used(_TEMPLATE_KEY, "templates", ".html")
        | _used(_SCRIPT_KEY, "static", ".js", prefix="js.")
        | _python_keys()
    )
    # A key built at run time (`t("op." ~ key)`) is seen as its prefix: some key must start so.
    missing = [k for k in used - set(en) if not k.endswith(".")]
    prefixes = [k for k in used if k.endswith(".") and not any(e.startswith(k) for e in en)]
    assert sorted(missing) == [] and prefixes == []


def test_placeholders_agree_between_languages():
    en, zh = i18n.catalog("en"), i18n.catalog("zh-CN")
    names = re.compile(r"\{(\w+)\}")
    assert [k for k in en if set(names.findall(en[k])) != set(names.findall(zh[k]))] == []


def test_the_catalog_files_are_kept_sorted():
    for lang in i18n.LANGUAGES:
        path = CONSOLE / "messages" / f"{lang}.json"
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        assert text == json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, "zh-TW", "zh-CN"),
        (None, "fr-FR,en;q=0.5,zh;q=0.4", "en"),
        (None, "fr-FR,zh;q=0.5,en;q=0.4", "zh-CN"),
        (None, "en;q=0,zh;q=0.1", "zh-CN"),
        ("en", "zh-CN", "en"),
        ("xx", "zh-CN", "zh-CN"),
    ],
)
def test_the_language_is_the_cookie_else_the_browsers_first_known(cookie, accept, expected):
    assert i18n.pick_language(cookie, accept) == expected


def test_a_missing_message_falls_back_to_english_then_the_key():
    t = i18n.Translator("zh-CN")
    assert t("no.such.key") == "no.such.key"
    assert t("signin.wait", seconds=4) == "密码错误次数过多，请 4 秒后再试。"
