"""Reporting: results files with asserted claims, one figure style, the roadmap, sliders."""
