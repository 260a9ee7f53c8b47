"""Lowest layer: folders, seeding and versions, native output capture, the MediaPipe stand-in."""
