"""recipes/reward.py on a tiny model: a separable comparison set is learned, the LoRA reward model with its
score head is saved and reloads to the same rewards, and bad input fails clearly."""

import json

import pytest
from conftest import ROOT, run_recipe

from gpt4llm.reward import RewardModel
from gpt4llm.templates import alpaca_prompt, alpaca_user_input

pytestmark = pytest.mark.slow
CPU_RECIPE = str(ROOT / "recipes/configs/reward/smollm2-135m_lora_cpu.yaml")
TOPICS = ["rivers", "planets", "bread", "chess", "volcanoes", "tigers", "music", "bridges", "tea", "clocks"]


def separable_comparisons(path, n_prompts=40):
    """Helpful answers scored high, curt refusals scored low, with a middling third response."""
    rows = []
    for i in range(n_prompts):
        topic = TOPICS[i % len(TOPICS)]
        rows.append({
            "user_input": alpaca_user_input(f"Tell me something about {topic} ({i})."),
            "responses_and_scores": [
                {"response": f"Here is a clear, friendly and helpful answer about {topic}.", "score": 9,
                 "source": "good"},
                {"response": "no.", "score": 2, "source": "bad"},
                {"response": f"Maybe {topic}, maybe not", "score": 5.5, "source": "meh"},
            ],
        })
    path.write_text(json.dumps(rows))
    return path


def reward(tiny_model_dir, data, out, *overrides):
    return run_recipe(
        "recipes/reward.py",
        *("--config", CPU_RECIPE, "--model_name_or_path", tiny_model_dir, "--dataset_name", str(data)),
        *("--output_dir", str(out), "--cpu_precision", "fp32", "--learning_rate", "1e-2", "--num_train_epochs", "4"),
        *("--eval_fraction", "0.25", "--logging_steps", "1"),
        *overrides,
    )


def test_reward_model_learns_a_separable_set_and_reloads(tmp_path, tiny_model_dir):
    from safetensors.torch import load_file

    out = tmp_path / "rm"
    result = reward(tiny_model_dir, separable_comparisons(tmp_path / "cmp.json"), out, "--grouped", "false",
                    "--per_device_train_batch_size", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "120 pairs" in result.stderr  # 40 prompts x C(3,2)
    metrics = json.loads((out / "eval_results.json").read_text())
    assert metrics["eval_pairs"] == 30 and metrics["train_pairs"] == 90
    assert metrics["eval_pairwise_accuracy"] > 0.9
    assert "eval_pairwise_accuracy" in (out / "README.md").read_text()

    saved = load_file(out / "adapter_model.safetensors")
    assert any("score" in name for name in saved)  # the head is saved with the adapter
    prompt = alpaca_prompt("Tell me something about kites.")
    responses = ["Here is a clear, friendly and helpful answer about kites.", "no."]
    first, second = RewardModel.from_pretrained(str(out)), RewardModel.from_pretrained(str(out))
    rewards = first.score(prompt, responses)
    assert rewards == second.score(prompt, responses)  # nothing is initialised at random on load
    assert rewards[0] > rewards[1]
    assert first.score(prompt, responses[::-1]) == rewards[::-1]  # batching and sorting keep the order


def test_the_reward_model_scores_with_the_length_it_was_trained_with(tmp_path, tiny_model_dir):
    """The training max_length travels with the model (its tokenizer's model_max_length, in output_dir and merged/);
    a longer text is scored on its last tokens, where its response and EOS are, and counted, never cut at its end."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "rm"
    result = reward(tiny_model_dir, separable_comparisons(tmp_path / "cmp.json", 8), out, "--max_length", "48",
                    "--max_steps", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    for folder in (out, out / "merged"):
        assert AutoTokenizer.from_pretrained(folder).model_max_length == 48
    scorer = RewardModel.from_pretrained(str(out / "merged"), dtype="float32")
    assert scorer.max_length == 48

    text = alpaca_prompt("Tell me something about tea, " + "and about tea " * 20) + "Tea is a friendly drink."
    ids = scorer.tokenizer(text + scorer.tokenizer.eos_token)["input_ids"]
    assert len(ids) > 48
    model = AutoModelForSequenceClassification.from_pretrained(out / "merged", dtype=torch.float32).eval()
    with torch.no_grad():
        tail, head = (model(input_ids=torch.tensor([part])).logits[0, 0].item() for part in (ids[-48:], ids[:48]))
    assert scorer.score_texts([text]) == pytest.approx([tail], abs=1e-5) and tail != pytest.approx(head, abs=1e-3)
    assert scorer.cut == 1


def test_grouped_reward_training_learns_the_same_set(tmp_path, tiny_model_dir):
    out = tmp_path / "rm"
    result = reward(tiny_model_dir, separable_comparisons(tmp_path / "cmp.json"), out, "--grouped", "true",
                    "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "eval_results.json").read_text())
    assert metrics["eval_pairs"] == 30 and metrics["eval_pairwise_accuracy"] > 0.9
    assert "GroupedRewardTrainer" in (out / "README.md").read_text()


@pytest.mark.parametrize("grouped", ["true", "false"], ids=["grouped", "pairwise"])
def test_reward_training_runs_with_a_tokenizer_without_pad_token(tmp_path, llama_dir, grouped):
    """LLaMA's tokenizer has no pad token: RewardTrainer pads with EOS, and so must the grouped batches."""
    out = tmp_path / "rm"
    result = reward(llama_dir, separable_comparisons(tmp_path / "cmp.json", 12), out, "--grouped", grouped,
                    "--max_steps", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "eval_results.json").read_text())["eval_pairs"] == 9


