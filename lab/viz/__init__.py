"""Pictures only (no Streamlit, no widgets, no training): CED curves, line plots of sweeps and box jitter, training
curves, heatmaps, overlays of points / ellipses / Laplace boxes on faces, rows of faces, contour alignment, and the
reports made of them (matplotlib for the notebooks and PNGs, plotly for the dashboard)."""
