"""Encoding models: cross-validated ridge regression from a model layer's features to
every voxel (or neuron) of an ROI, scored on held-out images by Pearson r.

One module per step, in the order the workflow runs them:

- :mod:`~lrrsa.encoding.protocols`: which images train and which test (the dataset's
  own train/test split, or K folds over repeated stimuli), as a stimulus table;
- :mod:`~lrrsa.encoding.responses`: each subject's ROI responses to those images and the
  voxels' noise ceilings;
- :mod:`~lrrsa.encoding.features`: the feature transform, fitted on training images only;
- :mod:`~lrrsa.encoding.ridge`: ridge regression with the penalty chosen per voxel by
  cross-validation inside the training images (himalaya);
- :mod:`~lrrsa.encoding.fit`: one model's fits for every layer, ROI and subject;
- :mod:`~lrrsa.encoding.inference`: ROI scores, their intervals and the condition
  comparisons, with the variance components of :mod:`lrrsa.rsa.contrasts`.
"""
