"""Every string the console shows has its German translation (templates and views)."""

from __future__ import annotations

import re
from pathlib import Path

from hub.console.i18n import GERMAN, translate
from hub.console.render import NAV

CONSOLE = Path(__file__).resolve().parents[3] / "hub" / "console"
# _("...") or _('...') in templates and the guard, and the message texts views hand over.
CALLS = re.compile(r"""_\(\s*(["'])(.+?)\1""")
MESSAGES = re.compile(r'(?:add_flash\(request,\s*"(?:ok|error)",\s*|problem=\(\s*)"([^"]+)"')
REFUSALS = re.compile(r"""_refused\(request, \d+, "([^"]+)"\)""")


def shown_strings() -> set[str]:
    found: set[str] = set()
    for path in [*CONSOLE.glob("templates/*.html"), *CONSOLE.glob("*.py")]:
        if path.name == "i18n.py":
            continue  # the table itself
        text = path.read_text()
        found |= {m.group(2) for m in CALLS.finditer(text)}
        if path.suffix == ".py":
            found |= {m.group(1) for m in MESSAGES.finditer(text)}
            found |= {m.group(1) for m in REFUSALS.finditer(text)}
    found |= {label for _name, label, _role in NAV}
    return found


def test_every_shown_string_has_a_german_translation() -> None:
    strings = shown_strings()
    assert len(strings) > 100  # the scan found the templates' strings
    missing = sorted(s for s in strings if s not in GERMAN)
    assert missing == []


def test_translation_keeps_the_placeholders() -> None:
    for english, german in GERMAN.items():
        assert set(re.findall(r"{(\w+)}", english)) == set(re.findall(r"{(\w+)}", german)), \
            english
    assert translate("de")("Page {page}", page=3) == "Seite 3"
    assert translate("en")("Page {page}", page=3) == "Page 3"
