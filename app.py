"""Landmark loss lab dashboard: `streamlit run app.py [-- --results DIR]` (default: results/ beside this file).

Views: Compare (which method is best per subset: table, CED, robustness, sweeps, paper claims), Inspect (one face:
ground truth vs each run, heatmaps, covariance ellipses, Laplace scales, decoders, per-landmark errors; worst faces;
faces where run A beats run B) and Train (a small run from the browser). The views live in lab/dashboard/; this file only
runs the page.
"""
from lab.dashboard.page import main

main()
