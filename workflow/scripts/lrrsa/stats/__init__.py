"""The workflow's statistics: the per-ROI tests and the tables under ``stats/``, one
module per job or table. Import the submodule you need; this package imports nothing.

- :mod:`~lrrsa.stats.seeds`: independent seeds per use from the config's one seed.
- :mod:`~lrrsa.stats.roi_tests`: every test of one ROI (Mantel tests of conditions and
  their differences, bootstrap intervals, partial RSA, subject-level tests) as a long
  table, ``stats/tests/<roi>.tsv`` (job ``run_roi_tests``).
- :mod:`~lrrsa.stats.pixel_baseline`: the pixel RDM's own score in every ROI and each
  condition's test against it, ``stats/tests/pixel_baseline.tsv`` (job
  ``run_pixel_baseline_tests``).
- :mod:`~lrrsa.stats.fdr_family`: the FDR families ``stats.fdr.family`` names, and
  ``p_fdr`` over them.
- :mod:`~lrrsa.stats.study_tables`: ``summary.tsv``, ``pairwise.tsv``, ``partial.tsv``,
  ``subjects.tsv``, ``pixel_baseline.tsv`` from the test tables.
- :mod:`~lrrsa.stats.noise_ceiling_table`: ``noise_ceiling.tsv``.
- :mod:`~lrrsa.stats.layer_selection`: ``layers.tsv``, the best layer per ROI chosen
  on one half of the stimuli and scored on the other.
- :mod:`~lrrsa.stats.split_half`: each subject's RDMs from odd and from even sessions.
- :mod:`~lrrsa.stats.rank_agreement`: Kendall's tau-b of the conditions' rankings in
  corresponding ROIs of two datasets, its exact permutation p and a seed-bootstrap interval.
- :mod:`~lrrsa.stats.across_datasets`: that agreement for every pair of a run's brain
  datasets (the rsa scores at the mapped layers), with the pixel RDM's scores beside them.

The engine behind them is :mod:`lrrsa.rsa`; what each statistic is and what it
returns on degenerate input: ``docs/STATISTICS.md``.
"""
