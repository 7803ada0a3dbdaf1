"""The fusion stage: multistage SVR fusion of the selected runs' predictions.

One concept per module: ``protocols`` (the two protocols, a stage's parts, the grouped CV folds),
``inputs`` (labels and prediction folders -> channels), ``design`` (context-window design matrices),
``fit`` (one part of one stage: the grid, the (k, C) choice of ``selection``, the chain file of
``chain``), ``stage`` (a stage's parts joined into ``predictions/`` and ``scores.json``),
``mlflow_run`` (a stage's MLflow run), ``summary`` (``summary.tsv``), ``scheduler`` (the whole chain
in one process tree, for ``emofusion fuse``), ``apply`` (a fitted chain re-applied to new
recordings); ``solver`` is the SSNAL solver of every fit (``newton``: its Newton directions);
``avec`` is the faithful AVEC 2019 mode. The fit settings are :class:`emofusion.fusion_spec.FusionSpec`. The
workflow's fusion rules run one job function each: ``fit.fuse_part_job``, ``stage.fuse_stage_job``,
``summary.fusion_summary_job``.
"""
