"""Landmark loss lab: Wing, LaplaceKL, STAR and 2D-Wasserstein losses on one backbone and one evaluation."""
__version__ = "0.1.0"
