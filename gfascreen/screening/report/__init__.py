"""Screening run -> report (:func:`write_report`); the code is in the modules of this
package.
"""

from gfascreen.screening.report.quaternary import domain_rule, write_report
from gfascreen.screening.report.slices import on_slice, slice_levels

__all__ = ["domain_rule", "on_slice", "slice_levels", "write_report"]
