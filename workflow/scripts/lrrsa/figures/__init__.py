"""Figures of the study. Each function takes data frames (or arrays) and returns a
matplotlib figure, so tests check what is drawn; the thin scripts save them.

Modules: ``style`` (condition colours, journal sizes, saving), ``results`` (RSA
results), ``models`` (architecture, training dynamics, conv1 filters)."""

import matplotlib

matplotlib.use("Agg")  # headless: jobs run on clusters without a display; set before pyplot loads
