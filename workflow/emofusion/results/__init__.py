"""Scoring and what is read from the scores: the metric, the runs' ranking, the tables and figures.

``metrics`` is the one CCC and the AVEC-style scoring (used by training and fusion as well);
``ranking`` aggregates seeds, ranks the runs and pairs the top sets; ``report`` writes the tables
and figures.
"""
