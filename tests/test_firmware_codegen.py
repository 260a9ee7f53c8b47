"""Oracle tests of the firmware code generator: the .tflite reader, TFLite's requantization in numpy,
the numpy int8 model and the generated C (every kernel variant), all against LiteRT's reference
kernels (``OpResolverType.BUILTIN_REF``, intermediate tensors preserved), op by op and end to end.

The models are tiny Keras nets converted by TensorFlow in a temp folder (every op the course's
chapters 02, 08 and 09 deploy, plus SAME max pooling, dilation, depth multiplier 2, RELU6 and a
per-tensor FULLY_CONNECTED), and the course's own vision CNN, DS-CNN and dense classifier with
random weights through the course's converters (the architecture decides the ops, not the weights).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
pytest.importorskip("tensorflow")

from tinyml_utils.firmware import codegen, host, layers, reference, requant, tflite_model  # noqa: E402

N_INPUTS = 100
pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")


def _convert(model, shape, path, per_channel_dense: bool = True):
    """Full-integer (int8 in/out) conversion with TensorFlow, calibrated on 32 normal samples."""
    import tensorflow as tf

    from tinyml_utils.core.env import quiet

    rep = np.random.default_rng(0).standard_normal((32, *shape)).astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rep[i:i + 1]] for i in range(len(rep)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    if not per_channel_dense:
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    with quiet():
        path.write_bytes(conv.convert())
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Three tiny int8 files: 'convs' (PAD, strided VALID conv, depthwise ×2 RELU6, dilated conv,
    MEAN, per-channel FC), 'pools' (SAME conv, SAME max pool, MEAN, per-tensor FC ×2) and
    'softmax' (an op the kernels lack)."""
    import keras

    out = tmp_path_factory.mktemp("tiny_tflite")
    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((10, 10, 2), batch_size=1)
    x = L.ZeroPadding2D(((1, 2), (2, 1)))(inp)
    x = L.Conv2D(8, 3, strides=2, padding="valid", activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu6")(x)
    x = L.Conv2D(12, 3, padding="same", dilation_rate=2, activation="relu")(x)
    convs = keras.Model(inp, L.Dense(5)(L.GlobalAveragePooling2D()(x)), name="convs")
    inp = keras.Input((9, 9, 3), batch_size=1)
    x = L.Conv2D(6, 3, strides=2, padding="same")(inp)
    x = L.GlobalAveragePooling2D()(L.MaxPooling2D(2, padding="same")(x))
    x = L.Dense(7, activation="relu")(x)
    pools = keras.Model(inp, L.Dense(4)(x), name="pools")
    inp = keras.Input((6,), batch_size=1)
    soft = keras.Model(inp, L.Dense(3, activation="softmax")(inp), name="softmax")
    return {"convs": _convert(convs, (10, 10, 2), out / "convs.tflite"),
            "pools": _convert(pools, (9, 9, 3), out / "pools.tflite", per_channel_dense=False),
            "softmax": _convert(soft, (6,), out / "softmax.tflite")}


def _inputs(path, n: int, seed: int = 0) -> np.ndarray:
    size = tflite_model.read(path).input_tensor().size
    return np.random.default_rng(seed).integers(-128, 128, size=(n, size), dtype=np.int8)


def _bit_exact_counts(run, reference, xs: np.ndarray) -> dict:
    """How many outputs of ``run(x)`` equal LiteRT's reference in every value, and how many values do."""
    same_inputs = same_values = total = 0
    for x in xs:
        a, b = np.asarray(run(x)).reshape(-1), reference.run(x).reshape(-1)
        same_inputs += int(np.array_equal(a, b))
        same_values += int((a == b).sum())
        total += a.size
    return {"inputs": len(xs), "identical_outputs": same_inputs, "values_equal": same_values, "values": total}


def _emulated_layer_outputs(emulator, program, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output of ``program`` in ``emulator``: write ``x``, run the first i + 1 layers,
    read through the 32-bit pointer ``g_layer_output[i]``."""
    x = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
    outs = []
    for i, plan in enumerate(program.layers):
        emulator.write("g_input", x)
        emulator.call("model_invoke_layers", i + 1)
        ptr = int(emulator.read("g_layer_output", np.uint32)[i])
        outs.append(emulator.read_at(ptr, plan.out_size).reshape(plan.out_shape))
    return outs


# ---- reader -------------------------------------------------------------------------------------
def test_reader_gets_ops_options_and_per_channel_quantization(tiny):
    m = tflite_model.read(tiny["convs"])
    assert [op.kind for op in m.ops] == ["PAD", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED"]
    conv, dw, dil = m.ops[1], m.ops[2], m.ops[3]
    assert conv.options["padding"] == "VALID" and conv.options["stride_h"] == 2
    assert dw.options["depth_multiplier"] == 2 and dw.options["fused_activation_function"] == "RELU6"
    assert dil.options["dilation_h_factor"] == 2
    w = m.tensors[conv.inputs[1]]
    assert w.shape == (8, 3, 3, 2) and w.data.dtype == np.int8 and len(w.scale) == 8  # OHWI, per channel
    assert m.tensors[conv.inputs[2]].data.dtype == np.int32
    pools = tflite_model.read(tiny["pools"])
    fc = [op for op in pools.ops if op.kind == "FULLY_CONNECTED"][0]
    assert len(pools.tensors[fc.inputs[1]].scale) == 1                               # per-tensor dense


def test_corrupted_or_missing_file_is_a_clear_error_naming_it(tiny, tmp_path):
    good = tiny["convs"].read_bytes()
    cases = {"truncated.tflite": good[:len(good) // 3], "garbage.tflite": bytes(range(256)) * 8,
             "flipped.tflite": good[:8] + bytes(b ^ 0xFF for b in good[8:200]) + good[200:]}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(tflite_model.TFLiteFormatError, match=name):
            tflite_model.read(path)
    with pytest.raises(FileNotFoundError):
        tflite_model.read(tmp_path / "missing.tflite")


def test_unsupported_op_names_the_op_and_the_model(tiny):
    with pytest.raises(layers.UnsupportedOpError, match=r"SOFTMAX.*softmax"):
        codegen.generate(tiny["softmax"])


# ---- requantization arithmetic --------------------------------------------------------------------
def test_quantize_multiplier_hand_values():
    assert requant.quantize_multiplier(0.5) == (1 << 30, 0)
    assert requant.quantize_multiplier(1.0) == (1 << 30, 1)
    assert requant.quantize_multiplier(0.75) == (3 << 29, 0)
    assert requant.quantize_multiplier(0.25) == (1 << 30, -1)
    assert requant.quantize_multiplier(1 - 2.0 ** -33) == (1 << 30, 1)   # mantissa rounds up to 2^31
    assert requant.quantize_multiplier(0.0) == (0, 0)
    q, s = requant.quantize_multiplier(0.0123)
    assert (1 << 30) <= q < (1 << 31) and abs(q * 2.0 ** (s - 31) / 0.0123 - 1) < 2 ** -30


def test_the_two_roundings_on_hand_ties():
    # 5 * 0.5 = 2.5: both round the tie up
    assert requant.double_rounding(5, 1 << 30, 0) == 3 and requant.single_rounding(5, 1 << 30, 0) == 3
    # 7 * 0.5 / 8 = 0.4375: single rounding gives 0; double rounds 3.5 -> 4 first, then 4 / 8 = 0.5 -> 1
    assert requant.single_rounding(7, 1 << 30, -3) == 0 and requant.double_rounding(7, 1 << 30, -3) == 1
    # -8 * 0.5 / 8 = -0.5: single rounds the tie up (0), RoundingDivideByPOT away from zero (-1)
    assert requant.single_rounding(-8, 1 << 30, -3) == 0 and requant.double_rounding(-8, 1 << 30, -3) == -1


def test_c_requantization_equals_numpy(tmp_path):
    """kernels.h's requant_double/requant_single against the numpy functions, edge values included."""
    import ctypes

    src = tmp_path / "rq.c"
    src.write_text('#include "kernels.h"\n'
                   "int32_t rq_double(int32_t a, int32_t q, int32_t s) { return requant_double(a, q, s); }\n"
                   "int32_t rq_single(int32_t a, int32_t q, int32_t s) { return requant_single(a, q, s); }\n")
    lib = tmp_path / "librq.so"
    import subprocess

    subprocess.run([*host.host_compiler(), "-O2", "-shared", "-fPIC", f"-I{codegen.C_DIR}", "-o", str(lib), str(src)],
                   check=True, capture_output=True)
    c = ctypes.CDLL(str(lib))
    for fn in (c.rq_double, c.rq_single):
        fn.argtypes, fn.restype = [ctypes.c_int32] * 3, ctypes.c_int32
    rng = np.random.default_rng(0)
    accs = np.concatenate([rng.integers(-(1 << 24), 1 << 24, 3000), [0, 1, -1, 2 ** 31 - 1, -2 ** 31]])
    for acc in accs:
        q = int(rng.integers(1 << 30, (1 << 31) - 1))
        shift = int(rng.integers(-20, 1))
        assert c.rq_double(int(acc), q, shift) == requant.double_rounding(acc, q, shift)
        if abs(acc) < (1 << 24):
            assert c.rq_single(int(acc), q, shift) == requant.single_rounding(acc, q, shift)


def _op_counts(path, rounding: str | None, n: int = 200) -> dict[str, tuple[int, int]]:
    rows = host.op_agreement(path, _inputs(path, n, seed=1), rounding)
    return {r["op"]: (r["equal"], r["total"]) for r in rows}


def test_every_op_matches_litert_reference_with_its_rounding(tiny):
    """Each op's numpy kernel, on LiteRT's input of that layer, equals LiteRT's output on every value;
    the other rounding misses some values (so the test tells the two apart)."""
    missed = dict.fromkeys(requant.ROUNDING, 0)
    for name in ("convs", "pools"):
        for kind, (equal, total) in _op_counts(tiny[name], None).items():
            assert equal == total, f"{name}: {kind} {equal}/{total} values equal to LiteRT BUILTIN_REF"
        for rounding in ("double", "single"):
            for kind, (equal, total) in _op_counts(tiny[name], rounding).items():
                if kind in missed and requant.ROUNDING[kind] != rounding:
                    missed[kind] += total - equal
    assert all(missed.values()), f"values the other rounding gets wrong, by op: {missed}"


# ---- generated C -----------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(codegen.VARIANTS))
def test_generated_c_is_bit_exact_on_the_host(tiny, variant):
    for name in ("convs", "pools"):
        prog = codegen.generate(tiny[name], variant)
        hm = host.build_host(prog)
        ref = host.LiteRTReference(tiny[name])
        xs = _inputs(tiny[name], N_INPUTS)
        counts = _bit_exact_counts(hm.run, ref, xs)
        assert counts["identical_outputs"] == N_INPUTS, counts
        rows = host.compare_layers(prog.layers, hm.layer_outputs(xs[0]), ref.tensors(xs[0]))
        assert host.first_mismatch(rows) is None, rows
        assert 'marker_layer' in prog.sources["model.c"] and prog.input.size == xs.shape[1]


def test_first_mismatch_names_the_layer_that_differs(tiny):
    path = tiny["convs"]
    plans = layers.plan(tflite_model.read(path))
    plans[3].params["q"] = (plans[3].params["q"].astype(np.int64) * 9 // 8).astype(np.int32)   # break layer 3
    x = _inputs(path, 1)[0]
    ours = reference.run(plans, x)
    rows = host.compare_layers(plans, [ours[p.output] for p in plans], host.LiteRTReference(path).tensors(x))
    bad = host.first_mismatch(rows)
    assert bad is not None and bad["layer"] == 3 and bad["name"] == plans[3].name and bad["max_abs_diff"] > 0


def test_arena_gives_live_tensors_disjoint_bytes(tiny):
    plans = layers.plan(tflite_model.read(tiny["convs"]))
    offsets, arena = codegen.plan_arena(plans)
    inner = [p for p in plans[:-1]]
    for i, a in enumerate(inner):
        b = plans[i + 1]                       # a layer's input and output are alive together
        if b.output in offsets:
            lo_a, lo_b = offsets[a.output], offsets[b.output]
            assert lo_a + a.out_size <= lo_b or lo_b + b.out_size <= lo_a
    assert arena < sum(p.out_size for p in inner)   # buffers are reused


def test_the_course_deployable_architectures_are_bit_exact(tmp_path):
    """Chapter 02's vision CNN, chapter 08's DS-CNN and chapter 09's dense classifier (random weights,
    the course's converters): the naive and simd C equal LiteRT BUILTIN_REF on every input (every
    variant runs the same ops on the tiny models above)."""
    import torch

    from tinyml_utils.convert import keras_twin, tflite
    from tinyml_utils.core.env import quiet
    from tinyml_utils.models import torch as mt

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    with quiet():
        files = {"vision": tflite.from_torch_int8(mt.vision_cnn("baseline").eval(), rng.random((32, 1, 28, 28),
                                                  dtype=np.float32), tmp_path / "vision.tflite", 32),
                 "dscnn": tflite.from_torch_int8(mt.ds_cnn().eval(), 10 * rng.standard_normal((32, 1, 49, 10),
                                                 dtype=np.float32), tmp_path / "dscnn.tflite", 32),
                 "dense": tflite.int8(keras_twin.keras_twin(mt.dense_net(36).eval(), batch_size=None),
                                      rng.standard_normal((32, 36)).astype(np.float32), tmp_path / "dense.tflite")}
    expect = {"vision": {"CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED"},
              "dscnn": {"PAD", "CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED"},
              "dense": {"FULLY_CONNECTED"}}
    for name, path in files.items():
        ref = host.LiteRTReference(path)
        xs = _inputs(path, N_INPUTS)
        for variant in ("naive", "simd"):
            prog = codegen.generate(path, variant)
            assert {layer.op for layer in prog.layers} == expect[name]
            counts = _bit_exact_counts(host.build_host(prog).run, ref, xs)
            assert counts["identical_outputs"] == N_INPUTS, (name, variant, counts)


def _pruned_copy(path, out, fraction: float = 0.8):
    """A copy of ``path`` whose CONV_2D / FULLY_CONNECTED weights have the smallest ``fraction`` set to
    zero and their first output channel all zero (unstructured pruning, written back into the
    flatbuffer with the schema that ships in ai_edge_litert)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    g = m.subgraphs[0]
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    for op in g.operators:
        code = m.operatorCodes[op.opcodeIndex]
        if names[max(code.builtinCode, code.deprecatedBuiltinCode)] in ("CONV_2D", "FULLY_CONNECTED"):
            t = g.tensors[op.inputs[1]]
            w = np.asarray(m.buffers[t.buffer].data, np.uint8).view(np.int8).reshape(t.shape).copy()
            w[np.abs(w) < np.quantile(np.abs(w), fraction)] = 0
            w[0] = 0
            m.buffers[t.buffer].data = w.reshape(-1).view(np.uint8)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    out.write_bytes(b.Output())
    return out


def test_sparse_variant_stores_only_non_zero_weights_and_stays_exact(tiny, tmp_path):
    path = _pruned_copy(tiny["convs"], tmp_path / "pruned.tflite")
    ref = host.LiteRTReference(path)
    xs = _inputs(path, N_INPUTS)
    dense, sparse = codegen.generate(path, "simd"), codegen.generate(path, "sparse")
    for prog in (dense, sparse):
        assert _bit_exact_counts(host.build_host(prog).run, ref, xs)["identical_outputs"] == N_INPUTS
    plans = {p.name: p for p in sparse.layers}
    stored = {name: (int(k), int(n)) for name, k, n in
              re.findall(r"(\w+)_nz_start\[\d+\] = \{\s*/\* (\d+) of (\d+) weights", sparse.sources["model.c"])}
    assert set(stored) == {n for n, p in plans.items() if p.op in ("CONV_2D", "FULLY_CONNECTED")}
    for name, (k, n) in stored.items():
        w = plans[name].params["weights"]
        assert (k, n) == (np.count_nonzero(w), w.size) and k < 0.25 * n


def test_simd_kernels_on_an_emulated_cortex_m4(tiny):
    """On the M4 the SIMD variant runs real SMLAD/SXTB16: still bit-exact, and fewer instructions
    than the reordered C on the same layers."""
    pytest.importorskip("ziglang")
    pytest.importorskip("unicorn")
    from tinyml_utils.firmware import device

    path = tiny["convs"]
    ref = host.LiteRTReference(path)
    xs = _inputs(path, 5)
    want = ref.run_many(xs).reshape(len(xs), -1)
    counts = {}
    for variant in ("reordered", "simd"):
        m = device.ModelOnCore(codegen.generate(path, variant), core="cortex-m4")
        assert np.array_equal(m.predict(xs), want), variant
        counts[variant] = m.count(xs[:1]).instructions[0]
    assert counts["simd"] < counts["reordered"], counts
    rows = host.compare_layers(m.program.layers, _emulated_layer_outputs(m.emulator, m.program, xs[0]),
                               ref.tensors(xs[0]))
    assert host.first_mismatch(rows) is None, rows
