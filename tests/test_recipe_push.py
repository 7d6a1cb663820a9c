"""push_to_hub from the recipes, offline, against the Hub stand-in (tests/fake_hub.py): each recipe pushes once, at
the end, what a user loads back (the merged model, else the saved model or adapter, with tokenizer and card), in one
commit after the repository's initial one, with no token in any file; an adapter pushed unmerged names a base that
others can load."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import HUB_TOKEN, ROOT, run_recipe, write_alpaca
from test_hub_push import no_token_in_files
from test_preference_recipes import separable_comparisons

from gpt4llm.templates import alpaca_prompt

SFT_RECIPE = str(ROOT / "recipes/configs/sft/smollm2-135m_lora_cpu.yaml")
REWARD_RECIPE = str(ROOT / "recipes/configs/reward/smollm2-135m_lora_cpu.yaml")
DPO_RECIPE = str(ROOT / "recipes/configs/dpo/smollm2-135m_lora_cpu.yaml")
RL_RECIPE = str(ROOT / "recipes/configs/rl/smollm2-135m_grpo_cpu.yaml")
TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json"}
ADAPTER_FILES = {"adapter_config.json", "adapter_model.safetensors"}
# a checkpoint every step: with the Trainer's own pushes on, each would be pushed
SHORT_RUN = ("--max_steps", "2", "--save_strategy", "steps", "--save_steps", "1", "--logging_steps", "1",
             "--cpu_precision", "fp32")


def push_args(repo_id: str) -> tuple[str, ...]:
    return "--push_to_hub", "true", "--hub_model_id", repo_id


def pushed(hub, repo_id: str) -> tuple[set[str], list[dict]]:
    """The files at the head of a model repository and its commits after the initial one, printed for the record."""
    repo = hub.repos[f"models/{repo_id}"]
    files, commits = set(repo.files), repo.commits[1:]
    print(f"{repo_id}: files {sorted(files)}; commits after the initial one: {[c['title'] for c in commits]}")
    return files, commits


def no_training_state(files: set[str]) -> None:
    assert not [f for f in files if f.startswith("checkpoint-") or f.startswith("merged/")], files
    assert not files & {"training_args.bin", "trainer_state.json", "optimizer.pt", "scheduler.pt"}, files


def a_full_model_pushed_once(hub, repo_id: str, title: str) -> set[str]:
    """The repository holds a loadable model with its tokenizer and card, and no adapter or training state, from one
    commit after the initial one; its files."""
    files, commits = pushed(hub, repo_id)
    assert {".gitattributes", "README.md", "config.json", "model.safetensors"} | TOKENIZER_FILES <= files
    assert not files & ADAPTER_FILES
    no_training_state(files)
    assert [c["title"] for c in commits] == [title]
    return files


def loads_back_the_same(auto_class, repo_id: str, local, model_inputs: dict) -> None:
    """The model from the stand-in computes exactly what the local folder's does."""
    with torch.no_grad():
        from_hub = auto_class.from_pretrained(repo_id)(**model_inputs).logits
        saved = auto_class.from_pretrained(local)(**model_inputs).logits
    torch.testing.assert_close(from_hub, saved, atol=0, rtol=0)


def inputs(tokenizer) -> dict:
    return tokenizer(alpaca_prompt("Tell me something about tea."), return_tensors="pt")


