#!/usr/bin/env python3
"""Assembles README.md from the topic pages in docs/ (the pages stay the source of truth).

Each page's headings are demoted one level so the README has one `#` title; a table of
contents links the sections. Run after editing any page: `python3 scripts/build-readme.py`.
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
ORDER = [
    ("intro.md", None),
    ("foundation.md", "Foundation: server, API, organizations, keys, limits"),
    ("knowledge.md", "Knowledge base"),
    ("agent.md", "The agent engine"),
    ("quality.md", "Quality"),
    ("webhooks.md", "Webhooks"),
    ("lifecycle.md", "Handoff inbox, lifecycle, CSAT and analytics"),
    ("widget.md", "Embed widget"),
    ("actions.md", "Action hooks"),
    ("channels.md", "Channels: SMS, WhatsApp, Instagram, e-mail and voice"),
    ("dashboard.md", "Dashboard"),
    ("reliability.md", "Reliability"),
    ("deployment.md", "Production deployment"),
    ("status.md", "Status: what is built and what is not yet"),
]


def demote(text: str) -> str:
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"^#{1,5} ", line):
            line = "#" + line
        out.append(line)
    return "\n".join(out).strip() + "\n"


def rebase_links(text: str) -> str:
    """Pages link relative to docs/; the README sits one folder up."""

    def fix(match: re.Match) -> str:
        target = match.group(2)
        if (ROOT / "docs" / target).exists() and not (ROOT / target).exists():
            target = "docs/" + target
        return f"{match.group(1)}({target})"

    return re.sub(r"(\]\s?)\(([^)\s#:]+)\)", fix, text)


def anchor(title: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")
    return slug


def main() -> None:
    parts, toc = [], []
    for name, title in ORDER:
        path = ROOT / "docs" / name
        if not path.exists():
            continue
        body = path.read_text()
        if title is None:
            parts.append(body.strip() + "\n")
            continue
        # Drop the page's own first-level title; the README supplies the section title.
        body = re.sub(r"\A# [^\n]*\n", "", body.lstrip())
        toc.append(f"- [{title}](#{anchor(title)}) (source: `docs/{name}`)")
        parts.append(f"## {title}\n\n" + rebase_links(demote(body)))
    intro, rest = parts[0], parts[1:]
    readme = intro + "\n## Contents\n\n" + "\n".join(toc) + "\n\n" + "\n".join(rest)
    (ROOT / "README.md").write_text(readme)


if __name__ == "__main__":
    main()
