"""The model as a C array, for a microcontroller build."""
from __future__ import annotations

import re
from pathlib import Path


def c_array_header(tflite_path, out_h, var_name: str = "g_model", align: int = 16) -> Path:
    """Write ``tflite_path`` as a C header: ``alignas(16) const unsigned char g_model[]`` plus
    ``g_model_len``, the form TFLite Micro's examples compile into flash."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var_name):
        raise ValueError(f"{var_name!r} is not a valid C identifier")
    data = Path(tflite_path).read_bytes()
    out_h = Path(out_h)
    out_h.parent.mkdir(parents=True, exist_ok=True)
    guard = re.sub(r"[^A-Z0-9]", "_", out_h.name.upper())
    lines = [f"// Generated from {Path(tflite_path).name} ({len(data)} bytes) by tinyml_utils.deploy.c_array.",
             f"#ifndef {guard}", f"#define {guard}", "", "#include <stdalign.h>", "",
             f"alignas({align}) const unsigned char {var_name}[] = {{"]
    for i in range(0, len(data), 12):
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in data[i:i + 12]) + ",")
    lines += ["};", f"const unsigned int {var_name}_len = {len(data)};", "", f"#endif  // {guard}", ""]
    out_h.write_text("\n".join(lines))
    return out_h


def read_c_array(h_path) -> bytes:
    """The bytes of a header written by :func:`c_array_header`."""
    text = Path(h_path).read_text()
    body = text[text.index("{") + 1:text.index("};")]
    return bytes(int(tok, 16) for tok in re.findall(r"0x([0-9a-fA-F]{2})", body))
