"""Great Expectations Data Docs that render styled with no network.

GX's Data Docs pages load Bootstrap, jQuery, Popper, Font Awesome, bootstrap-table,
bootstrap-datepicker and Vega from public CDNs, and a logo from an S3 bucket with the data context id
in the query string. On a machine that reaches nothing, every page opens unstyled, and the index's
tables (drawn by bootstrap-table in JavaScript) stay empty.

:func:`make_offline` copies local copies of those assets next to the pages
(``<site>/static/offline/``) and rewrites every HTML file of the site to use them, with relative
paths, so the site also works when copied elsewhere. It is idempotent: a second call finds nothing
left to rewrite. Call it after every ``build_docs()`` (GX rewrites the pages on every build).

Where the assets come from (pinned PyPI packages, no CDN at run time):

======================================  ==================================  ======================
CDN asset in the GX templates           local copy                          PyPI package
======================================  ==================================  ======================
bootstrap 4.3.1 css, js                 Bootstrap 4.5.3 css, bundle js      XStatic-Bootstrap 4.5.3.1
popper.js 1.12.9                        (inside bootstrap.bundle.min.js)    XStatic-Bootstrap 4.5.3.1
jquery 3.7.1                            jQuery 3.7.1                        XStatic-jQuery 3.7.1.1
font-awesome 6.6.0 css + webfonts       Font Awesome Free 6.6.0             fontawesomefree 6.6.0
bootstrap-datepicker 1.9.0 css, js      bootstrap-datepicker 1.4.0          XStatic-Bootstrap-Datepicker 1.4.0.1
vega 5, vega-lite 5, vega-embed 6       vega 5, vega-lite 5.23, embed 6.29  django-js-lib-vega-embed 6.29.0.3
bootstrap-table 1.19.1 (+filter ext.)   ``bootstrap-table-lite.js`` below   none (no PyPI package ships it)
bootstrap-dark 1.1.0 (dark scheme)      empty stylesheet (light only)       none
GX logo on S3 (with context id)         ``static/images/logo-long.png``     great-expectations
======================================  ==================================  ======================

bootstrap-table-lite is a small replacement written here: it draws the same tables (columns,
rows, row links, the initial sort order) with a search box, without pagination and per-column
filter controls.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["OfflineReport", "make_offline", "external_loads"]

OFFLINE_DIR = "static/offline"

BOOTSTRAP_TABLE_LITE_JS = r"""/* bootstrap-table-lite: written for akhbar (warehouse/datadocs.py), not the bootstrap-table project.
   Draws GX Data Docs tables offline: $(table).bootstrapTable({columns, data, sortName, sortOrder,
   rowStyle, rowAttributes, search}); methods 'resetSearch' and 'clearFilterControl' clear the search.
   Cells are the HTML strings GX renders; rows fire 'click-row.bs.table' like bootstrap-table. */
