"""No active content from a student's notebook in a page a person opens: the formgrader's view of
a submission (TAs and instructors, on the origin whose API changes grades) and the feedback HTML.

Two parts, both set in nbgrader_config.py for nbconvert's ``HTMLExporter``, which both the
formgrader and ``generate_feedback`` use:

- ``clean_html`` replaces nbconvert's filter of that name (``HTMLExporter.sanitize_html``): an
  allow-list of tags and attributes through bleach, with no scripts, no event handlers, no
  ``javascript:`` links, no forms, frames, ``id``/``class`` (the formgrader's scripts find their
  inputs by id and class) and styles limited to looks (no ``position``);
- ``markdown2html`` replaces nbconvert's too, and cleans what it renders: nbgrader's formgrade and
  feedback templates render markdown cells (answers) themselves, without ``clean_html``;
- ``SanitizeOutputs`` removes what nbconvert's templates would render outside that filter: script
  and widget outputs, and output metadata such as an image's ``width``, which the template writes
  into an unquoted attribute.

The formgrader's Content-Security-Policy (graders.hub.formgrader_csp) is the second wall.
"""

from __future__ import annotations

import html
import re

import bleach
import jinja2
from bleach.css_sanitizer import CSSSanitizer
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details", "div",
        "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
        "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var"}
CSS_PROPERTIES = {"color", "background-color", "font-weight", "font-style", "font-size", "font-family", "text-align",
                  "text-decoration", "vertical-align", "white-space", "width", "height", "max-width", "border",
                  "border-left", "border-right", "border-top", "border-bottom", "border-collapse", "border-color",
                  "padding", "padding-left", "padding-right", "padding-top", "padding-bottom", "margin",
                  "margin-left", "margin-right", "margin-top", "margin-bottom"}
RASTER_DATA_URL = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*", re.I)
WEB_URL = re.compile(r"(https?://|mailto:|#|[^:/?#]*(/|$))", re.I)   # absolute web, fragment, or relative
SAFE_MIMETYPES = {"text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/gif",
                  "image/svg+xml"}
SAFE_GRADE_ID = re.compile(r"[\w.\-]+")


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    if name == "style" or name == "title":
        return True
    if tag == "a":
        return name == "href" and bool(WEB_URL.match(value))
    if tag == "img":
        if name == "src":
            return bool(RASTER_DATA_URL.fullmatch(value.strip()) or WEB_URL.match(value))
        return name in ("alt", "width", "height")
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan", "align")
    return tag == "ol" and name == "start"


_cleaner = bleach.Cleaner(tags=TAGS, attributes=_attribute_allowed, protocols={"http", "https", "mailto", "data"},
                          css_sanitizer=CSSSanitizer(allowed_css_properties=CSS_PROPERTIES), strip=True,
                          strip_comments=True)


def clean_html(element) -> str:
    """nbconvert's ``clean_html`` filter, stricter: what a student wrote may look, never act."""
    text = element.decode() if isinstance(element, bytes) else str(element)
    return _cleaner.clean(text)


@jinja2.pass_context
def markdown2html(context, source: str) -> str:
    """nbconvert's markdown rendering (math kept for MathJax, attachments inlined), then cleaned."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    cell = context.get("cell", {})
    renderer = IPythonRenderer(escape=False, attachments=cell.get("attachments", {}), embed_images=False,
                               path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                               anchor_link_text="¶", exclude_anchor_links=True)
    return clean_html(MarkdownWithMath(renderer=renderer).render(source))


def _plain_number(value) -> bool:
    return isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit())


class SanitizeOutputs(Preprocessor):
    """Keep only outputs that render as data, with only numeric sizes as metadata."""

    enabled = Bool(True, help="nbgrader registers its pipeline's preprocessors without enabling them").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if "grade_id" in meta and not SAFE_GRADE_ID.fullmatch(str(meta["grade_id"])):
            meta["grade_id"] = html.escape(str(meta["grade_id"]))   # templates write it into attributes
        for output in cell.get("outputs", []):
            if "data" in output:
                output["data"] = {k: v for k, v in output["data"].items() if k in SAFE_MIMETYPES}
            if "metadata" in output:
                output["metadata"] = {
                    mimetype: {k: v for k, v in values.items() if k in ("width", "height") and _plain_number(v)}
                    for mimetype, values in output["metadata"].items()
                    if mimetype in SAFE_MIMETYPES and isinstance(values, dict)}
        return cell, resources