@pytest.mark.parametrize("use_peft", ["true", "false"], ids=["lora", "full"])
def test_a_saved_reward_model_scores_a_response_alone_as_beside_a_longer_one(tmp_path, llama_dir, use_peft):
    """The LLaMA stand-in's config says pad_token_id 0 while training pads with EOS; the saved model must read
    each response at its own last token, whatever it is batched with."""
    out = tmp_path / "rm"
    result = reward(llama_dir, separable_comparisons(tmp_path / "cmp.json", 12), out, "--use_peft", use_peft,
                    "--max_steps", "3", "--grouped", "false", "--per_device_train_batch_size", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    scorer = RewardModel.from_pretrained(str(out), dtype="float32")
    prompt, short, long = alpaca_prompt("Tell me something about kites."), "no.", "A long and helpful answer. " * 12
    alone = scorer.score(prompt, [short])[0]
    beside_longer = scorer.score(prompt, [long, short])[1]
    assert beside_longer == pytest.approx(alone, abs=1e-4)
    # the check can fail: read at a padding position (the base config's pad id 0), the same response scores otherwise
    scorer.model.config.pad_token_id = 0
    assert scorer.score(prompt, [long, short])[1] != pytest.approx(alone, abs=1e-4)


def test_the_merged_reward_model_loads_with_transformers_as_its_card_shows(tmp_path, llama_dir):
    """A LoRA reward model on a pad-less LLaMA tokenizer: output_dir/merged is a one-label sequence classifier that
    the card's snippet scores exactly as RewardModel does; the adapter loads with PEFT's auto class too; and a
    --hub_token given to the recipe is in no file it writes (training_args.bin pickles the arguments whole)."""
    import re

    import torch
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoTokenizer

    token = "hf_" + "SecretWriteTokenOfTheTest" * 2
    out = tmp_path / "rm"
    result = reward(llama_dir, separable_comparisons(tmp_path / "cmp.json", 12), out, "--max_steps", "3",
                    "--grouped", "false", "--save_strategy", "steps", "--save_steps", "2", "--hub_token", token)
    assert result.returncode == 0, result.stderr[-3000:]
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name == "training_args.bin" for path in written)
    assert [path for path in written if token.encode() in path.read_bytes()] == []
    assert token not in result.stdout + result.stderr

    prompt = alpaca_prompt("Tell me something about kites.")
    responses = ["A long and helpful answer. " * 12, "no."]
    expected = RewardModel.from_pretrained(str(out), dtype="float32").score(prompt, responses)
    card = (out / "merged" / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", card, re.DOTALL).group(1)
    assert f'from_pretrained("{out / "merged"}")' in snippet
    for response, score in zip(responses, expected):
        scope = {"prompt": prompt, "response": response}
        exec(snippet, scope)
        assert scope["reward"] == pytest.approx(score, abs=1e-4)
    assert RewardModel.from_pretrained(str(out / "merged"), dtype="float32").score(prompt, responses) == pytest.approx(
        expected, abs=1e-4)

    tokenizer = AutoTokenizer.from_pretrained(out)
    # the adapter alone: one label, and the pad id training padded with (the base's config says 0)
    adapter = AutoPeftModelForSequenceClassification.from_pretrained(out, num_labels=1,
                                                                     pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        scores = [adapter(**tokenizer(prompt + r + tokenizer.eos_token, return_tensors="pt")).logits[0, 0].item()
                  for r in responses]
    assert scores == pytest.approx(expected, abs=1e-4)


def test_lora_without_seq_cls_is_refused(tmp_path, tiny_model_dir):
    result = reward(tiny_model_dir, separable_comparisons(tmp_path / "cmp.json", 4), tmp_path / "rm",
                    "--lora_task_type", "CAUSAL_LM")
    assert result.returncode != 0 and "needs lora_task_type: SEQ_CLS" in result.stderr


def test_bad_comparison_file_is_a_one_line_error(tmp_path, tiny_model_dir):
    data = tmp_path / "cmp.json"
    data.write_text(json.dumps([{"user_input": "x", "responses_and_scores": [{"response": "a", "score": None}]}]))
    result = reward(tiny_model_dir, data, tmp_path / "rm")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {data}: row 0: field 'responses_and_scores[0].score' must be a number, got NoneType"
    )


def test_dpo_trains_and_its_saved_model_reloads(tmp_path, tiny_model_dir, tokenizer):
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    out = tmp_path / "dpo"
    result = run_recipe(
        "recipes/dpo.py",
        *("--config", str(ROOT / "recipes/configs/dpo/smollm2-135m_lora_cpu.yaml"),
          "--model_name_or_path", tiny_model_dir),
        *("--dataset_name", str(separable_comparisons(tmp_path / "cmp.json", 8)), "--output_dir", str(out)),
        *("--cpu_precision", "fp32", "--max_steps", "3", "--learning_rate", "1e-3", "--eval_fraction", "0.25"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    card = (out / "README.md").read_text()
    assert "DPOTrainer" in card and "| beta | 0.1 |" in card and "eval_rewards/accuracies" in card
    inputs = tokenizer(alpaca_prompt("Tell me something about tea."), return_tensors="pt")
    with torch.no_grad():
        adapted = AutoPeftModelForCausalLM.from_pretrained(out)(**inputs).logits
        merged = AutoModelForCausalLM.from_pretrained(out / "merged")(**inputs).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)(**inputs).logits
    torch.testing.assert_close(merged, adapted, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(adapted, base, atol=1e-5)  # it moved away from the reference


def test_dpo_trains_on_the_prompt_as_generation_tokenizes_it(tmp_path, tiny_model_dir, tokenizer, caplog):
    """A response starting with '"' merges with the prompt's final ':' when tokenized together; DPO still sees the
    prompt's own tokens, then each response and EOS, with no boundary warning from TRL."""
    import logging

    from datasets import Dataset
    from trl import DPOConfig

    from gpt4llm.dpo import PretokenizedDPOTrainer, tokenize_pairs

    prompt = alpaca_prompt("Quote a proverb.")
    pairs = Dataset.from_dict({"prompt": [prompt, prompt], "chosen": ['"Haste makes waste."', "Slow and steady."],
                               "rejected": ["No.", '(a) "Maybe."']})
    args = DPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", max_length=256)
    with caplog.at_level(logging.WARNING):
        rows = tokenize_pairs(pairs, tokenizer)
        trainer = PretokenizedDPOTrainer(tiny_model_dir, args=args, train_dataset=rows, processing_class=tokenizer)
    assert "not a prefix" not in caplog.text
    for pair, row in zip(pairs, trainer.train_dataset):
        assert row["prompt_ids"] == tokenizer(prompt)["input_ids"]
        assert tokenizer.decode(row["chosen_ids"]) == pair["chosen"] + tokenizer.eos_token
        assert tokenizer.decode(row["rejected_ids"]) == pair["rejected"] + tokenizer.eos_token
    args.max_length = len(tokenizer(prompt)["input_ids"])  # the prompt alone fills it: nothing left to learn from
    assert len(trainer._prepare_dataset(tokenize_pairs(pairs, tokenizer), tokenizer, args, "train")) == 0
