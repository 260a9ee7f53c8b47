"""Firmware: int8 ``.tflite`` files and the MFCC front end as Cortex-M programs on an emulated core:
``codegen`` writes C, ``toolchain`` builds it with ``zig cc``, ``emulator`` runs it on Unicorn,
``device`` wraps the three. Counts are **instructions executed for the named compiler and flags, not
cycles**. Heavy packages (ziglang, unicorn, pyelftools, LiteRT) are imported inside functions.
"""
