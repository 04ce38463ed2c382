"""What the machine that measured a benchmark has: named in every benchmark's output, since
ratios differ between CPUs (bf16 above all)."""

from __future__ import annotations

import os
import platform

FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_features() -> str:
    """One line: the CPU's model, core count, the flags that matter to OpenVINO, and its
    OPTIMIZATION_CAPABILITIES (BF16 there means native bf16)."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    from movinet_cli._lazy import openvino  # with OpenVINO's telemetry off, as the product runs it

    capabilities = openvino().Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    present = [flag for flag in FLAGS_OF_INTEREST if flag in flags]
    return f"CPU: {model}, {os.cpu_count()} cores; flags: {' '.join(present) or 'none of ' + ' '.join(FLAGS_OF_INTEREST)}; OpenVINO: {' '.join(capabilities)}"