(function ($) {
  "use strict";
  function fn(name) { return typeof name === "function" ? name : (name && window[name]) || null; }
  function sortKey(v) { var n = parseFloat(v); return (typeof v === "number" || (v !== "" && !isNaN(n) && isFinite(v))) ? n : String(v == null ? "" : v).replace(/<[^>]*>/g, "").trim().toLowerCase(); }
  function draw($table, opts, query) {
    var columns = opts.columns || [], rows = (opts.data || []).slice();
    var sortCol = null;
    columns.forEach(function (c) { if (c.field === opts.sortName) { sortCol = c; } });
    if (opts.sortName) {
      var key = (sortCol && sortCol.sortName) || opts.sortName, dir = opts.sortOrder === "desc" ? -1 : 1;
      rows.sort(function (a, b) { var x = sortKey(a[key]), y = sortKey(b[key]); return x < y ? -dir : x > y ? dir : 0; });
    }
    if (query) {
      var q = query.toLowerCase();
      rows = rows.filter(function (r) {
        return columns.some(function (c) { return String(r[c.field] == null ? "" : r[c.field]).replace(/<[^>]*>/g, " ").toLowerCase().indexOf(q) >= 0; });
      });
    }
    var rowStyle = fn(opts.rowStyle), rowAttributes = fn(opts.rowAttributes);
    var $thead = $("<thead>"), $head = $("<tr>");
    columns.forEach(function (c) { $head.append($("<th>").css("text-align", c.align || "").html(c.title || c.field)); });
    $thead.append($head);
    var $tbody = $("<tbody>");
    rows.forEach(function (r, i) {
      var $tr = $("<tr>");
      if (rowStyle) { var st = rowStyle(r, i) || {}; if (st.css) { $tr.css(st.css); } if (st.classes) { $tr.addClass(st.classes); } }
      if (rowAttributes) { var at = rowAttributes(r, i) || {}; Object.keys(at).forEach(function (k) { if (at[k] != null) { $tr.attr(k, at[k]); } }); }
      columns.forEach(function (c) { $tr.append($("<td>").css("text-align", c.align || "").html(r[c.field] == null ? "" : String(r[c.field]))); });
      $tr.on("click", function () { $table.trigger("click-row.bs.table", [r, $tr]); });
      $tbody.append($tr);
    });
    $table.empty().append($thead, $tbody).addClass("table table-hover table-sm bootstrap-table-lite");
  }
  $.fn.bootstrapTable = function (arg) {
    return this.each(function () {
      var $table = $(this);
      if (typeof arg === "string") {
        var state = $table.data("bt-lite");
        if (state && (arg === "resetSearch" || arg === "clearFilterControl")) { state.$search.val(""); draw($table, state.opts, ""); }
        return;
      }
      var opts = $.extend({}, arg || {}), state = { opts: opts, $search: $() };
      if (String(opts.search) === "true") {
        state.$search = $('<input type="search" class="form-control form-control-sm mb-2" placeholder="Search">');
        state.$search.on("input", function () { draw($table, opts, state.$search.val()); });
        var $toolbar = opts.toolbar ? $(opts.toolbar) : $();
        if ($toolbar.length) { $toolbar.prepend(state.$search); } else { $table.before(state.$search); }
      }
      $table.data("bt-lite", state);
      draw($table, opts, "");
    });
  };
})(window.jQuery);
"""

BOOTSTRAP_TABLE_LITE_CSS = """/* bootstrap-table-lite (akhbar): tables are styled by Bootstrap itself. */
.bootstrap-table-lite td, .bootstrap-table-lite th { vertical-align: middle; }
"""

POPPER_STUB = """/* Popper is bundled in bootstrap.bundle.min.js (akhbar offline Data Docs). */
"""

DARK_STUB = """/* bootstrap-dark is not available offline; Data Docs use the light scheme (akhbar). */
"""


def _xstatic(name: str) -> Path:
    import importlib

    return Path(importlib.import_module(f"xstatic.pkg.{name}").BASE_DIR)


def _fontawesome() -> Path:
    import fontawesomefree

    return Path(fontawesomefree.__file__).parent / "static" / "fontawesomefree"


def _vega() -> Path:
    import js_lib_vega_embed

    return Path(js_lib_vega_embed.__file__).parent / "static" / "js_lib_vega_embed"


@dataclass(frozen=True)
class _Asset:
    local: str  # path under static/offline/
    copy: Callable[[Path], None]  # writes the local file(s) into the given destination path


def _file(getter: Callable[[], Path], relative: str) -> Callable[[Path], None]:
    def copy(dest: Path) -> None:
        _copy_if_changed(getter() / relative, dest)
    return copy


def _text(content: str) -> Callable[[Path], None]:
    def copy(dest: Path) -> None:
        if not dest.exists() or dest.read_text(encoding="utf-8") != content:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(content, encoding="utf-8")
    return copy


def _fontawesome_css(dest: Path) -> None:
    """all.min.css plus the webfonts it points to (``../webfonts/``)."""
    root = _fontawesome()
    _copy_if_changed(root / "css" / "all.min.css", dest)
    for font in (root / "webfonts").iterdir():
        _copy_if_changed(font, dest.parent.parent / "webfonts" / font.name)


def _copy_if_changed(src: Path, dest: Path) -> None:
    if dest.exists() and dest.stat().st_size == src.stat().st_size:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


# CDN URL (as in GX 1.24's templates) → local asset. Matching is on the URL without query string.
ASSETS: dict[str, _Asset] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        _Asset("bootstrap/css/bootstrap.min.css", _file(lambda: _xstatic("bootstrap"), "css/bootstrap.min.css")),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        _Asset("bootstrap/js/bootstrap.bundle.min.js", _file(lambda: _xstatic("bootstrap"), "js/bootstrap.bundle.min.js")),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        _Asset("bootstrap/js/popper-in-bundle.js", _text(POPPER_STUB)),
    "https://code.jquery.com/jquery-3.7.1.min.js":
        _Asset("jquery/jquery.min.js", _file(lambda: _xstatic("jquery"), "jquery.min.js")),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        _Asset("fontawesome/css/all.min.css", _fontawesome_css),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        _Asset("datepicker/bootstrap-datepicker3.standalone.css",
               _file(lambda: _xstatic("bootstrap_datepicker"), "bootstrap-datepicker3.standalone.css")),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        _Asset("datepicker/bootstrap-datepicker.js", _file(lambda: _xstatic("bootstrap_datepicker"), "bootstrap-datepicker.js")),
    "https://cdn.jsdelivr.net/npm/vega@5": _Asset("vega/vega5.js", _file(_vega, "vega5.js")),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": _Asset("vega/vega-lite5.js", _file(_vega, "vega-lite5.js")),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": _Asset("vega/vega-embed6.js", _file(_vega, "vega-embed6.js")),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        _Asset("bootstrap-table-lite/bootstrap-table-lite.js", _text(BOOTSTRAP_TABLE_LITE_JS)),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        _Asset("bootstrap-table-lite/bootstrap-table-lite.css", _text(BOOTSTRAP_TABLE_LITE_CSS)),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        _Asset("bootstrap-table-lite/filter-control-none.js", _text("/* filter controls: not offline (akhbar) */\n")),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        _Asset("bootstrap-table-lite/filter-control-none.css", _text("/* filter controls: not offline (akhbar) */\n")),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        _Asset("bootstrap-table-lite/filter-control-none.css", _text("/* filter controls: not offline (akhbar) */\n")),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        _Asset("bootstrap/css/dark-none.css", _text(DARK_STUB)),
}
# The GX logo: static/images/ of the site (GX copies its static files there on every build).
LOGO_URL = re.compile(r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/[A-Za-z_-]+\.png[^\"')\s]*")
LOGO_LOCAL = "static/images/logo-long.png"

# A tag attribute that loads something (src=, href= of a <link>) or a CSS url(), pointing off-site.
_LOADS = re.compile(r"""(?:<(?:script|img|iframe|source|embed)\b[^>]*?\bsrc|<link\b[^>]*?\bhref)\s*=\s*["'](https?://[^"']+)["']"""
                    r"""|url\(\s*['"]?(https?://[^'")\s]+)""", re.IGNORECASE)
_SRI = re.compile(r"""\s+(?:integrity|crossorigin)\s*=\s*["'][^"']*["']""", re.IGNORECASE)
_TAG_WITH_SRI = re.compile(r"""<(?:script|link)\b[^>]*\b(?:integrity|crossorigin)\s*=[^>]*>""", re.IGNORECASE)


@dataclass
class OfflineReport:
    site: Path
    pages: int = 0  # HTML files seen
    rewritten: int = 0  # HTML files changed by this call
    assets: list[str] = field(default_factory=list)  # local asset paths (relative to the site)
    external: dict[str, int] = field(default_factory=dict)  # loads still pointing off-site → pages


def _site_dir(data_docs_dir: str | Path) -> Path:
    path = Path(data_docs_dir)
    if path.suffix.lower() == ".html":
        path = path.parent
    if (path / "index.html").is_file():
        return path
    local = path / "uncommitted" / "data_docs" / "local_site"  # a GX project dir was given
    if (local / "index.html").is_file():
        return local
    if path.is_dir():
        return path
    raise FileNotFoundError(f"no Data Docs site at {data_docs_dir}")


def external_loads(html: str) -> list[str]:
    """URLs a page would fetch from the network when opened (scripts, stylesheets, images, css url())."""
    return [m.group(1) or m.group(2) for m in _LOADS.finditer(html)]


def _relative(target: Path, page: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def make_offline(data_docs_dir: str | Path) -> OfflineReport:
    """Copy the CDN assets into ``<site>/static/offline/`` and point every page of the site at them.

    ``data_docs_dir``: the ``local_site`` directory, its ``index.html`` (what ``build_docs()``
    returns), or the GX project directory. Returns what was done and any load left pointing off-site
    (none with GX 1.24's templates). Idempotent.
    """
    site = _site_dir(data_docs_dir)
    offline = site / OFFLINE_DIR
    report = OfflineReport(site)
    for asset in {a.local: a for a in ASSETS.values()}.values():
        asset.copy(offline / asset.local)
        report.assets.append(f"{OFFLINE_DIR}/{asset.local}")
    logo = site / LOGO_LOCAL
    if not logo.exists():
        from great_expectations.render import view

        src = Path(view.__file__).parent / "static" / "images" / "logo-long.png"
        if src.exists():
            _copy_if_changed(src, logo)
    for page in sorted(site.rglob("*.html")):
        report.pages += 1
        html = page.read_text(encoding="utf-8")
        new = _TAG_WITH_SRI.sub(lambda m: _SRI.sub("", m.group(0)), html)
        for url, asset in ASSETS.items():
            if url in new:
                local = _relative(offline / asset.local, page)
                new = re.sub(re.escape(url) + r"(?=[\"'?#)\s])", local, new)
        new = LOGO_URL.sub(_relative(logo, page), new)
        if new != html:
            tmp = page.with_suffix(".html.tmp")
            tmp.write_text(new, encoding="utf-8")
            os.replace(tmp, page)
            report.rewritten += 1
        for url in external_loads(new):
            report.external[url] = report.external.get(url, 0) + 1
    return report


if __name__ == "__main__":  # pragma: no cover - python -m akhbar.warehouse.datadocs <site>
    import sys

    for arg in sys.argv[1:] or ["."]:
        r = make_offline(arg)
        print(f"{r.site}: {r.pages} pages, {r.rewritten} rewritten, {len(r.assets)} assets; "
              f"still external: {r.external or 'none'}")
