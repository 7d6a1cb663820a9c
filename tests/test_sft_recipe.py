"""recipes/sft.py run as users run it, on a tiny random Llama with SmolLM2's tokenizer: training, saving,
reloading, resuming, QLoRA and bad input."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_recipe, write_alpaca

CPU_RECIPE = str(ROOT / "recipes/configs/sft/smollm2-135m_lora_cpu.yaml")
pytestmark = pytest.mark.slow


def sft(tiny_model_dir, data, output_dir, *overrides, script="recipes/sft.py", **launch):
    """The CPU recipe on the tiny model, full fine-tuning at a rate that visibly lowers the loss in a few steps."""
    result = run_recipe(
        script,
        *("--config", CPU_RECIPE, "--model_name_or_path", tiny_model_dir, "--dataset_name", str(data)),
        *("--output_dir", str(output_dir), "--use_peft", "false", "--merge_adapters", "false"),
        *("--learning_rate", "2e-2", "--lr_scheduler_type", "constant", "--warmup_steps", "0", "--logging_steps", "1",
          "--cpu_precision", "fp32"),
        *overrides,
        **launch,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def losses(trainer_state: Path) -> dict[int, float]:
    history = json.loads(trainer_state.read_text())["log_history"]
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def test_sft_lowers_loss_saves_and_generates(tmp_path, tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    data = write_alpaca(tmp_path / "train.json", n=16)
    out = tmp_path / "out"
    sft(tiny_model_dir, data, out, "--max_steps", "12", "--save_strategy", "steps", "--save_steps", "12")
    loss = losses(out / "checkpoint-12" / "trainer_state.json")
    assert sum(loss[s] for s in (10, 11, 12)) < 0.7 * sum(loss[s] for s in (1, 2, 3)), loss

    model = AutoModelForCausalLM.from_pretrained(out)
    prompt = tokenizer("Below is an instruction", return_tensors="pt")
    generated = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] > prompt["input_ids"].shape[1]
    card = (out / "README.md").read_text()
    assert "smollm2-135m_lora_cpu.yaml" in card and "train.json" in card and "| learning_rate | 0.02 |" in card
    assert (out / "tokenizer.json").is_file()


def test_resume_continues_at_the_right_step(tmp_path, tiny_model_dir):
    data = write_alpaca(tmp_path / "train.json", n=16)
    out = tmp_path / "out"
    args = ("--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2", "--save_total_limit", "3")
    sft(tiny_model_dir, data, out, *args)
    uninterrupted = losses(out / "checkpoint-4" / "trainer_state.json")
    # as if the run had died during step 3: only the step-2 checkpoint survives
    shutil.rmtree(out / "checkpoint-4")
    (out / "model.safetensors").unlink()
    result = sft(tiny_model_dir, data, out, *args)
    assert f"resuming from {out / 'checkpoint-2'}" in result.stderr
    resumed = losses(out / "checkpoint-4" / "trainer_state.json")
    assert set(resumed) == {1, 2, 3, 4}
    for step in (3, 4):
        assert resumed[step] == pytest.approx(uninterrupted[step], rel=1e-4)
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4


def test_lora_merges_into_a_model_that_loads(tmp_path, tiny_model_dir, tokenizer):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    data = write_alpaca(tmp_path / "train.json", n=8)
    out = tmp_path / "out"
    sft(tiny_model_dir, data, out, "--max_steps", "3", "--use_peft", "true", "--merge_adapters", "true")
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    inputs = tokenizer("The colour is", return_tensors="pt")
    with torch.no_grad():
        adapted = AutoPeftModelForCausalLM.from_pretrained(out)(**inputs).logits
        merged = AutoModelForCausalLM.from_pretrained(out / "merged")(**inputs).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)(**inputs).logits
    torch.testing.assert_close(merged, adapted, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(merged, base, atol=1e-4)
    assert (out / "merged" / "README.md").is_file()

    # eval generate takes the adapter directory too, merging it on load into what the recipe merged
    from eval.generate import LocalGenerator
    from gpt4llm.templates import alpaca_prompt

    prompts, params = ([alpaca_prompt("Name a colour."), alpaca_prompt("Count to three.")],
                       {"temperature": 0, "max_tokens": 12})
    from_adapter = LocalGenerator(str(out), template="alpaca", precision="fp32").generate(prompts, params)
    assert any(from_adapter) and from_adapter == LocalGenerator(
        str(out / "merged"), template="alpaca", precision="fp32"
    ).generate(prompts, params)


def test_qlora_trains_in_4bit_and_saves_an_adapter_that_reloads(tmp_path, tiny_model_dir):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    data = write_alpaca(tmp_path / "train.json", n=8)
    out = tmp_path / "out"
    qlora = ("--use_peft", "true", "--load_in_4bit", "true", "--dtype", "bfloat16", "--learning_rate", "1e-2")
    sft(tiny_model_dir, data, out, "--max_steps", "3", *qlora)
    trained_b = {k: v for k, v in load_file(out / "adapter_model.safetensors").items() if "lora_B" in k}
    assert trained_b and all(v.abs().sum() > 0 for v in trained_b.values())  # B starts at zero: it was trained
    assert "| load_in_4bit | True |" in (out / "README.md").read_text()

    four_bit = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, quantization_config=four_bit, dtype=torch.bfloat16)
    assert base.is_loaded_in_4bit
    model = PeftModel.from_pretrained(base, out)
    reloaded = {k: v for k, v in model.state_dict().items() if "lora_B" in k}
    assert len(reloaded) == len(trained_b)
    for name, value in trained_b.items():
        match = next(v for k, v in reloaded.items() if k.replace(".default", "").endswith(name.split("model.", 1)[1]))
        torch.testing.assert_close(match.float(), value.float())


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("[]", "no records"),
        ('[{"instruction": "a", "output": "b"}, {"instruction": "c"}]', "row 1: field 'output' is missing"),
        ('[{"instruction": ["a"], "output": "b"}]', "row 0: field 'instruction' must be a string, got list"),
        ('[{"question": "a"}]', "row 0: unknown schema"),
    ],
    ids=["missing-file", "empty", "missing-output", "non-string", "wrong-schema"],
)
def test_bad_input_is_a_one_line_error(tmp_path, tiny_model_dir, content, message):
    data = tmp_path / "train.json"
    if content is not None:
        data.write_text(content)
    result = run_recipe(
        "recipes/sft.py", "--config", CPU_RECIPE, "--model_name_or_path", tiny_model_dir, "--dataset_name", str(data),
        "--output_dir", str(tmp_path / "out"),
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {data}") and message in last, result.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_fsdp_with_two_cpu_processes_saves_the_weights_rank0_holds(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    data = write_alpaca(tmp_path / "train.json", n=16)
    out, held = tmp_path / "out", tmp_path / "rank0.pt"
    result = sft(
        tiny_model_dir, data, out, "--max_steps", "3",
        script="tests/fsdp_probe.py",
        accelerate_config=str(ROOT / "accelerate_configs/fsdp_cpu_2proc.yaml"),
        env={"PROBE_STATE_DICT": str(held)},
    )
    assert "probe: fsdp_version=2 sharded=" in result.stdout, result.stdout[-2000:]
    assert result.stderr.count("INFO sft: training on 16 examples") == 1  # the main process logs, the other warns
    assert result.stderr.count("INFO gpt4llm.training: precision") == 1
    assert "FSDP" in result.stdout.split("sharded=")[1].split()[0]
    held = torch.load(held)
    saved = AutoModelForCausalLM.from_pretrained(out).state_dict()
    initial = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    assert set(held) <= set(saved)
    for name, value in held.items():
        torch.testing.assert_close(saved[name], value, rtol=0, atol=0)
    assert any(not torch.equal(saved[name], initial[name]) for name in held)  # and training did change them
