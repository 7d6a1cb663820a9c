"""Which precision is fast on this machine: bf16 where the hardware computes it natively, fp32 where it does not.

On a CPU without native bf16 (x86 without AVX512-BF16 or AMX, e.g. an AVX2-only EPYC or Core), every bf16 matmul
is emulated: 1 GFLOP/s against 55 in fp32 measured on such a machine, so bf16 autocast made one LoRA step 36x
slower. Where bf16 is native (AVX512-BF16, AMX, Arm's BF16 extension; any Ampere or newer GPU) it is the faster
choice. One function decides for training (autocast) and inference (weights) alike, from what torch reports,
and every caller logs its decision with `describe_cpu()`; `choice="bf16"` or `"fp32"` overrides it.

torch follows the environment's caps, so `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2` makes a bf16-native
CPU decide (and run) as an AVX2-only one.
"""

import platform
from functools import cache

import torch

CHOICES = ("auto", "bf16", "fp32")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware, as torch sees it (environment caps included)."""
    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return False  # oneDNN would emulate bf16, or has been capped below the instructions that compute it
    if platform.machine().lower() in ("x86_64", "amd64", "i686", "x86"):
        # AVX512 without its BF16 extension passes oneDNN's check too, but only converts: still slower than fp32
        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return native and torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    return True  # Arm: oneDNN reports bf16 only where the CPU has the BF16 extension


def use_bf16(choice: str = "auto", device: str = "cpu") -> bool:
    """bf16 (True) or fp32 (False) for `device` ("cpu" or "cuda"): `choice` "bf16"/"fp32" forces it, "auto" picks
    bf16 where it is native."""
    if choice not in CHOICES:
        raise ValueError(f"precision must be one of {CHOICES}, got {choice!r}")
    if choice != "auto":
        return choice == "bf16"
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return cpu_has_native_bf16()


@cache
def describe_cpu() -> str:
    """The CPU and what torch reports of it, for logs and published timings, e.g. "AMD EPYC 9R14 (x86_64; torch:
    AVX512, bf16 native: yes)"."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            name = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    native = "yes" if cpu_has_native_bf16() else "no, emulated"
    return f"{name} ({platform.machine()}; torch: {torch.backends.cpu.get_cpu_capability()}, bf16 native: {native})"


def describe_choice(bf16: bool, choice: str, device: str = "cpu") -> str:
    """One log line saying what was chosen and why, and how to choose otherwise."""
    where = describe_cpu() if device == "cpu" else torch.cuda.get_device_name(0)
    how = "as asked" if choice != "auto" else "chosen by the hardware"
    return f"precision {'bf16' if bf16 else 'fp32'} on {where}, {how}"
