"""What the package declares is what it needs: Python version, dependencies, the GUI extra,
``ptycho-engine --version`` (issue 15)."""
from __future__ import annotations

import ast
import importlib.metadata as metadata
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from ptycho_engine import cli

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
OWN_PACKAGES = {"ptycho_engine", "app", "tests", "benchmarks", "conftest"}

#: standard-library modules newer than some Pythons a package might declare
STDLIB_SINCE = {"tomllib": (3, 11)}
#: what the gui extra must provide (app/main.py names them too)
QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph")
#: the only engine package allowed to import the tf extra (tensorflow, keras)
TF_BACKEND = "ptycho_engine/tf_backend/"
#: used by tests only after pytest.importorskip (a check against the real reader where installed)
OPTIONAL_IN_TESTS = {"ptychodus"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)).lower()


def _declared(*extras: str) -> set[str]:
    """Normalised distribution names of the core dependencies plus ``extras`` (self-references expanded)."""
    names: set[str] = set()
    pending = [*PROJECT["dependencies"]] + [r for e in extras for r in PROJECT["optional-dependencies"][e]]
    while pending:
        requirement = pending.pop()
        name = _name(requirement)
        if name == _name(PROJECT["name"]):
            inner = re.search(r"\[([^\]]*)\]", requirement)
            for extra in (inner.group(1).split(",") if inner else []):
                pending.extend(PROJECT["optional-dependencies"][extra.strip()])
            continue
        names.add(name)
    return names


def _imported_top_level(folder: Path) -> dict[str, str]:
    """Every absolute import in ``folder``'s Python files (lazy ones included): module -> first file."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                found.setdefault(module, str(path.relative_to(ROOT)))
    return found


def _min_python() -> tuple[int, int]:
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)", PROJECT["requires-python"].strip())
    assert match, f"unexpected requires-python {PROJECT['requires-python']!r}"
    return int(match.group(1)), int(match.group(2))


def test_requires_python_matches_the_standard_library_the_code_imports() -> None:
    lowest = _min_python()
    # the declaration is what is tested: CI runs this suite on the interpreter of .venv
    assert sys.version_info[:2] >= lowest
    imported = {m.split(".")[0]: f for folder in ("ptycho_engine", "app") for m, f in
                _imported_top_level(ROOT / folder).items()}
    for module, since in STDLIB_SINCE.items():
        if module in imported and lowest < since:
            pytest.fail(f"{imported[module]} imports {module} (Python {since[0]}.{since[1]}+) but "
                        f"requires-python is {PROJECT['requires-python']!r}")


@pytest.mark.parametrize("folder, extras", [("ptycho_engine", ()), ("app", ("gui",)), ("tests", ("test",))])
def test_every_third_party_import_is_declared(folder: str, extras: tuple[str, ...]) -> None:
    """ptycho_engine needs only the core dependencies; app the gui extra; tests the test extra."""
    declared = _declared(*extras)
    owners = metadata.packages_distributions()
    missing = []
    for module, where in sorted(_imported_top_level(ROOT / folder).items()):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in OWN_PACKAGES or top == "__future__":
            continue
        if folder == "tests" and top in OPTIONAL_IN_TESTS:
            continue
        distributions = {_name(d) for d in owners.get(top, [])}
        if folder == "ptycho_engine" and where.startswith(TF_BACKEND) and distributions & _declared("tf"):
            continue  # the optional TensorFlow backend imports its extra lazily (issue 14)
        if not distributions & declared:
            missing.append(f"{top} ({where}; installed by {sorted(distributions) or 'nothing'})")
    assert missing == [], f"imports of {folder}/ not declared in pyproject.toml {['core', *extras]}: {missing}"


def test_qt_is_the_gui_extra_only() -> None:
    core = _declared()
    assert not core & {"pyside6", "pyside6-essentials", "pyqtgraph"}
    assert {"pyside6-essentials", "pyqtgraph"} <= _declared("gui")
    assert "ptycho-studio[gui]" in PROJECT["optional-dependencies"]["test"]


def test_readme_commands_install_the_extras_they_need_and_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    launch = next(line for line in readme.splitlines() if line.rstrip().endswith("ptycho-studio"))
    assert '-e ".[gui]"' in launch
    test_command = next(line for line in readme.splitlines() if line.rstrip().endswith("-m pytest"))
    assert '-e ".[test]"' in test_command
    assert test_command.strip() in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


NO_QT = textwrap.dedent("""
    import importlib, importlib.abc, pkgutil, sys
    BLOCKED = {blocked!r}

    class NoQt(importlib.abc.MetaPathFinder):  # as if the gui extra were not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, NoQt())
    import ptycho_engine, ptycho_engine.api, ptycho_engine.cli
    for info in pkgutil.walk_packages(ptycho_engine.__path__, "ptycho_engine."):
        importlib.import_module(info.name)
    from ptycho_engine import cli
    for argv in (["--help"], ["--version"]):
        try:
            cli.main(argv)
        except SystemExit as stop:
            assert stop.code == 0, (argv, stop.code)
    assert cli.main(["simulate", "--output", sys.argv[1], "--n-positions", "20", "--object-size", "100"]) == 0
    assert cli.main(["inspect", sys.argv[1]]) == 0
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    from app.main import main as studio
    assert studio([]) == 2  # the window says which extra to install, without a traceback
    print("ran without Qt")
""")


def test_engine_imports_and_runs_without_qt(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run([sys.executable, "-c", NO_QT.format(blocked=QT_MODULES), str(tmp_path / "s.npz")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ran without Qt" in proc.stdout
    assert "wrote" in proc.stdout and "tensorflow" in proc.stdout  # simulate and --version ran
    assert "needs the GUI extra" in proc.stderr and "ptycho-studio[gui]" in proc.stderr


def test_version_names_package_frameworks_and_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"ptycho-engine {metadata.version('ptycho-studio')} (ptycho-studio)"
    assert metadata.version("ptycho-studio") == PROJECT["version"]
    assert f"torch {torch.__version__}" in lines
    assert f"lightning {metadata.version('lightning')}" in lines
    assert any(line.startswith("tensorflow ") for line in lines)  # a version, or "not installed"
    cuda = next(line for line in lines if line.startswith("CUDA: "))
    assert cuda.startswith("CUDA: available" if torch.cuda.is_available() else "CUDA: not available")
