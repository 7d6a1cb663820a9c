"""The package installs with `pip install .` and every module of it imports from the installed copy; every package
the project's code imports is declared in pyproject.toml and pinned in a requirements file."""

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest
import tomllib
from conftest import ROOT

FIRST_PARTY = {"gpt4llm", "recipes", "data_gen", "eval", "demo", "bench", "tests"} | {
    p.stem for p in (ROOT / "tests").glob("*.py")
}
# imported only when present, with a message saying how to get it
OPTIONAL = {"spacy": "eval/report.py: Figure 1's verb/noun pairs"}


def declared() -> dict[str, set[str]]:
    """Distribution names (normalised) per group: "" for the dependencies, then each extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    return {group: {normalise(re.split(r"[<>=!~\[ ;]", spec)[0]) for spec in specs} for group, specs in groups.items()}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules() -> dict[str, set[str]]:
    """Top-level module -> the project files that import it (standard library and first-party left out)."""
    found: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts or "outputs" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names} - set(sys.stdlib_module_names) - FIRST_PARTY:
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared_and_pinned():
    groups = declared()
    every = set().union(*groups.values())
    distributions = importlib.metadata.packages_distributions()
    pinned = {normalise(line.split("==")[0].split("[")[0]) for file in ROOT.glob("requirements*.txt")
              for line in file.read_text().splitlines() if "==" in line and not line.startswith("#")}
    if re.search(r"^TORCH \?= torch==\S+$", (ROOT / "Makefile").read_text(), re.MULTILINE):
        pinned.add("torch")  # installed first and on its own, so that TORCH= can choose another build
    undeclared, unpinned = [], []
    for module, files in sorted(imported_modules().items()):
        if module in OPTIONAL:
            continue
        names = {normalise(d) for d in distributions.get(module, [module])}
        if not names & every:
            undeclared.append(f"{module} ({', '.join(sorted(files)[:2])})")
        if not names & pinned:
            unpinned.append(module)
    assert not undeclared, f"imported but not in pyproject.toml: {undeclared}"
    assert not unpinned, f"imported but pinned in no requirements file: {unpinned}"
    # the package itself (gpt4llm/) may import only what a plain `pip install .` brings
    package_imports = {m for m, files in imported_modules().items() if any(f.startswith("gpt4llm/") for f in files)}
    for module in package_imports:
        assert {normalise(d) for d in distributions.get(module, [module])} & groups[""], f"gpt4llm imports {module}"


@pytest.mark.slow
def test_pip_install_in_a_fresh_venv_imports_every_module(tmp_path):
    """A fresh venv that sees this one's installed packages (no network): pip resolves the declared dependencies
    against them, installs the package, and each of its modules imports from the installed copy."""
    venv = tmp_path / "venv"
    # without a pip of its own: this venv's pip and setuptools (>= 77, which the build needs) come through the .pth
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run([venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (tmp_path / "venv" / site.split(str(venv) + "/")[1] / "deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    # pip builds a local project in its own tree (build/, *.egg-info): build a copy of what the sdist would hold
    source = tmp_path / "source"
    shutil.copytree(ROOT / "gpt4llm", source / "gpt4llm", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed copy, not a checkout
    install = subprocess.run(
        [venv / "bin/python", "-m", "pip", "install", "--no-index", "--no-build-isolation", "--quiet", str(source)],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    probe = (
        "import importlib, pkgutil, gpt4llm\n"
        "assert gpt4llm.__file__.startswith(%r), gpt4llm.__file__\n"
        "names = [m.name for m in pkgutil.walk_packages(gpt4llm.__path__, 'gpt4llm.')]\n"
        "for name in names: importlib.import_module(name)\n"
        "print(len(names), 'modules')\n"
    ) % site
    result = subprocess.run([venv / "bin/python", "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = len([p for p in (ROOT / "gpt4llm").rglob("*.py") if p != ROOT / "gpt4llm" / "__init__.py"])
    assert result.stdout.split()[0] == str(expected)
