"""Screening run -> report: the one place where a grid's scores become maps.

``write_report(run_dir)`` writes ``run_dir/_report/report.html`` (self-contained, plotly.js
embedded, opens offline: a ternary's maps are images on the triangles with the hover on a
thinned grid, and the page embeds plotly.js's cartesian partial bundle) and, for
ternaries, ``map.png`` (``map.svg`` with ``svg=True``; python-ternary on matplotlib).
A quaternary's report shows the best of each at.% of its fourth element along it, and
ternary slices at fixed at.% of it through the best region (or ``slices``), in at.% of
the alloy, one colour scale per quantity for every slice.
Known alloys of the system (the training alloys the model carries, or a table given with
``--data``) are drawn on top, numbered, coloured by measured Dmax, with crystals and
ribbons marked differently; their table gives the model's prediction at each one's own
composition. The page is laid out to be read at 1,400 px: no two texts of a figure
overlap, and its tables wrap to the page.

The modules, each importing only those before it:

- ``panels``: what the maps show (quantities, colour scales, hover);
- ``labels``: number labels placed apart beside their points (px), inside the drawing;
- ``subplot``: one map on a plotly ternary subplot (image, lattice, triangle's place);
- ``overlay``: the known alloys over the maps and their measured vs predicted table;
- ``ternary``: a ternary's interactive maps;
- ``static``: a ternary's ``map.png`` / ``map.svg``;
- ``slices``: where a quaternary report slices (at.% of its fourth element);
- ``quaternary``: a quaternary's profile and slices;
- ``page``: :func:`write_report` and the HTML page around the figures;
- ``atlas_page``: an atlas's page (its table of systems, a small map each) and
  :func:`report_run`, the report of any run.
"""

from gfascreen.screening.report.atlas_page import report_run, write_atlas_page
from gfascreen.screening.report.page import domain_rule, write_report
from gfascreen.screening.report.slices import on_slice, slice_levels

__all__ = ["domain_rule", "on_slice", "report_run", "slice_levels", "write_atlas_page",
           "write_report"]
