"""The paper's own figures: Atmaja & Akagi (ICASSP 2020), Tables 2 and 3, copied, not recomputed.

They live in :data:`PAPER_TABLE2` and :data:`PAPER_TABLE3` and nowhere else; the tables
(:mod:`emofusion.results.tables`) and the weight search's table print them beside ours, never mixed
into them.
"""

from __future__ import annotations

from typing import Any

#: Atmaja & Akagi, ICASSP 2020, Table 2: dev CCC (DE+HU) of the "FAUs" feature set by loss.
#: "weights" is the paper's section 5 choice for MTL2 (alpha, beta, gamma), found by random search.
PAPER_TABLE2: dict[str, Any] = {
    "source": "Atmaja & Akagi (ICASSP 2020), Table 2",
    "feature_set": "FAUs",
    "weights": {"alpha": 0.7, "beta": 0.2, "gamma": 1.0},
    "rows": {
        "stl_arousal": {"label": "STL1 (Aro)", "arousal": 0.511, "valence": 0.235, "liking": 0.107, "mean": 0.284},
        "stl_valence": {"label": "STL2 (Val)", "arousal": 0.255, "valence": 0.558, "liking": 0.077, "mean": 0.297},
        "stl_liking": {"label": "STL3 (Lik)", "arousal": 0.255, "valence": 0.32, "liking": 0.191, "mean": 0.244},
        "mtl1": {"label": "MTL1 [4]", "arousal": 0.476, "valence": 0.524, "liking": 0.009, "mean": 0.336},
        "mtl2": {"label": "MTL2 (ours)", "arousal": 0.522, "valence": 0.578, "liking": 0.194, "mean": 0.431},
    },
}

#: Atmaja & Akagi, ICASSP 2020, Table 3: dev CCC (DE+HU), the best of each method. The paper gives
#: no average column here. "baseline" is the AVEC 2019 baseline system on FAUs [3] (not re-run here).
PAPER_TABLE3: dict[str, Any] = {
    "source": "Atmaja & Akagi (ICASSP 2020), Table 3",
    "rows": {
        "baseline": {"label": "Baseline (FAUs) [3]", "arousal": 0.531, "valence": 0.565, "liking": 0.083},
        "unimodal": {"label": "Unimodal", "arousal": 0.522, "valence": 0.578, "liking": 0.194},
        "bimodal": {"label": "Bimodal early fusion", "arousal": 0.552, "valence": 0.557, "liking": 0.284},
        "late": {"label": "Multimodal late fusion", "arousal": 0.627, "valence": 0.616, "liking": 0.292},
        "multistage": {"label": "Multistage Fusion", "arousal": 0.680, "valence": 0.656, "liking": 0.443},
    },
}
