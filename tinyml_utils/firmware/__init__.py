"""Firmware: the course's int8 models and MFCC front end as Cortex-M programs on an emulated core.

This layer sits above ``deploy`` and below ``course``: C source from an int8 ``.tflite``, Cortex-M
builds with a pip-installed compiler, runs on a pip-installed emulator. Nothing here needs a board.

Modules (heavy packages — ziglang, unicorn, pyelftools, LiteRT — are imported inside functions):

* :mod:`.tflite_model`, :mod:`.requant`, :mod:`.layers`, :mod:`.reference`, :mod:`.codegen`, ``c/kernels*``:
  read an int8 ``.tflite``, derive TFLite Prepare's multipliers and shifts, emit C with the course's
  own int8 kernels (rounding per op explicit), check them against LiteRT's reference kernels.
* :mod:`.toolchain`: ``zig cc`` builds with the startup code and a linker script sized from a
  device profile (:class:`~.toolchain.DoesNotFit` says by how many bytes a program overflows).
* :mod:`.emulator`: Unicorn runs an ELF (buffers by symbol; exact instruction counts between two
  marker functions with a block hook; painted-stack high-water).
* :mod:`.device`: :class:`~.device.ModelOnCore`, a model on a core (build once, predict many, count few).
* :mod:`.mfcc`: CMSIS-DSP's ``arm_mfcc_f32`` from the ``cmsisdsp`` source distribution, on a Cortex-M4F.

The interface between the generator and the core side::

    prog = codegen.generate(tflite_path, variant="naive")   # CProgram
    prog.sources      # dict: file name -> C text (model + kernels; no startup or linker script)
    prog.input, prog.output   # shape, scale, zero_point, dtype ("int8")
    prog.layers       # op names, MACs per layer
    prog.model_name

The generated C defines ``int8_t g_input[N]; int8_t g_output[M]; int model_invoke(void);`` and calls
``marker_layer(i)`` (a weak empty function) before layer ``i`` and once more with ``i = n_layers``.
It defines no ``main``: the startup code's ``fw_run()`` calls ``model_invoke()`` between
``marker_start()`` and ``marker_stop()``, and an optional ``model_init()`` runs once at reset. ::

    fw = toolchain.build(prog.sources, core="cortex-m4", opt="-O2")   # Firmware: ELF, sections, compiler record
    em = emulator.Emulator(fw)
    em.run(x_int8)        # -> g_output (int8), no hook: fast
    em.count(x_int8)      # -> Count(instructions, per_layer, stack_high_water): exact, slow

Every count is **instructions executed for the named compiler and flags, not cycles**.
"""
