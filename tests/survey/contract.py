"""A scripted expert that knows only the page contract (DESIGN.md, "Expert pages") and the instrument file.

It reads each page's single form, fills the fields named after item ids (``item.code`` for parts) with answers it
derives from the instrument, and presses ``nav=next``; the last page offers ``nav=submit`` (save and submit) and
``nav=next`` ("Check your answers", the review page, whose form submits with ``nav=submit``). The link's own address
shows the first page in the negotiated language (``choose_language`` switches it in a browser).
"""

from __future__ import annotations

import random
from html.parser import HTMLParser
from typing import Any

from elicit.instruments.schema import Definition, Item


class FormParser(HTMLParser):
    """Collects the forms of a page: action, inputs (name, type, value, checked), selects and textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "fields": []})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            self.forms[-1]["fields"].append(
                {
                    "name": a["name"],
                    "type": a.get("type", "text"),
                    "value": a.get("value", ""),
                    "checked": "checked" in a,
                }
            )
        elif tag == "button" and a.get("name"):
            self.forms[-1]["fields"].append(
                {"name": a["name"], "type": "submit", "value": a.get("value", "")}
            )
        elif tag == "select":
            self._select = a.get("name")
            self.forms[-1]["fields"].append(
                {"name": a.get("name"), "type": "select", "value": "", "options": []}
            )
        elif tag == "option" and self._select:
            self.forms[-1]["fields"][-1]["options"].append(a.get("value", ""))
            if "selected" in a:
                self.forms[-1]["fields"][-1]["value"] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.forms[-1]["fields"].append({"name": a.get("name"), "type": "textarea", "value": ""})

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            self.forms[-1]["fields"][-1]["value"] += data


def parse_forms(html: str) -> list[dict[str, Any]]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


def questionnaire_form(html: str) -> dict[str, Any]:
    """The page's one POST form (the contract says there is exactly one)."""
    forms = [f for f in parse_forms(html) if f["method"].lower() == "post"]
    assert len(forms) == 1, f"expected one post form, found {len(forms)}"
    return forms[0]


def current_values(form: dict[str, Any]) -> dict[str, list[str]]:
    """What the form would send as it stands (checked boxes, selected options, typed text)."""
    values: dict[str, list[str]] = {}
    for field in form["fields"]:
        if field["type"] in {"submit"}:
            continue
        if field["type"] in {"radio", "checkbox"}:
            if field["checked"]:
                values.setdefault(field["name"], []).append(field["value"])
        elif field["value"] != "" or field["type"] == "hidden":
            values.setdefault(field["name"], []).append(field["value"])
    return values


def answer_for(item: Item, rng: random.Random, cohort: str) -> dict[str, list[str]]:
    """Contract fields carrying a valid answer to ``item``."""
    codes = [c.key for c in item.choices]
    if item.type == "consent":
        return {item.id: ["yes"]}
    if item.type in {"likert"}:
        return {item.id: [rng.choice(codes)]}
    if item.type == "single_choice":
        return {item.id: [cohort if item.id == "state" else rng.choice([c for c in codes if c != "other"])]}
    if item.type == "multiple_choice":
        pool = [c for c in codes if c != "none"]
        return {item.id: rng.sample(pool, 2)}
    if item.type == "integer":
        return {item.id: [str(int(item.min or 0) + 7)]}
    if item.type == "decimal":
        return {item.id: ["3.5"]}
    if item.type == "text":
        return {item.id: ["Trust built in staff talks pays off — اعتماد"]}
    if item.type == "ranking":
        ranks = list(range(1, len(codes) + 1))
        rng.shuffle(ranks)
        return {f"{item.id}.{c}": [str(r)] for c, r in zip(codes, ranks, strict=True)}
    if item.type == "constant_sum":
        total = int(item.total or 100)
        first = rng.randint(0, total)
        second = rng.randint(0, total - first)
        parts = [first, second] + [0] * (len(codes) - 2)
        parts[-1] += total - sum(parts)
        return {f"{item.id}.{c}": [str(p)] for c, p in zip(codes, parts, strict=True)}
    if item.type == "quantiles":
        return {
            f"{item.id}.q{level:02d}": [str(v)] for level, v in zip(item.levels, (-5, 10, 40), strict=False)
        }
    return {}


def answers_for_page(
    definition: Definition, form: dict[str, Any], rng: random.Random, cohort: str
) -> dict[str, list[str]]:
    """Fill every item of the instrument whose fields appear in the form."""
    names = {f["name"] for f in form["fields"]}
    data: dict[str, list[str]] = {}
    for item in definition.items():
        fields = answer_for(item, rng, cohort)
        if fields and all(name in names for name in fields):
            data.update(fields)
    return data


def summary_link(html: str, message: str) -> str | None:
    """The target of the error summary's entry carrying ``message`` (the entry names its question first)."""
    import re

    found = re.search(
        r'<li><a href="#([^"]+)">(?:<span class="error-question">[^<]*</span> )?<span class="error-message">'
        + re.escape(message)
        + "</span></a></li>",
        html,
    )
    return found.group(1) if found else None


def choose_language(tab: Any, language: str) -> None:
    """On a landing page in a browser (Playwright): the first page comes in the negotiated language (Chromium
    here asks for English); press the visible switch when ``language`` is another, and wait for the page."""
    if tab.locator("html").get_attribute("lang") != language:
        tab.locator(f'.language-offer button[name="switch_language"][value="{language}"]').click()
        tab.wait_for_load_state()
    assert tab.locator("html").get_attribute("lang") == language
