"""Scoring and what is read from the scores: the metric, the runs' ranking, the tables and figures.

``metrics`` is the one CCC and the AVEC-style scoring (used by training and fusion as well);
``ranking`` aggregates seeds, ranks the runs and pairs the top sets. The tables and figures people
read, one concept a module (so editing one re-runs only the rules that use it,
emofusion.code_version): ``tables`` (Tables 2 and 3, the paired comparisons) with ``paper`` (the
paper's own figures), ``scores`` (what is read from scores files) and ``bootstrap`` (intervals);
``figures_fusion`` and ``figures_runs`` with ``plotting``; ``markdown`` (tables as text and HTML);
``labels`` (how outputs name things); ``weight_search``; ``report_items`` (the entries of
`snakemake --report`); ``readme_block`` (the README's results block); ``summary`` (the end-of-run
summary).
"""