@pytest.mark.slow
def test_sft_pushes_the_merged_model_once_with_the_token_from_the_command_line(hub, tmp_path, tiny_model_dir,
                                                                               tokenizer, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.delenv("HF_TOKEN")  # the token comes from --hub_token only (no saved login: HF_TOKEN_PATH is empty)
    out = tmp_path / "out"
    result = run_recipe(
        "recipes/sft.py", "--config", SFT_RECIPE, "--model_name_or_path", tiny_model_dir,
        *("--dataset_name", str(write_alpaca(tmp_path / "train.json", n=8)), "--output_dir", str(out)),
        *("--use_peft", "true", "--merge_adapters", "true", "--learning_rate", "1e-2", *SHORT_RUN),
        *push_args("user/sft-merged"), "--hub_token", HUB_TOKEN, "--hub_private_repo", "true",
        env={k: v for k, v in hub.env.items() if k != "HF_TOKEN"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert HUB_TOKEN not in result.stdout + result.stderr
    assert "user/sft-merged once, at the end" in result.stderr

    a_full_model_pushed_once(hub, "user/sft-merged", f"SFT with {SFT_RECIPE}")
    assert hub.repos["models/user/sft-merged"].private  # hub_private_repo applied at creation
    assert hub.repos["models/user/sft-merged"].files["README.md"] == (out / "merged" / "README.md").read_bytes()

    loads_back_the_same(AutoModelForCausalLM, "user/sft-merged", out / "merged", inputs(tokenizer))
    assert AutoTokenizer.from_pretrained("user/sft-merged")("blue")["input_ids"] == tokenizer("blue")["input_ids"]
    assert hub.unknown == []
    no_token_in_files(hub)


@pytest.mark.slow
def test_a_finished_run_run_again_with_push_trains_nothing_and_pushes_what_it_saved(hub, tmp_path, tiny_model_dir):
    """The README's way to publish a model trained earlier: the same command with --push_to_hub."""
    out = tmp_path / "out"
    command = ("recipes/sft.py", "--config", SFT_RECIPE, "--model_name_or_path", tiny_model_dir,
               "--dataset_name", str(write_alpaca(tmp_path / "train.json", n=8)), "--output_dir", str(out),
               "--use_peft", "true", "--merge_adapters", "true", *SHORT_RUN)
    assert run_recipe(*command, env=hub.env).returncode == 0
    trained = (out / "merged" / "model.safetensors").read_bytes()
    result = run_recipe(*command, *push_args("user/sft-later"), env=hub.env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "already reached max_steps 2: loading it, nothing left to train" in result.stderr
    a_full_model_pushed_once(hub, "user/sft-later", f"SFT with {SFT_RECIPE}")
    assert hub.repos["models/user/sft-later"].files["model.safetensors"] == trained
    assert hub.unknown == []
    no_token_in_files(hub)


@pytest.mark.slow
def test_sft_pushes_an_unmerged_adapter_that_names_its_hub_base(hub, tmp_path, tiny_model_dir, tokenizer):
    """Model and data pulled from the Hub by their ids, the adapter pushed back naming the model."""
    from huggingface_hub import HfApi
    from peft import AutoPeftModelForCausalLM

    api = HfApi()
    api.create_repo("user/tiny-base")
    api.upload_folder(repo_id="user/tiny-base", folder_path=tiny_model_dir, commit_message="tiny base")
    api.create_repo("user/alpaca-small", repo_type="dataset")
    api.upload_file(path_or_fileobj=str(write_alpaca(tmp_path / "train.json", n=8)), path_in_repo="train.json",
                    repo_id="user/alpaca-small", repo_type="dataset")
    out = tmp_path / "out"
    result = run_recipe(
        "recipes/sft.py", "--config", SFT_RECIPE, "--model_name_or_path", "user/tiny-base",
        *("--dataset_name", "user/alpaca-small", "--output_dir", str(out)),
        *("--use_peft", "true", "--merge_adapters", "false", "--learning_rate", "1e-2", *SHORT_RUN),
        *push_args("user/sft-adapter"), env=hub.env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training on 8 examples from user/alpaca-small" in result.stderr

    files, commits = pushed(hub, "user/sft-adapter")
    assert {".gitattributes", "README.md", "train_results.json"} | ADAPTER_FILES | TOKENIZER_FILES <= files
    assert "model.safetensors" not in files
    no_training_state(files)
    assert [c["title"] for c in commits] == [f"SFT with {SFT_RECIPE}"]
    adapter_config = json.loads(hub.repos["models/user/sft-adapter"].files["adapter_config.json"])
    assert adapter_config["base_model_name_or_path"] == "user/tiny-base"

    loads_back_the_same(AutoPeftModelForCausalLM, "user/sft-adapter", out, inputs(tokenizer))
    assert hub.unknown == []
    no_token_in_files(hub)


@pytest.mark.slow
def test_an_unmerged_adapter_of_a_local_base_stops_before_training(hub, tmp_path, tiny_model_dir):
    out = tmp_path / "out"
    result = run_recipe(
        "recipes/sft.py", "--config", SFT_RECIPE, "--model_name_or_path", tiny_model_dir,
        *("--dataset_name", str(write_alpaca(tmp_path / "train.json", n=8)), "--output_dir", str(out)),
        *("--use_peft", "true", "--merge_adapters", "false", "--max_steps", "1"),
        *push_args("user/sft-local"), env=hub.env,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tiny_model_dir}: push_to_hub would push a LoRA adapter whose base is a local folder nobody else "
        "can load; set merge_adapters: true or train from a Hub id (namespace/name)")
    assert "training on" not in result.stderr and not (out / "train_results.json").exists()
    assert hub.repos == {} and hub.authorizations == set()  # no repository made, nothing uploaded
    assert hub.unknown == []


@pytest.mark.slow
def test_a_repository_the_hub_refuses_stops_before_training(hub, tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")  # no token: the Hub answers 401 to the repository's creation
    out = tmp_path / "out"
    result = run_recipe(
        "recipes/sft.py", "--config", SFT_RECIPE, "--model_name_or_path", tiny_model_dir,
        *("--dataset_name", str(write_alpaca(tmp_path / "train.json", n=8)), "--output_dir", str(out)),
        *("--max_steps", "1", *push_args("user/sft-refused")),
        env={k: v for k, v in hub.env.items() if k != "HF_TOKEN"},
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: push_to_hub: cannot create user/sft-refused on the Hub: ") and "401" in last
    assert "training on" not in result.stderr and hub.repos == {}


@pytest.mark.slow
def test_reward_pushes_the_merged_model_that_transformers_loads(hub, tmp_path, tiny_model_dir, tokenizer):
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "rm"
    result = run_recipe(
        "recipes/reward.py", "--config", REWARD_RECIPE, "--model_name_or_path", tiny_model_dir,
        *("--dataset_name", str(separable_comparisons(tmp_path / "cmp.json", 8)), "--output_dir", str(out)),
        *("--eval_fraction", "0.25", "--learning_rate", "1e-2", *SHORT_RUN), *push_args("user/reward"), env=hub.env,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    a_full_model_pushed_once(hub, "user/reward", f"Reward model with {REWARD_RECIPE}")
    card = hub.repos["models/user/reward"].files["README.md"].decode()
    assert 'from_pretrained("user/reward")' in card and "eval_pairwise_accuracy" in card

    responses = [alpaca_prompt("Tell me about tea.") + r + tokenizer.eos_token for r in ("Tea is a drink.", "no.")]
    batch = tokenizer(responses, return_tensors="pt", padding=True)
    with torch.no_grad():
        assert AutoModelForSequenceClassification.from_pretrained("user/reward")(**batch).logits.shape == (2, 1)
    loads_back_the_same(AutoModelForSequenceClassification, "user/reward", out / "merged", batch)
    assert hub.unknown == []
    no_token_in_files(hub)


@pytest.mark.slow
def test_dpo_pushes_a_full_model_from_its_output_folder(hub, tmp_path, tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "dpo"
    result = run_recipe(
        "recipes/dpo.py", "--config", DPO_RECIPE, "--model_name_or_path", tiny_model_dir,
        *("--dataset_name", str(separable_comparisons(tmp_path / "cmp.json", 6)), "--output_dir", str(out)),
        *("--use_peft", "false", "--eval_fraction", "0", "--learning_rate", "1e-3", *SHORT_RUN),
        *push_args("user/dpo"), "--hub_token", HUB_TOKEN, env=hub.env,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    a_full_model_pushed_once(hub, "user/dpo", f"DPO with {DPO_RECIPE}")
    assert (out / "training_args.bin").is_file() and (out / "checkpoint-2").is_dir()  # saved, not pushed
    loads_back_the_same(AutoModelForCausalLM, "user/dpo", out, inputs(tokenizer))
    assert hub.unknown == []
    no_token_in_files(hub)


@pytest.mark.slow
def test_rl_pushes_the_merged_policy(hub, tmp_path, tiny_model_dir, tiny_reward_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "rl"
    result = run_recipe(
        "recipes/rl.py", "--config", RL_RECIPE, "--model_name_or_path", tiny_model_dir,
        *("--reward_model_path", tiny_reward_dir, "--dataset_name", str(write_alpaca(tmp_path / "p.json", n=8))),
        *("--output_dir", str(out), "--max_completion_length", "8", *SHORT_RUN), *push_args("user/rl"), env=hub.env,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    a_full_model_pushed_once(hub, "user/rl", f"RL with {RL_RECIPE}")
    loads_back_the_same(AutoModelForCausalLM, "user/rl", out / "merged", inputs(tokenizer))
    assert hub.unknown == []
    no_token_in_files(hub)


def test_a_push_replaces_what_an_earlier_push_left_in_one_commit(hub, tmp_path):
    """A merged model pushed over an earlier adapter push: the adapter's files go in the same commit (beside them,
    transformers would load the adapter over its base); checkpoints and training_args.bin stay local."""
    from huggingface_hub import HfApi

    from gpt4llm.publish import push_folder

    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors", "README.md"):
        (earlier / name).write_text(f"earlier {name}")
    HfApi().create_repo("user/replaced")
    HfApi().upload_folder(repo_id="user/replaced", folder_path=earlier)
    folder = tmp_path / "merged"
    (folder / "checkpoint-1").mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "README.md", "training_args.bin", "checkpoint-1/optimizer.pt"):
        (folder / name).write_text(f"new {name}")

    push_folder(str(folder), repo_id="user/replaced", private=None, message="merged")
    files, commits = pushed(hub, "user/replaced")
    repo = hub.repos["models/user/replaced"]
    assert files == {".gitattributes", "config.json", "model.safetensors", "README.md"}
    assert all(repo.files[name] == f"new {name}".encode() for name in files - {".gitattributes"})
    assert [c["title"] for c in commits[1:]] == ["merged"]  # after the earlier push
    assert hub.unknown == []
    no_token_in_files(hub)


def test_an_unmerged_adapter_of_an_embedded_model_names_its_hub_source(hub, tmp_path, tiny_reward_dir):
    """prepare turns the Trainer's push off, creates the repository and records the embedded model's Hub source as
    the base; the pushed adapter_config.json names it, the local one keeps the local path it loads from."""
    from trl import ModelConfig, SFTConfig

    from gpt4llm import training
    from gpt4llm.models import DEFAULT_MODEL, embedded_source
    from gpt4llm.publish import push_folder

    args = SFTConfig(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none", push_to_hub=True,
                     hub_model_id="user/embedded-adapter", hub_private_repo=True)
    model_args = ModelConfig(model_name_or_path=DEFAULT_MODEL, use_peft=True)
    hub_target = training.take_push_from_trainer(SimpleNamespace(merge_adapters=False), args, model_args)
    assert not args.push_to_hub  # the Trainer pushes nothing by itself
    assert hub_target == training.HubTarget("user/embedded-adapter", True, embedded_source(DEFAULT_MODEL))
    assert hub.repos["models/user/embedded-adapter"].private

    push_folder(tiny_reward_dir, repo_id=hub_target.repo_id, private=hub_target.private, message="adapter",
                adapter_base=hub_target.adapter_base, adapter_base_revision=hub_target.adapter_base_revision)
    files, commits = pushed(hub, "user/embedded-adapter")
    repo = hub.repos["models/user/embedded-adapter"]
    pushed_config = json.loads(repo.files["adapter_config.json"])
    assert pushed_config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    local = json.loads((Path(tiny_reward_dir) / "adapter_config.json").read_text())
    assert Path(local["base_model_name_or_path"]).is_dir()
    assert files == {".gitattributes", *(p.name for p in Path(tiny_reward_dir).iterdir())}
    assert repo.files["adapter_model.safetensors"] == Path(tiny_reward_dir, "adapter_model.safetensors").read_bytes()
    assert [c["title"] for c in commits] == ["adapter"]
    assert hub.unknown == []
    no_token_in_files(hub)
