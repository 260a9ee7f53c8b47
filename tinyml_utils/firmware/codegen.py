"""An int8 ``.tflite`` → C: const weights, TFLite's multipliers and shifts, one kernel call per layer, an
arena reused once a tensor is dead, the kernels of :data:`VARIANTS`; ``model.c``'s skeleton is ``c/model.c.in``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from . import layers as layer_plans
from . import tflite_model
from .layers import Layer
from .toolchain import C_DIR

#: kernel variant → the C files it compiles (kernels.h always comes along)
VARIANTS = {
    "naive": ("kernels_common.c", "kernels_naive.c"),
    "reordered": ("kernels_common.c", "kernels_im2col.c", "kernels_reordered.c", "kernels_depthwise.c"),
    "simd": ("kernels_common.c", "kernels_im2col.c", "kernels_simd.c", "kernels_depthwise.c"),
    "sparse": ("kernels_common.c", "kernels_im2col.c", "kernels_sparse.c", "kernels_depthwise.c"),
}


@dataclass
class CProgram:
    """``sources``: file name → C text, kernels included."""

    model_name: str
    variant: str
    sources: dict[str, str]
    input: tflite_model.Tensor
    output: tflite_model.Tensor
    layers: list[Layer]

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


def scratch_bytes(layer: Layer, variant: str) -> int:
    """Bytes of work buffer a kernel needs (im2col column or per-pixel accumulators)."""
    if variant == "naive":
        return 0
    if layer.op == "DEPTHWISE_CONV_2D":                 # per-pixel accumulators
        return 4 * layer.out_shape[3]
    if layer.op in ("CONV_2D", "FULLY_CONNECTED"):      # int16 column (4-byte rounded) + accumulators
        p = layer.params
        depth = p["depth"] if layer.op == "FULLY_CONNECTED" else p["kh"] * p["kw"] * layer.in_shape[3]
        return ((2 * depth + 3) & ~3) + 4 * layer.out_shape[3]
    return 0


def plan_arena(layers: list[Layer]) -> tuple[dict[int, int], int]:
    """(tensor → offset, arena bytes) of the intermediate tensors: overlapping lives get disjoint bytes
    (greedy first fit, largest first, 4-byte aligned)."""
    model_in, model_out = layers[0].input, layers[-1].output
    life: dict[int, list[int]] = {}
    size: dict[int, int] = {}
    for i, layer in enumerate(layers):
        if layer.output != model_out:
            life[layer.output] = [i, i]
            size[layer.output] = layer.out_size
        if layer.input in life and layer.input != model_in:
            life[layer.input][1] = i
    placed: list[tuple[int, int, int, int]] = []          # (offset, end, first, last)
    offsets = {}
    for t in sorted(life, key=lambda t: -size[t]):
        first, last = life[t]
        busy = sorted((o, e) for o, e, f, lst in placed if not (lst < first or f > last))
        offset = 0
        for o, e in busy:
            if offset + size[t] <= o:
                break
            offset = max(offset, (e + 3) & ~3)
        offsets[t] = offset
        placed.append((offset, offset + size[t], first, last))
    return offsets, max((e for _, e, _, _ in placed), default=0)


def _c_array(name: str, ctype: str, values, comment: str = "", per_line: int = 16) -> str:
    vals = np.asarray(values).reshape(-1)
    if vals.size == 0:                        # C has no zero-length arrays
        vals = np.zeros(1, np.int64)
    rows = [", ".join(str(int(v)) for v in vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    note = f"   /* {comment} */" if comment else ""
    return f"static const {ctype} {name}[{len(vals)}] = {{{note}\n    " + ",\n    ".join(rows) + "\n};\n"


def _sparse_rows(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compressed rows of the (out, depth) weights: row starts, column indices, values."""
    rows = weights.reshape(weights.shape[0], -1)
    r, c = np.nonzero(rows)
    return np.concatenate([[0], np.cumsum(np.count_nonzero(rows, axis=1))]), c, rows[r, c]


