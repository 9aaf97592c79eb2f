"""axe-core in the browser tests: what a page breaks, said so that the failure names the fix.

``page_problems(page, name)`` runs axe-core (the copy shipped with axe-playwright-python, no
network) on the page as it stands and measures whether it scrolls sideways; it returns one
readable line block per problem, empty when there is none. A sweep collects them over many
pages and asserts once, so that one run lists everything rather than the first breakage.

Only impacts "serious" and "critical" fail (the project's bar, issue 13); "moderate" and
"minor" are advice, left to a person reading axe's full report.
"""

from __future__ import annotations

FAILING_IMPACTS = frozenset({"serious", "critical"})
# Enough of each offending element to find it in the template, not a page of HTML.
SNIPPET_LENGTH = 200
MAX_NODES_SHOWN = 5


def serious_violations(page) -> list[dict]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [violation for violation in results.response["violations"] if violation["impact"] in FAILING_IMPACTS]


def describe(violation: dict) -> str:
    """Rule id, impact, what it asks, and the offending nodes (selector, HTML, axe's reason)."""
    lines = [f"  {violation['id']} ({violation['impact']}): {violation['help']}"]
    for node in violation["nodes"][:MAX_NODES_SHOWN]:
        html = " ".join(node.get("html", "").split())[:SNIPPET_LENGTH]
        lines.append(f"    - {', '.join(map(str, node['target']))}: {html}")
        summary = " ".join(node.get("failureSummary", "").split())
        if summary:
            lines.append(f"      {summary}")
    if len(violation["nodes"]) > MAX_NODES_SHOWN:
        lines.append(f"    ... and {len(violation['nodes']) - MAX_NODES_SHOWN} more")
    return "\n".join(lines)


def sideways_overflow(page) -> str | None:
    """Why the page scrolls sideways (its width and the widest elements past the window), or None."""
    width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width <= viewport:
        return None
    culprits = page.evaluate(
        """(viewport) => [...document.querySelectorAll('body *')]
            .filter(element => element.getBoundingClientRect().right > viewport + 0.5)
            .filter(element => !element.parentElement
                || element.parentElement.getBoundingClientRect().right <= viewport + 0.5)
            .slice(0, 5)
            .map(element => element.tagName.toLowerCase()
                + (element.id ? '#' + element.id : '')
                + (element.className && typeof element.className === 'string'
                    ? '.' + element.className.trim().split(/\\s+/).join('.') : '')
                + ' right=' + Math.round(element.getBoundingClientRect().right))""",
        viewport,
    )
    return f"  scrolls sideways: {width} px wide in a {viewport} px window; first past the edge: {culprits}"


def page_problems(page, name: str) -> list[str]:
    """Everything wrong with the page now, each block headed by the page's name and address."""
    found = [describe(violation) for violation in serious_violations(page)]
    overflow = sideways_overflow(page)
    if overflow:
        found.append(overflow)
    if not found:
        return []
    return [f"{name} ({page.url}):\n" + "\n".join(found)]
