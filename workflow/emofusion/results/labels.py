"""How the tables and figures name things: the fusion protocols, our loss modes and the corpus a
run's numbers come from (the note every table and figure carries)."""

from __future__ import annotations

#: Labels of the fusion protocols (docs/fusion.md); in-sample is the paper's.
PROTOCOL_LABELS = {"in-sample": "in-sample (paper's protocol)", "grouped-cv": "grouped-cv"}

#: Labels of our loss modes (paper Table 2's names where the paper has one).
MODE_LABELS = {"stl_arousal": "STL1 (Aro)", "stl_valence": "STL2 (Val)", "stl_liking": "STL3 (Lik)",
               "mtl_equal": "MTL equal (1, 1, 1)", "mtl1": "MTL1 [4]", "mtl2": "MTL2 (paper's)"}

#: What a run's numbers show, by whether its corpus is generated: the note under every table and figure.
CORPUS_NOTE = {True: "generated corpus: these numbers demonstrate the machinery, not the paper's claims",
               False: "real AVEC 2019 CES data"}
