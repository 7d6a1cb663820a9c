"""make gpu-check's plumbing on a CPU (the GPU run itself needs a GPU): every stage runs its shipped recipe or
command on a tiny stand-in, prints its row as it ends with tokens/s, MFU and its wall time split into phases, a
stage past --stage-timeout is stopped and reported with what it was doing, and a failed or stopped stage makes the
check exit with status 1."""

import json
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def table_rows(printed: str) -> dict[str, list[str]]:
    from bench import gpu_check

    rows = [line for line in printed.splitlines() if line.startswith("| ") and "| MFU |" not in line]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    assert all(len(row) == len(gpu_check.COLUMNS) for row in cells), rows
    return {row[0]: dict(zip(gpu_check.COLUMNS, row)) for row in cells}


def test_gpu_check_runs_every_stage_and_fails_when_one_fails(tmp_path, monkeypatch, capsys):
    from bench import gpu_check

    broken = gpu_check.Stage("broken", "a stage whose recipe stops", "sft", "sft/llama-7b_full_en.yaml", "cpu.yaml",
                             "alpaca", 3, overrides=("--learning_rate", "fast"))
    monkeypatch.setattr(gpu_check, "STAGES", [*gpu_check.STAGES, broken])
    monkeypatch.setattr(sys, "argv", ["gpu_check", "--size", "tiny", "--device", "cpu", "--steps", "1",
                                      "--output-dir", str(tmp_path)])
    assert gpu_check.main() == 1
    rows = table_rows(capsys.readouterr().out)
    seven_b = gpu_check.SEVEN_B_STAGE.name + " (tiny stand-in)"
    assert list(rows) == [stage.name for stage in gpu_check.STAGES] + [gpu_check.GENERATION, seven_b]
    assert rows[broken.name]["result"].startswith(
        "FAILED: sft.py: error: argument --learning_rate/--learning-rate: invalid float value"
    )
    for name, row in rows.items():
        if name == broken.name:
            continue
        assert row["result"] == "ok", row
        assert float(row["tokens/s"].replace(",", "")) > 0
        phases = [float(row[column]) for column in ("start-up s", "train s", "wall s")]
        assert all(seconds >= 0 for seconds in phases) and phases[0] + phases[1] <= phases[2] + 1, row
        if name not in (gpu_check.GENERATION, "GRPO with the reward model of stage 4"):  # GRPO: no MFU
            assert float(row["MFU"].rstrip("%")) > 0
            assert float(row["prepare s"]) + float(row["finish s"]) <= float(row["wall s"]) + 1, row

    assert (tmp_path / "1-sft-fsdp" / "model.safetensors").is_file()  # the stage after it failed, not the check
    assert (tmp_path / "4-reward-qlora" / "merged" / "model.safetensors").is_file()
    assert not (tmp_path / "9-sft-7b" / "model.safetensors").exists()  # timed only
    results = json.loads((tmp_path / "gpu_check.json").read_text())
    assert results["grpo"]["result"] == "ok" and results["sft-7b"]["result"] == "ok"
    assert str(ROOT) in gpu_check.environment(cpu=True)["PYTHONPATH"]

    # A stage stopped while training is reported with its step, read from its real log cut short there
    log = (tmp_path / "1-sft-fsdp.log").read_text()
    training = log.index("gpt4llm.training: training")
    assert gpu_check.phase_of(log[:training]) == "preparing the model and data"
    assert gpu_check.phase_of(log[: log.index("0/1 [", training) + 5]) == "training (step 0 of 1)"
    assert gpu_check.phase_of(log) == "evaluating and saving"


def test_a_stage_past_its_time_limit_is_stopped_and_the_check_goes_on(tmp_path, monkeypatch, capsys):
    from bench import gpu_check

    monkeypatch.setattr(gpu_check, "STAGES", gpu_check.STAGES[:2])
    monkeypatch.setattr(sys, "argv", ["gpu_check", "--size", "tiny", "--device", "cpu", "--steps", "1",
                                      "--stage-timeout", "1", "--output-dir", str(tmp_path)])
    assert gpu_check.main() == 1
    printed = capsys.readouterr().out
    rows = table_rows(printed)
    for stage in gpu_check.STAGES:
        assert rows[stage.name]["result"] == "timed out after 1 s while starting up (interpreter, imports, launcher)"
        assert float(rows[stage.name]["wall s"]) < 15  # the launcher and its children stopped, not waited for
    assert rows[gpu_check.GENERATION]["result"] == "skipped: needs the model of stage 1"
    assert rows[gpu_check.SEVEN_B_STAGE.name + " (tiny stand-in)"]["result"].startswith("timed out after 3 s")
    assert "0 of 4 stages ok; not ok: sft-fsdp, sft-qlora, sft-7b" in printed
