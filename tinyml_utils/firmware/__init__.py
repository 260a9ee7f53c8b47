"""Firmware: int8 ``.tflite`` files and the MFCC front end as Cortex-M programs on an emulated core.

Trap: counts are **instructions executed for the named compiler and flags, not cycles**.
"""
