"""Pictures: CED curves, overlays of heatmaps / ellipses / points, tables (matplotlib for notebooks, plotly for the app)."""
