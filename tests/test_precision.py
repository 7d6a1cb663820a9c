"""The precision is chosen from what the hardware computes natively: bf16 where it is native, fp32 where a CPU would
emulate it; a recipe or a flag can force either. Both branches on any machine: torch's answers are replaced for
the choice, and the environment caps (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA) make this CPU an AVX2-only one."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, run_recipe, write_alpaca

from gpt4llm import precision
from gpt4llm.training import choose_cpu_precision

AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def cpu(monkeypatch, *, capability: str, onednn_bf16: bool, avx512_bf16: bool, amx: bool = False, machine="x86_64"):
    monkeypatch.setattr(precision.platform, "machine", lambda: machine)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_bf16)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)


@pytest.mark.parametrize(
    "machine, native",
    [
        (dict(capability="AVX2", onednn_bf16=False, avx512_bf16=False), False),  # AVX2-only EPYC or Core
        (
            dict(capability="AVX512", onednn_bf16=True, avx512_bf16=False),
            False,
        ),  # Skylake-X: bf16 converted, not computed
        (dict(capability="AVX512", onednn_bf16=True, avx512_bf16=True), True),  # Zen 4, Cooper Lake
        (dict(capability="AVX512", onednn_bf16=True, avx512_bf16=False, amx=True), True),  # Sapphire Rapids
        (dict(capability="AVX2", onednn_bf16=False, avx512_bf16=True), False),  # capped by the environment
        (dict(capability="SVE256", onednn_bf16=True, avx512_bf16=False, machine="aarch64"), True),  # Arm with BF16
        (dict(capability="DEFAULT", onednn_bf16=False, avx512_bf16=False, machine="aarch64"), False),
    ],
    ids=["avx2", "avx512-no-bf16", "avx512-bf16", "amx", "capped", "arm-bf16", "arm"],
)
def test_cpu_bf16_only_where_native_unless_forced(monkeypatch, machine, native):
    cpu(monkeypatch, **machine)
    assert precision.cpu_has_native_bf16() is native
    assert precision.use_bf16("auto") is native
    assert precision.use_bf16("bf16") is True and precision.use_bf16("fp32") is False
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.use_bf16("fp16")


@pytest.mark.parametrize("native", [True, False])
def test_a_cpu_recipe_trains_in_the_chosen_precision(monkeypatch, native):
    from trl import SFTConfig

    monkeypatch.setattr(
        "gpt4llm.training.use_bf16", lambda choice: {"auto": native, "bf16": True, "fp32": False}[choice]
    )
    for choice, expected in [("auto", native), ("bf16", True), ("fp32", False)]:
        args = SFTConfig(output_dir="/tmp/unused", use_cpu=True, bf16=True, report_to="none")  # a GPU recipe's bf16
        choose_cpu_precision(choice, args)
        assert args.bf16 is expected and args.mixed_precision == ("bf16" if expected else "no")


@pytest.mark.slow
def test_an_avx2_only_cpu_trains_and_generates_in_fp32(tmp_path, tiny_model_dir):
    """The real query path: with the environment's caps this CPU reports AVX2 and no oneDNN bf16."""
    result = run_recipe(
        "recipes/sft.py", "--config", str(ROOT / "recipes/configs/sft/smollm2-135m_lora_cpu.yaml"),
        "--model_name_or_path", tiny_model_dir, "--dataset_name", str(write_alpaca(tmp_path / "train.json", n=8)),
        "--output_dir", str(tmp_path / "out"), "--max_steps", "1", "--merge_adapters", "false", env=AVX2_ONLY,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "precision fp32 on " in result.stderr
        and "torch: AVX2, bf16 native: no, emulated), chosen by the hardware" in result.stderr
    )

    probe = ("from eval.generate import LocalGenerator\n"
             f"g = LocalGenerator({tiny_model_dir!r}, template='alpaca')\n"
             "print(next(g.model.parameters()).dtype)\n")
    generated = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env={**os.environ, **AVX2_ONLY}, capture_output=True, text=True
    )
    assert generated.stdout.strip() == "torch.float32", generated.stderr[-2000:]
