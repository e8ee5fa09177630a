"""What the CPU offers training: its model name and the instruction-set flags that decide bf16 speed.

bf16 autocast is fast where the CPU multiplies bf16 natively (AVX-512 BF16, or AMX's tiles: Intel
Cooper Lake, Sapphire Rapids and later, AMD Zen 4 and later): about 1.9x an fp32 step of the cpu
profile's ResNet-8 here (``benchmarks/cpu_step.py``). Elsewhere oneDNN emulates it, and a bf16 step
costs about 2.2x an fp32 one (measured here with ``ONEDNN_MAX_CPU_ISA=AVX512_CORE``); a profile that
asks for bf16 still runs there, after ``warn_without_native_bf16``'s one line. Cost: reading
``/proc/cpuinfo`` once per process (Linux; elsewhere the flags are unknown and nothing is said).
"""

from __future__ import annotations

import functools
import platform
import sys
from pathlib import Path

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # either makes bf16 matrix products native
REPORTED_FLAGS = ("avx2", "avx512f", *NATIVE_BF16_FLAGS, "amx_tile")  # named in provenance
BF16_SLOWDOWN = 2.2  # an emulated bf16 step over an fp32 one, measured as the docstring says


@functools.cache
def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, object]:
    """The CPU's model name and which of ``REPORTED_FLAGS`` it has (``flags`` is None where the
    system does not say)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return {"model": platform.processor() or platform.machine(), "flags": None}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    present = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", platform.machine()),
            "flags": [flag for flag in REPORTED_FLAGS if flag in present]}


def native_bf16(info: dict[str, object]) -> bool | None:
    """Whether the CPU multiplies bf16 natively (None: its flags are unknown)."""
    flags = info["flags"]
    return None if flags is None else any(f in flags for f in NATIVE_BF16_FLAGS)


def bf16_warning(info: dict[str, object]) -> str | None:
    """The line a bf16 training prints on a CPU without native bf16, else None."""
    if native_bf16(info) is not False:
        return None
    return (f"warning: this CPU ({info['model']}) has neither {' nor '.join(NATIVE_BF16_FLAGS)}, "
            f"so bf16 training is emulated: expect each step to take about {BF16_SLOWDOWN:.1f}x "
            "an fp32 step (set `precision: fp32` in the parameters to train in fp32; the models "
            "then get other keys)")


@functools.cache
def warn_without_native_bf16() -> None:
    """Print ``bf16_warning`` to stderr, once per process, if there is one."""
    warning = bf16_warning(cpu_info())
    if warning:
        print(warning, file=sys.stderr, flush=True)
