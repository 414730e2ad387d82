"""A strict Content-Security-Policy on the formgrader's pages (a server extension of the formgrader).

The formgrader shows students' notebooks inside its own pages, on the origin whose API changes
grades. Their HTML is sanitised first (graders.grading.sanitize); this policy is the second wall:
only the formgrader's own scripts run. Those are files served by the formgrader (``'self'``) and
the inline scripts of nbgrader's templates. A submission page is the template's head and
navigation, then the notebook from ``id="notebook-container"`` on: inline scripts before that
marker are the template's and are allowed by their hash, those after it are the student's and are
not. Event-handler attributes are allowed only where their exact text is one of nbgrader's
templates' own (``toggle_name(true);``), whatever element carries them.

Styles stay inline-able (nbconvert's notebook CSS is inline); images may be ``data:`` (figures);
nothing may be fetched from, posted to or framed by another origin.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from tornado import web

NOTEBOOK_MARKER = b'id="notebook-container"'
INLINE_SCRIPT = re.compile(rb"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.S | re.I)
EXECUTABLE_TYPES = {b"", b"text/javascript", b"application/javascript", b"module"}
POLICY = ("default-src 'none'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'self'; "
          "base-uri 'none'; object-src 'none'; frame-ancestors 'self'")


def sha256_source(text: bytes) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text).digest()).decode()}'"


@lru_cache(maxsize=1)
def template_event_handlers() -> tuple[str, ...]:
    """The event-handler attribute values written in nbgrader's formgrader templates."""
    from nbgrader.server_extensions.formgrader import handlers

    found = set()
    for template in Path(handlers.template_path).rglob("*"):
        if template.is_file():
            found.update(re.findall(r'\son[a-z]+="([^"]*)"', template.read_text(errors="replace")))
    return tuple(sorted(found))


def policy_for(html: bytes) -> str:
    """The policy for one formgrader page: its template's inline scripts by hash, nothing else inline."""
    template_part = html.split(NOTEBOOK_MARKER, 1)[0]
    hashes = []
    for script in INLINE_SCRIPT.finditer(template_part):
        kind = re.search(rb"""type\s*=\s*["']?([^"'\s>]*)""", script["attrs"], re.I)
        if b"src=" not in script["attrs"].lower() and (kind[1].lower() if kind else b"") in EXECUTABLE_TYPES:
            hashes.append(sha256_source(script["body"]))
    handlers = [sha256_source(h.encode()) for h in template_event_handlers()]
    scripts = "".join(f" {h}" for h in dict.fromkeys(hashes))
    if handlers:
        scripts += " 'unsafe-hashes' " + " ".join(handlers)
    return POLICY.format(scripts=scripts)


def _with_policy(handler_class: type, prefix: str) -> type:
    original_finish = handler_class.finish

    def finish(self, chunk=None):
        if not self._finished and self.request.path.startswith(prefix):
            if chunk is not None:
                self.write(chunk)
                chunk = None
            html = "html" in str(self._headers.get("Content-Type", ""))
            self.set_header("Content-Security-Policy", policy_for(b"".join(self._write_buffer) if html else b""))
        return original_finish(self, chunk)

    return type(f"CSP{handler_class.__name__}", (handler_class,), {"finish": finish})


def _load_jupyter_server_extension(serverapp) -> None:
    web_app = serverapp.web_app
    prefix = serverapp.base_url.rstrip("/") + "/formgrader"
    original = web_app.get_handler_delegate
    cache: dict[type, type] = {}

    def get_handler_delegate(request, target_class, *args, **kwargs):
        if isinstance(target_class, type) and issubclass(target_class, web.RequestHandler) \
                and request.path.startswith(prefix):
            if target_class not in cache:
                cache[target_class] = _with_policy(target_class, prefix)
            target_class = cache[target_class]
        return original(request, target_class, *args, **kwargs)

    web_app.get_handler_delegate = get_handler_delegate
    serverapp.log.info("graders.hub.formgrader_csp: a strict Content-Security-Policy on %s", prefix)


def _jupyter_server_extension_points():
    return [{"module": "graders.hub.formgrader_csp"}]
