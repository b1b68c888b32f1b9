"""GraphiQL, served at ``/graphql`` in development: Tessera's own page, loading only the
files Tessera serves itself (web/assets.py), so it works with no internet access.

The page opens on the seed's createSession example with a headers template for the
admin key. Nothing typed into it goes into its URL (no browser history, no access log),
and headers, which hold keys, are not kept in the browser's storage either: GraphiQL
keeps the editors' text in ``localStorage`` and headers only when asked to, which this
page never does; its history, which would keep them anyway, gets the template instead
(web/static/tessera/graphiql.js)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from web.assets import assets

OPERATIONS = Path(__file__).resolve().parents[1] / "graphql" / "operations"
EXAMPLE = "CreateSession.graphql"
HEADERS_TEMPLATE = {"Authorization": "Bearer <paste your admin key>"}

# Only Tessera's own origin, for scripts, styles, requests and all the rest; no inline
# script (the page's script is a served file, its settings a JSON data block). Styles
# may be inline: GraphiQL's dialogs add a <style> element when they open (to lock the
# page's scrolling), which 'self' alone refuses. Fonts and icons are data: URLs inside
# GraphiQL's stylesheet.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}

_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Tessera GraphiQL</title>
    <link rel="icon" href="data:,">
{styles}
    <script type="application/json" id="tessera-graphiql-settings">{settings}</script>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <noscript>GraphiQL needs JavaScript.</noscript>
{scripts}
  </body>
</html>
"""

_STYLES = [
    ("graphiql", "graphiql.min.css"),
    ("@graphiql/plugin-explorer", "dist/style.css"),
    ("tessera", "graphiql.css"),
]
_SCRIPTS = [
    ("react", "umd/react.production.min.js"),
    ("react-dom", "umd/react-dom.production.min.js"),
    ("graphiql", "graphiql.min.js"),
    ("@graphiql/plugin-explorer", "dist/index.umd.js"),
    ("tessera", "graphiql.js"),
]


def graphiql_html() -> str:
    """The page, with the seed's createSession example preloaded and a header template for
    the admin key."""
    table = assets()
    settings = {
        "query": (OPERATIONS / EXAMPLE).read_text(),
        "headers": json.dumps(HEADERS_TEMPLATE, indent=2),
    }
    styles = "\n".join(
        f'    <link rel="stylesheet" href="{escape(table.url(*style))}">' for style in _STYLES
    )
    scripts = "\n".join(
        f'    <script src="{escape(table.url(*script))}"></script>' for script in _SCRIPTS
    )
    return _PAGE.format(styles=styles, settings=_json_in_html(settings), scripts=scripts)


def _json_in_html(value: object) -> str:
    """JSON that no text can end the ``<script>`` element it sits in early."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