def _wrap(items: list[str], width: int = 96) -> str:
    lines, line = [], ""
    for it in items:
        if line and len(line) + len(it) + 2 > width:
            lines.append(line.rstrip())
            line = ""
        line += it + ", "
    return "\n    ".join(lines + [line.rstrip(", ")])


def _struct(ctype: str, name: str, fields: str) -> str:
    return f"static const {ctype} {name} = {{\n    {fields}\n}};\n"


#: op → (kernel, weight layout) of the ops with weights
_WEIGHTED = {"CONV_2D": ("conv2d_s8", "OHWI"), "DEPTHWISE_CONV_2D": ("depthwise_conv2d_s8", "1HWC"),
             "FULLY_CONNECTED": ("fully_connected_s8", "[out][in]")}


def _layer_c(layer: Layer, variant: str) -> tuple[str, str, str]:
    """(a one-line description, const data + params struct, the kernel call with {IN}/{OUT}/{SCRATCH})."""
    n, p = layer.name, layer.params
    (_, ih, iw, ic), (_, oh, ow, oc) = layer.in_shape, layer.out_shape
    shapes = f"{ih}x{iw}x{ic} -> {oh}x{ow}x{oc}"
    if layer.op in _WEIGHTED:
        fn, layout = _WEIGHTED[layer.op]
        w = p["weights"]
        if variant == "sparse" and layer.op != "DEPTHWISE_CONV_2D":
            start, index, values = _sparse_rows(w)
            data = (_c_array(f"{n}_nz_start", "int32_t", start, f"{len(values)} of {w.size} weights are non-zero")
                    + _c_array(f"{n}_nz_index", "uint16_t", index, "position in the im2col column")
                    + _c_array(f"{n}_nz_value", "int8_t", values))
            refs = f".weights = 0, .nz_start = {n}_nz_start, .nz_index = {n}_nz_index, .nz_value = {n}_nz_value,"
        else:
            data = _c_array(f"{n}_weights", "int8_t", w, f"{'x'.join(map(str, w.shape))} {layout}")
            refs = f".weights = {n}_weights,"
        data += (_c_array(f"{n}_bias", "int32_t", p["bias"], "int32, scale s_in * s_w")
                 + _c_array(f"{n}_mult", "int32_t", p["q"], "Q31 multiplier per output channel")
                 + _c_array(f"{n}_shift", "int32_t", p["shift"], "power-of-two exponent per output channel"))
        cost = f"{layer.macs:,} MACs, {p['rounding'].upper()} rounding"
        if layer.op == "FULLY_CONNECTED":
            what = f"FULLY_CONNECTED {p['depth']} -> {oc}, {cost}"
            geom = f".in_h = 1, .in_w = 1, .in_c = {p['depth']}, .out_h = {oh * ow * layer.out_shape[0]}, " \
                   f".out_w = 1, .out_c = {oc},"
        else:
            dil = f" dilation {p['dil_h']}x{p['dil_w']}" if p["dil_h"] * p["dil_w"] > 1 else ""
            what = f"{layer.op} {p['kh']}x{p['kw']} stride {p['stride_h']}x{p['stride_w']}{dil}, {shapes}, {cost}"
            geom = (f".in_h = {ih}, .in_w = {iw}, .in_c = {ic}, .out_h = {oh}, .out_w = {ow}, .out_c = {oc},\n"
                    f"    .k_h = {p['kh']}, .k_w = {p['kw']}, "
                    f".stride_h = {p['stride_h']}, .stride_w = {p['stride_w']}, "
                    f".dil_h = {p['dil_h']}, .dil_w = {p['dil_w']}, .pad_top = {p['pad_top']}, "
                    f".pad_left = {p['pad_left']}, .depth_multiplier = {p.get('depth_multiplier', 1)},")
        data += _struct("conv_params_t", n, f"{geom}\n    .in_zp = {layer.in_zp}, .out_zp = {layer.out_zp}, "
                        f".act_min = {layer.act_min}, .act_max = {layer.act_max},\n    {refs}\n"
                        f"    .bias = {n}_bias, .mult = {n}_mult, .shift = {n}_shift,")
        return what, data, f"{fn}(&{n}, {{IN}}, {{OUT}}, {{SCRATCH}});"
    if layer.op == "MAX_POOL_2D":
        what = f"MAX_POOL_2D {p['kh']}x{p['kw']} stride {p['stride_h']}x{p['stride_w']}, {shapes}"
        ctype, kernel = "pool_params_t", "max_pool2d_s8"
        fields = (f".in_h = {ih}, .in_w = {iw}, .c = {ic}, .out_h = {oh}, .out_w = {ow}, "
                  f".k_h = {p['kh']}, .k_w = {p['kw']},\n    .stride_h = {p['stride_h']}, "
                  f".stride_w = {p['stride_w']}, .pad_top = {p['pad_top']}, .pad_left = {p['pad_left']}, "
                  f".act_min = {layer.act_min}, .act_max = {layer.act_max},")
    elif layer.op == "MEAN":
        what = f"MEAN over {ih}x{iw} (global average pool), {ih}x{iw}x{ic} -> {oc}, {p['rounding'].upper()} rounding"
        ctype, kernel = "mean_params_t", "mean_hw_s8"
        fields = (f".h = {ih}, .w = {iw}, .c = {ic}, .in_zp = {layer.in_zp}, .out_zp = {layer.out_zp}, "
                  f".mult = {int(p['q'][0])}, .shift = {int(p['shift'][0])},")
    else:  # PAD: the last op plan() supports
        what, ctype, kernel = f"PAD {shapes}", "pad_params_t", "pad_s8"
        pads = ", ".join(f"{{{int(a)}, {int(b)}}}" for a, b in p["pads"])
        fields = f".in_dims = {{{', '.join(map(str, layer.in_shape))}}}, .pads = {{{pads}}}, .value = {layer.out_zp},"
    return what, _struct(ctype, n, fields), f"{kernel}(&{n}, {{IN}}, {{OUT}});"


