"""Firmware: int8 ``.tflite`` files and the MFCC front end as Cortex-M programs on an emulated core.

``codegen.generate`` writes C (the course's kernels in ``c/``), ``toolchain.build`` compiles it with
``zig cc``, ``emulator.Emulator`` runs it on Unicorn, ``device.ModelOnCore`` wraps the three.
Counts are **instructions executed for the named compiler and flags, not cycles**. Heavy packages
(ziglang, unicorn, pyelftools, LiteRT) are imported inside functions.
"""
