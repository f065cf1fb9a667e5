"""gfascreen: screen alloy composition space for bulk-metallic-glass formers.

Where things happen (one place each):

* composition -> OP image: :mod:`gfascreen.featurize.op_image`
* OP image -> Dmax (mm): :mod:`gfascreen.model.ensemble`
* grid -> scores -> Parquet: :mod:`gfascreen.screening.run`
* Parquet -> report: :mod:`gfascreen.screening.report`
"""

__version__ = "0.1.0"

from gfascreen.errors import GfaError  # noqa: E402

__all__ = ["GfaError", "__version__"]