def model_c(layers: list[Layer], model_name: str, variant: str) -> str:
    """``c/model.c.in`` with the model's layers filled in."""
    offsets, arena = plan_arena(layers)
    scratch = max([scratch_bytes(layer, variant) for layer in layers] + [4])
    model_in, model_out = layers[0].input, layers[-1].output

    def buf(t: int) -> str:
        return "g_input" if t == model_in else "g_output" if t == model_out else f"(arena + {offsets[t]})"

    body, calls = [], []
    for i, layer in enumerate(layers):
        what, data, call = _layer_c(layer, variant)
        body.append(f"/* ---- layer {i}: {what} ---- */\n{data}")
        call = call.format(IN=buf(layer.input), OUT=buf(layer.output), SCRATCH="scratch")
        calls.append(f"static void layer_{i}(void) {{ {call} }}")
    values = {"MODEL": model_name, "VARIANT": variant, "N": len(layers),
              "MACS": f"{sum(layer.macs for layer in layers):,}",
              "ARENA": arena, "ARENA_ALLOC": max(arena, 4),
              "SCRATCH": scratch, "SCRATCH_WORDS": (scratch + 3) // 4,
              "IN_SIZE": int(np.prod(layers[0].in_shape)), "OUT_SIZE": layers[-1].out_size,
              "LAYERS": "\n".join(body), "CALLS": "\n".join(calls),
              "LAYER_FNS": _wrap([f"layer_{i}" for i in range(len(layers))]),
              "OUTS": _wrap([buf(layer.output) for layer in layers]),
              "BYTES": ", ".join(str(layer.out_size) for layer in layers)}
    return re.sub(r"@(\w+)@", lambda m: str(values[m.group(1)]), (C_DIR / "model.c.in").read_text())


def generate(tflite_path, variant: str = "naive") -> CProgram:
    """The C program of an int8, batch-1 ``.tflite`` with the ``variant`` kernels."""
    model = tflite_model.read(tflite_path)
    plans = layer_plans.plan(model)
    sources = {f: (C_DIR / f).read_text() for f in ("kernels.h", *VARIANTS[variant])}
    sources["model.c"] = model_c(plans, model.name, variant)
    return CProgram(model.name, variant, sources, model.input_tensor(), model.output_tensor(), plans)
