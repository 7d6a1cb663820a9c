"""make gpu-check's plumbing on a CPU (the GPU run itself needs a GPU): every stage runs its shipped recipe or
command on a tiny stand-in and reports tokens/s and MFU, and a failing stage makes the check exit with status 1."""

import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_gpu_check_runs_every_stage_and_fails_when_one_fails(tmp_path, monkeypatch, capsys):
    from bench import gpu_check

    broken = gpu_check.Stage("a stage whose recipe stops", "sft", "sft/llama-7b_full_en.yaml", "cpu.yaml", "alpaca", 3,
                             ["--learning_rate", "fast"])  # fmt: skip
    monkeypatch.setattr(gpu_check, "STAGES", [*gpu_check.STAGES, broken])
    monkeypatch.setattr(sys, "argv", ["gpu_check", "--size", "tiny", "--device", "cpu", "--steps", "1",
                                      "--output-dir", str(tmp_path)])  # fmt: skip
    assert gpu_check.main() == 1
    printed = capsys.readouterr().out.splitlines()
    table = [line for line in printed if line.startswith("| ") and "| MFU |" not in line]
    assert len(table) == len(gpu_check.STAGES) + 1  # the shipped stages, the broken one, generation
    for row in table:
        name, rate, mfu, *_ = (cell.strip() for cell in row.strip("|").split("|"))
        if name == broken.name:
            assert "FAILED: sft.py: error: argument --learning_rate/--learning-rate: invalid float value" in row
        else:
            assert row.endswith("| ok |") and float(rate.replace(",", "")) > 0 and float(mfu.rstrip("%")) > 0, row
    assert (tmp_path / "1-sft-llama-7b_full_en" / "model.safetensors").is_file()  # the broken stage left it
    assert str(ROOT) in gpu_check.environment(cpu=True)["PYTHONPATH"]
