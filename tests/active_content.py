"""A submission whose outputs and answers carry active content, and a check that a page has none.

The payload (``PAYLOAD_JS``) does what a student would want from a grader's browser: it reads the
formgrader's XSRF cookie, lists the grades of the submission being viewed and sets every one of
them to 99 through the formgrader's API, then marks ``window.__pwned``. It travels in every form a
notebook can carry HTML: ``<img onerror>``, ``<script>``, ``<svg onload>``, a ``javascript:``
link, raw HTML in markdown, a JavaScript output, an iframe, a form, and an image whose metadata
smuggles an attribute into nbconvert's unquoted ``width=``.
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

MARKER = "PWNED"   # in every payload; never inside anything that can run

PAYLOAD_JS = """(async () => {
  const base = location.pathname.split('/formgrader')[0] + '/formgrader/api';
  const xsrf = decodeURIComponent((document.cookie.match(/_xsrf=([^;]+)/) || ['', ''])[1]);
  const id = location.pathname.match(/submissions\\/([^/]+)/)[1];
  const grades = await (await fetch(base + '/grades?submission_id=' + id, {headers: {'X-XSRFToken': xsrf}})).json();
  for (const g of grades) {
    await fetch(base + '/grade/' + g.id, {method: 'PUT', headers: {'Content-Type': 'application/json',
      'X-XSRFToken': xsrf}, body: JSON.stringify({manual_score: 99, extra_credit: 99})});
  }
  window.__pwned = (window.__pwned || 0) + 1;  // PWNED
})()"""
ENCODED = base64.b64encode(PAYLOAD_JS.encode()).decode()
RUN = f"eval(atob('{ENCODED}'))"                 # fits in an attribute without quotes of its own

PAYLOAD_HTML = [
    f'<img src="x" onerror="{RUN}" alt="{MARKER}">',
    f"<script>{RUN} /* {MARKER} */</script>",
    f'<svg onload="{RUN}"><circle r="5"/><desc>{MARKER}</desc></svg>',
    f'<a href="javascript:{RUN}">{MARKER} link</a>',
    f'<iframe srcdoc="<script>parent.{RUN}</script>">{MARKER}</iframe>',
    f'<form action="javascript:{RUN}"><button>{MARKER}</button></form>',
    f'<div style="position:fixed;top:0" onmouseover="{RUN}">{MARKER}</div>',
]

# the answer cell of the mini course's smoke notebook: correct, and loud
ANSWER = f'''def double(x):
    return 2 * x

from IPython.display import HTML, Javascript, Markdown, display
for payload in {PAYLOAD_HTML!r}:
    display(HTML(payload))
display(Javascript({RUN!r} + " // {MARKER}"))
display(Markdown({PAYLOAD_HTML[0]!r}))
display({{"image/png": "iVBORw0KGgo=", "text/plain": "{MARKER}"}},
        metadata={{"image/png": {{"width": "1 onerror={RUN}"}}}}, raw=True)
'''

# the free-response cell: raw HTML in markdown
FREE_RESPONSE = "The product is 4 because 2 × 2.\n\n" + "\n\n".join(PAYLOAD_HTML) + \
    f"\n\n[click me](javascript:{RUN})"


class _Active(HTMLParser):
    """Collects everything in a page that could run."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.scripts: list[tuple[dict, str]] = []
        self._script: dict | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r:.80}>")
            if name in ("href", "src", "action", "formaction", "srcdoc", "data") and value and (
                    re.match(r"\s*(javascript|vbscript):", value, re.I) or name == "srcdoc"
                    or re.match(r"\s*data:text/html", value, re.I)):
                self.found.append(f"<{tag} {name}={value!r:.80}>")
        if tag in ("iframe", "object", "embed", "form", "base", "meta") and not (
                tag == "meta" and set(attrs) <= {"charset", "name", "content"}):
            self.found.append(f"<{tag}>")
        if tag == "script":
            self._script, self._text = attrs, []

    def handle_data(self, data):
        if self._script is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None


def active_content(html: str, template_handlers: tuple[str, ...] = ()) -> list[str]:
    """What in ``html`` could run a student's code: event handlers (but the page template's own,
    ``template_handlers``), script URLs, frames, forms, and any script carrying the payload."""
    parser = _Active()
    parser.feed(html)
    found = [f for f in parser.found if not any(f"={h!r:.80}>" in f for h in template_handlers)]
    for attrs, text in parser.scripts:
        if MARKER in text or ENCODED in text or (attrs.get("src") or "").startswith(("data:", "javascript:")):
            found.append(f"<script>{text[:80]!r}")
    return found
