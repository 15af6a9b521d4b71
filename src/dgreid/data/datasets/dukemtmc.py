"""DukeMTMC-reID: the Market-1501 folder layout with ``PPPP_cC_fFFFFFFF.jpg`` names.

Its 408 gallery-only distractor identities have ordinary pids, so every image is kept.
"""

from __future__ import annotations

import re

from dgreid.data.datasets.base import Layout
from dgreid.data.datasets.market1501 import SPLIT_DIRS, ThreeFolderLoader


class DukeMTMC(ThreeFolderLoader):
    """DukeMTMC-reID (Zheng et al., ICCV 2017): 1,812 ids, 8 cameras."""

    layout = Layout(
        candidates=(
            "dukemtmc-reid/DukeMTMC-reID",
            "DukeMTMC-reID",
            "dukemtmcreid/DukeMTMC-reID",
            "dukemtmc",
        ),
        markers=SPLIT_DIRS,
    )
    describe = "bounding_box_train/, query/ and bounding_box_test/ with PPPP_cC_fFFFFFFF.jpg images"
    pattern = re.compile(r"(\d+)_c(\d)_.+")
    expected = "PPPP_cC_fFFFFFFF.jpg (pid, camera C 1-8, frame)"
