"""The embedded teacher runs on every x86-64 CPU it meets: llama.cpp is built for a fixed baseline (the Makefile's
LLAMA_CPP_CMAKE_ARGS), not for the build machine (whose AMX path crashed the server on Intel Sapphire Rapids), and
it answers concurrent chat requests of Alpaca-length prompts."""

import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ROOT

from data_gen.teacher_server import BUILD_CPU_FEATURES, EmbeddedTeacher, check_cpu, missing_cpu_features
from gpt4llm.templates import alpaca_user_input


def system_info() -> dict[str, int]:
    """The instruction sets the installed llama.cpp was compiled with, e.g. {"AVX2": 1, ...}."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    return {name: int(value) for name, value in re.findall(r"(\w+) = (\d+)", info)}


def test_llama_cpp_is_built_for_the_baseline_not_for_this_cpu():
    compiled = system_info()
    assert all(compiled.get(name) == 1 for name in ("AVX", "AVX2", "FMA", "F16C", "BMI2")), compiled
    # a native build on an AVX-512 or AMX machine lists these; the portable build has none of them
    assert not [name for name, on in compiled.items() if on and name.startswith(("AVX512", "AMX", "AVX_VNNI"))]


def test_the_build_options_are_pinned_in_the_makefile():
    makefile = (ROOT / "Makefile").read_text()
    options = re.search(r"^LLAMA_CPP_CMAKE_ARGS := (.*?)(?<!\\)\n", makefile, re.MULTILINE | re.DOTALL).group(1)
    for option in ("GGML_NATIVE=OFF", "GGML_AVX2=ON", "GGML_AVX512=OFF", "GGML_AMX_INT8=OFF",
                   "GGML_CPU_ALL_VARIANTS=OFF"):
        assert f"-D{option}" in options
    assert "--no-cache-dir" in makefile and "--only-binary llama-cpp-python" in makefile  # never pip's cached build


def test_a_cpu_older_than_the_build_is_a_one_line_error(tmp_path):
    assert missing_cpu_features("processor : 0\nflags : fpu sse4_2 avx avx2 fma f16c bmi2 avx512f\n") == []
    assert missing_cpu_features("processor : 0\n") == []  # no flags line (not x86): nothing to say
    old = tmp_path / "cpuinfo"
    old.write_text("processor : 0\nflags : fpu sse4_2 avx\n")
    assert missing_cpu_features(old.read_text()) == [f for f in BUILD_CPU_FEATURES if f not in ("sse4_2", "avx")]
    with pytest.raises(RuntimeError, match=r"^this CPU lacks avx2, fma, f16c, bmi2, .*CMAKE_ARGS=-DGGML_NATIVE=ON$"):
        check_cpu(str(old))


@pytest.mark.slow
def test_sixteen_concurrent_alpaca_requests_are_all_answered():
    records = json.loads((ROOT / "data/demo/alpaca_smollm2_en.json").read_text())
    records.sort(key=lambda r: -len(r["instruction"] + r["input"]))  # the longest prompts of the demo data
    prompts = [alpaca_user_input(r["instruction"], r["input"]) for r in records[:16]]

    with EmbeddedTeacher() as teacher:

        def ask(prompt: str) -> str:
            body = {"model": teacher.model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 24,
                    "temperature": 1.0, "top_p": 1.0}
            request = urllib.request.Request(f"{teacher.base_url}/chat/completions", json.dumps(body).encode(),
                                             {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=300) as response:
                return json.load(response)["choices"][0]["message"]["content"]

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, prompts))
        assert teacher.process.poll() is None  # the server is still up
    assert len(answers) == 16 and all(answer.strip() for answer in answers)
    assert min(len(p) for p in prompts) > 150  # Alpaca-length, not a few words
