"""recipes/rl.py on tiny models, the pipeline in small: the LLaMA stand-in (pad-less tokenizer) is fine-tuned by
recipes/sft.py on colour answers, a reward model is trained by recipes/reward.py to prefer answers that say "blue",
and GRPO raises the mean reward (by many standard errors of the logged rewards) and the share of answers saying
"blue"; the saved policy reloads and generates. RLOO runs too, with a reference model; bad input fails in one line."""

import json
import math
import random
import statistics

import pytest
from conftest import ROOT, run_recipe, write_alpaca

from gpt4llm.templates import alpaca_prompt, alpaca_user_input

pytestmark = pytest.mark.slow
CPU_RECIPE = str(ROOT / "recipes/configs/rl/smollm2-135m_grpo_cpu.yaml")
COLOURS = ["red", "green", "blue", "yellow", "black", "white"]
COMPLETIONS_PER_STEP = 16  # 4 prompts x 4 completions


@pytest.fixture(scope="module")
def colour_policy(tmp_path_factory, llama_dir) -> str:
    """The LLaMA stand-in after SFT on colour answers ("The colour is red.", "blue blue blue"): about one sample in
    six says "blue", so that GRPO's groups differ in it."""
    tmp = tmp_path_factory.mktemp("sft")
    result = run_recipe(
        "recipes/sft.py", "--config", str(ROOT / "recipes/configs/sft/smollm2-135m_lora_cpu.yaml"),
        *("--model_name_or_path", llama_dir, "--dataset_name", str(write_alpaca(tmp / "colours.json"))),
        *("--output_dir", str(tmp / "out"), "--use_peft", "false", "--learning_rate", "1e-2", "--max_steps", "24"),
        *("--lr_scheduler_type", "constant", "--warmup_steps", "0", "--cpu_precision", "fp32"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return str(tmp / "out")


@pytest.fixture(scope="module")
def blue_reward_model(tmp_path_factory, llama_dir) -> str:
    """A LoRA reward model (recipes/reward.py) on colour words: answers with "blue" rated 9, the same without it 2."""
    tmp = tmp_path_factory.mktemp("rm")
    words, rng, rows = [c for c in COLOURS if c != "blue"] + ["is", "the", "colour"], random.Random(0), []
    for i in range(48):
        plain = rng.choices(words, k=6)
        with_blue = plain[:]
        for _ in range(3):
            with_blue.insert(rng.randrange(len(with_blue) + 1), "blue")
        rows.append({"user_input": alpaca_user_input(f"Say some words ({i})."), "responses_and_scores": [
            {"response": " ".join(with_blue), "score": 9, "source": "blue"},
            {"response": " ".join(plain), "score": 2, "source": "plain"}]})
    (tmp / "cmp.json").write_text(json.dumps(rows))
    result = run_recipe(
        "recipes/reward.py", "--config", str(ROOT / "recipes/configs/reward/smollm2-135m_lora_cpu.yaml"),
        *("--model_name_or_path", llama_dir, "--dataset_name", str(tmp / "cmp.json")),
        *("--output_dir", str(tmp / "out")),
        *("--learning_rate", "1e-2", "--num_train_epochs", "3", "--eval_fraction", "0.25", "--cpu_precision", "fp32"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp / "out/eval_results.json").read_text())["eval_pairwise_accuracy"] >= 0.9
    return str(tmp / "out")


def colour_prompts(path) -> str:
    """Alpaca records without outputs (RL needs none): the two instructions SFT learned, for every colour."""
    rows = [row for c in COLOURS for row in ({"instruction": f"Name the colour {c}."},
                                            {"instruction": "Repeat the word three times.", "input": c})]
    path.write_text(json.dumps(rows))
    return str(path)


def rl(policy, reward_model, data, out, *overrides):
    return run_recipe(
        "recipes/rl.py", "--config", CPU_RECIPE, "--model_name_or_path", policy, "--reward_model_path", reward_model,
        *("--dataset_name", str(data), "--output_dir", str(out), "--cpu_precision", "fp32"),
        *("--per_device_train_batch_size", str(COMPLETIONS_PER_STEP), "--max_completion_length", "24"),
        *overrides,
    )


def blue_share(model_dir: str, n: int = 24) -> float:
    """The share of sampled answers (to the prompts GRPO trained on) that say "blue"."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(model_dir), AutoModelForCausalLM.from_pretrained(model_dir)
    torch.manual_seed(0)
    answers = []
    for prompt in [alpaca_prompt("Name the colour red."), alpaca_prompt("Repeat the word three times.", "green")]:
        inputs = tokenizer(prompt, return_tensors="pt")
        out = model.generate(**inputs, do_sample=True, max_new_tokens=12, num_return_sequences=n // 2,
                             pad_token_id=tokenizer.eos_token_id)
        answers += tokenizer.batch_decode(out[:, inputs.input_ids.shape[1] :], skip_special_tokens=True)
    return sum("blue" in answer for answer in answers) / len(answers)


def test_grpo_raises_the_reward_and_the_policy_reloads(tmp_path, colour_policy, blue_reward_model):
    out = tmp_path / "rl"
    result = rl(colour_policy, blue_reward_model, colour_prompts(tmp_path / "p.json"), out,
                "--max_steps", "24", "--learning_rate", "5e-3", "--save_steps", "100")
    assert result.returncode == 0, result.stderr[-3000:]
    curve = json.loads((out / "reward_curve.json").read_text())
    assert [entry["step"] for entry in curve] == list(range(1, 25))
    # the start: step 1's completions, all from the SFT policy; its standard error from their spread
    start, start_se = curve[0]["reward"], curve[0]["reward_std"] / math.sqrt(COMPLETIONS_PER_STEP)
    # the end: the mean of the last 4 steps' means; its standard error from their spread
    last = [entry["reward"] for entry in curve[-4:]]
    end, end_se = statistics.mean(last), statistics.stdev(last) / math.sqrt(len(last))
    gain_in_se = (end - start) / math.hypot(start_se, end_se)
    print(f"mean reward {start:.3f} +- {start_se:.3f} at step 1, {end:.3f} +- {end_se:.3f} over steps 21-24: "
          f"+{gain_in_se:.1f} standard errors; KL at the end {curve[-1]['kl']:.3f}")
    assert gain_in_se > 4
    assert curve[-1]["kl"] > 0  # the penalty measures a distance from the SFT policy that training opened

    card, metrics = (out / "README.md").read_text(), json.loads((out / "train_results.json").read_text())
    assert metrics["reward_first"] == start and metrics["reward_last"] == curve[-1]["reward"]
    assert metrics["num_tokens"] > 24 * COMPLETIONS_PER_STEP  # prompts and completions, every one at least a token
    assert "GRPOTrainer" in card and "| reward_last |" in card and "| beta | 0.04 |" in card
    # the merged policy reloads and says "blue" more often than the SFT policy it started from
    before, after = blue_share(colour_policy), blue_share(str(out / "merged"))
    print(f"answers saying 'blue': {before:.2f} before, {after:.2f} after")
    assert after > before + 0.25


def test_completions_cut_off_at_the_length_limit_are_never_scored_as_finished(tmp_path, tiny_model_dir,
                                                                               tiny_reward_dir):
    """A random policy over SmolLM2's 49,152 tokens all but never samples EOS, so 4 tokens cut every completion
    short: the reward model scores none of them (the steps have no mean score, and the card no reward), every step
    logs a clipped ratio of 1, and with `cut_off_reward` each gets that reward instead."""
    prompts = colour_prompts(tmp_path / "p.json")
    unscored = tmp_path / "unscored"
    result = rl(tiny_model_dir, tiny_reward_dir, prompts, unscored, "--max_steps", "2",
                "--max_completion_length", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    curve = json.loads((unscored / "reward_curve.json").read_text())
    assert [(entry["reward"], entry["clipped_ratio"]) for entry in curve] == [(None, 1.0), (None, 1.0)]
    assert "reward_first" not in json.loads((unscored / "train_results.json").read_text())
    assert "All reward functions returned None" not in result.stderr  # TRL's warning: intended here, not a mistake

    penalised = tmp_path / "penalised"
    result = rl(tiny_model_dir, tiny_reward_dir, prompts, penalised, "--max_steps", "2",
                "--max_completion_length", "4", "--cut_off_reward", "-3")
    assert result.returncode == 0, result.stderr[-3000:]
    curve = json.loads((penalised / "reward_curve.json").read_text())
    assert [(entry["reward"], entry["reward_std"], entry["clipped_ratio"]) for entry in curve] == [(-3, 0, 1)] * 2


def test_rloo_trains_and_saves(tmp_path, colour_policy, blue_reward_model):
    """Fully fine-tuned, so that the KL reference is a second model (with the CPU LM head too)."""
    out = tmp_path / "rloo"
    result = rl(colour_policy, blue_reward_model, colour_prompts(tmp_path / "p.json"), out,
                "--algorithm", "rloo", "--max_steps", "3", "--use_peft", "false")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model.safetensors").is_file() and not (out / "merged").exists()
    assert len(json.loads((out / "reward_curve.json").read_text())) == 3
    assert "RLOOTrainer" in (out / "README.md").read_text()


def test_a_reward_model_path_that_is_not_a_reward_model_is_a_one_line_error(tmp_path, colour_policy):
    result = rl(colour_policy, colour_policy, colour_prompts(tmp_path / "p.json"), tmp_path / "rl")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {colour_policy}: a LlamaForCausalLM, not a reward model (a sequence classifier with one label, "
        "as recipes/reward.py saves)"
    )
    assert not (tmp_path / "rl").exists()


def test_a_reward_model_not_trained_yet_is_a_one_line_error_naming_its_recipe(tmp_path, tiny_model_dir):
    """A recipe's output folder that does not exist yet is named with the command that writes it, at once: not taken
    for a Hub id, with network retries and a connection error."""
    missing = "outputs/llama-7b-reward-qlora"
    assert not (ROOT / missing).exists()
    result = rl(tiny_model_dir, missing, colour_prompts(tmp_path / "p.json"), tmp_path / "rl")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {missing}: no such folder; recipes/configs/reward/llama-7b_qlora_single_gpu.yaml writes it "
        "(make reward RECIPE=recipes/configs/reward/llama-7b_qlora_single_gpu.yaml)"
    )


def test_a_lora_policy_is_a_one_line_error_naming_its_merged_folder(tmp_path, tiny_model_dir, tiny_reward_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "sft-lora"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(r=4)).save_pretrained(adapter)
    result = rl(str(adapter), tiny_reward_dir, colour_prompts(tmp_path / "p.json"), tmp_path / "rl")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {adapter}: a LoRA adapter, not a full model; train it with merge_adapters: true, which writes "
        f"{adapter / 'merged'} (the adapter merged into its base), and use that"
    )
    AutoModelForCausalLM.from_pretrained(tiny_model_dir).save_pretrained(adapter / "merged")
    result = rl(str(adapter), tiny_reward_dir, colour_prompts(tmp_path / "p.json"), tmp_path / "rl")
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {adapter}: a LoRA adapter, not a full model; use {adapter / 'merged'} (the adapter merged into its "
        "base)"
    )


def test_a_reward_model_under_deepspeed_zero3_is_a_one_line_error(tiny_reward_dir, monkeypatch):
    """ZeRO-3 shards every model transformers loads and refuses a device_map; scoring needs the reward model whole
    on each process (DeepSpeed is not installed here, so its switch is set by hand)."""
    from transformers.integrations import deepspeed

    from gpt4llm.data import DataError
    from gpt4llm.reward import RewardModel

    monkeypatch.setattr(deepspeed, "is_deepspeed_zero3_enabled", lambda: True)
    with pytest.raises(DataError, match=r"DeepSpeed ZeRO-3 .* launch with accelerate_configs/ddp.yaml") as error:
        RewardModel.from_pretrained(tiny_reward_dir)
    assert str(error.value).startswith(f"{tiny_reward_dir}: ") and "\n" not in str(error.value)


def test_data_without_instructions_is_a_one_line_error(tmp_path, tiny_model_dir, tiny_reward_dir):
    data = tmp_path / "pc.json"
    data.write_text(json.dumps([{"prompt": "Say blue.", "completion": "blue"}]))
    result = rl(tiny_model_dir, tiny_reward_dir, data, tmp_path / "rl")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f"error: {data}: row 0: field 'instruction' is missing"


def test_a_stopped_run_resumes_with_its_reward_curve(tmp_path, tiny_model_dir, tiny_reward_dir):
    out, data = tmp_path / "rl", colour_prompts(tmp_path / "p.json")
    every_step = ("--save_steps", "1", "--save_total_limit", "2")
    first = rl(tiny_model_dir, tiny_reward_dir, data, out, "--max_steps", "2", *every_step)
    assert first.returncode == 0, first.stderr[-3000:]
    rewards = [entry["reward"] for entry in json.loads((out / "reward_curve.json").read_text())]
    again = rl(tiny_model_dir, tiny_reward_dir, data, out, "--max_steps", "3", *every_step)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming from {out / 'checkpoint-2'}" in again.stderr
    curve = json.loads((out / "reward_curve.json").read_text())
    assert [entry["step"] for entry in curve] == [1, 2, 3] and [e["reward"] for e in curve[:2]] == rewards


def test_a_finished_run_rerun_trains_nothing(tmp_path, tiny_model_dir, tiny_reward_dir):
    """transformers' resume from a checkpoint at max_steps runs the rest of that epoch up to one step past it (here
    12 prompts make 3 steps an epoch, so step 2 is inside one); a finished recipe run again loads its last
    checkpoint and trains nothing."""
    out, data = tmp_path / "rl", colour_prompts(tmp_path / "p.json")
    every_step = ("--save_steps", "1", "--save_total_limit", "2")
    first = rl(tiny_model_dir, tiny_reward_dir, data, out, "--max_steps", "2", *every_step)
    assert first.returncode == 0, first.stderr[-3000:]
    curve = (out / "reward_curve.json").read_text()
    weights = (out / "model.safetensors").read_bytes() if (out / "model.safetensors").exists() else None
    again = rl(tiny_model_dir, tiny_reward_dir, data, out, "--max_steps", "2", *every_step)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "reward_curve.json").read_text() == curve and not (out / "checkpoint-3").exists()
    assert f"{out / 'checkpoint-2'} already reached max_steps 2: loading it, nothing left to train" in again.stderr
    if weights is not None:
        assert (out / "model.safetensors").read_bytes() == weights
    assert json.loads((out / "train_results.json").read_text())["global_step"] == 2
