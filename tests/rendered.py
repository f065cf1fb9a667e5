"""A report page rendered in headless Chromium and measured: the boxes (px, CSS) of every
text of its plotly figures, of the known alloys' number labels and markers, of its
figures and tables, and the page's width, read back from the rendered DOM."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: The viewport the report is read at (px).
PAGE_PX = 1400

#: Run in the page once it has loaded: the boxes as JSON in ``<pre id='gfa-measure'>``.
_MEASURE_JS = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const box = e => { const r = e.getBoundingClientRect();
                     return [r.left, r.top, r.right, r.bottom]; };
  const out = {width: window.innerWidth, scroll: document.documentElement.scrollWidth,
               figures: [], tables: []};
  document.querySelectorAll('.plotly-graph-div').forEach(div => {
    const texts = [], labels = [], markers = [];
    div.querySelectorAll('svg.main-svg text').forEach(t => {
      if (t.textContent.trim()) texts.push({text: t.textContent, box: box(t)}); });
    div.querySelectorAll('g.annotation').forEach(a => {
      const t = a.querySelector('text.annotation-text'), bg = a.querySelector('rect.bg');
      if (t && bg && /^[0-9]+$/.test(t.textContent)) {
        labels.push({text: t.textContent, box: box(bg)}); } });
    div.querySelectorAll('g.trace').forEach(g => {
      const cd = g.__data__, tr = cd && cd[0] && cd[0].trace;
      if (tr && String(tr.name).startsWith('known:')) {
        g.querySelectorAll('path.point').forEach(p => markers.push(box(p))); } });
    const images = Array.from(div.querySelectorAll('g.imagelayer image')).map(box);
    const o = div.getBoundingClientRect(), fl = div._fullLayout, tri = [];
    (fl._subplots.ternary || []).forEach(id => { const t = fl[id]._subplot;
      tri.push([o.left + t.x0, o.top + t.y0, o.left + t.x0 + t.w, o.top + t.y0 + t.h]); });
    out.figures.push({box: box(div), texts: texts, labels: labels, markers: markers,
                      images: images, triangles: tri, size: fl._size, margin: fl.margin});
  });
  document.querySelectorAll('table').forEach(t => out.tables.push({
    box: box(t), head: Array.from(t.querySelectorAll('th')).map(h => h.textContent)}));
  const pre = document.createElement('pre');
  pre.id = 'gfa-measure'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 300));
</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class Box:
    """A box on the page (px): left, top, right, bottom, and what it holds."""

    x0: float
    y0: float
    x1: float
    y1: float
    what: str = ""

    def overlaps(self, other: Box, gap: float = 0.0) -> bool:
        """Whether the two overlap, or come closer than ``gap`` px both ways."""
        return (min(self.x1, other.x1) - max(self.x0, other.x0) > -gap
                and min(self.y1, other.y1) - max(self.y0, other.y0) > -gap)


def overlapping(boxes: list[Box], others: list[Box] | None = None, gap: float = 0.0
                ) -> list[tuple[str, str]]:
    """The pairs of ``boxes`` that overlap or come closer than ``gap`` px (or, given
    ``others``, each box with the ``others`` it overlaps), by what they hold."""
    if others is None:
        return [(a.what, b.what) for i, a in enumerate(boxes) for b in boxes[:i]
                if a.overlaps(b, gap)]
    return [(a.what, b.what) for a in boxes for b in others if a.overlaps(b, gap)]


def _boxes(items: list[dict]) -> list[Box]:
    return [Box(*it["box"], what=it.get("text", "")) for it in items]


@dataclass(frozen=True)
class Page:
    """A rendered page's measures: the viewport's and the content's width (px), and per
    figure its box, texts, number labels and known-alloy markers; the tables' boxes."""

    width: float
    scroll: float
    figures: list[dict]
    tables: list[dict]

    def texts(self, k: int) -> list[Box]:
        return _boxes(self.figures[k]["texts"])

    def labels(self, k: int) -> list[Box]:
        return _boxes(self.figures[k]["labels"])

    def markers(self, k: int) -> list[Box]:
        return [Box(*b, what="marker") for b in self.figures[k]["markers"]]

    def moved(self, k: int) -> list[str]:
        """What plotly.js drew elsewhere than the report placed it on figure ``k``: a
        margin it widened (the triangles move off the images and number labels placed on
        them in px), a triangle without its map image on it (1.5 px)."""
        f = self.figures[k]
        out = [f"margin {s} {f['margin'][s]} -> {f['size'][s]}" for s in "lrtb"
               if abs(f["size"][s] - f["margin"][s]) > 0.5]
        return out + [f"triangle {[round(v) for v in t]} has no image on it"
                      for t in f["triangles"] if f["images"] and not any(
                          max(abs(a - b) for a, b in zip(t, im, strict=True)) <= 1.5
                          for im in f["images"])]

    def too_wide(self) -> list[str]:
        """What reaches past the viewport's right edge: figures and tables (by their
        first column's heading)."""
        out = [f"figure {k}" for k, f in enumerate(self.figures) if f["box"][2] > self.width]
        return out + [f"table ({(t['head'] or ['?'])[0]}, ...) right edge {t['box'][2]:.0f}"
                      for t in self.tables if t["box"][2] > self.width]


def measure(path: Path, tmp_path: Path, width: int = PAGE_PX) -> Page:
    """Render the report at ``path`` (a copy with the measuring script) in headless
    Chromium at a ``width`` px wide viewport and read back its measures."""
    page = tmp_path / f"measured_{path.name}"
    text = path.read_text(encoding="utf-8")
    page.write_text(text.replace("</body>", _MEASURE_JS + "</body>"), encoding="utf-8")
    r = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=8000",
         f"--window-size={width},1000", "--hide-scrollbars", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    m = re.search(r"<pre id=\"gfa-measure\">(.*?)</pre>", r.stdout, re.S)
    assert m, f"no measures in the rendered page: {r.stderr[-2000:]}"
    d = json.loads(html.unescape(m.group(1)))
    assert d["width"] == width, d["width"]
    return Page(d["width"], d["scroll"], d["figures"], d["tables"])
