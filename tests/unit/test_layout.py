"""The package layout's dependency rules (docs/architecture.md), read from the source with ast.

Every import of an inslib module counts, at module level or inside a function: a function-level
import is a real dependency, only a lazy one.
"""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import inslib

PACKAGE = Path(inslib.__file__).resolve().parent
LOWER_LAYERS = ("inslib.scattering", "inslib.phonons")
UPPER_LAYERS = ("inslib.simulation", "inslib.runtime", "inslib.io")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set) -> set:
    """Inslib modules (and 'algorithms...') imported anywhere in a file (absolute imports)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{path}: use absolute imports"
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            if name.startswith("algorithms"):
                found.add(name)
            while name and name not in known:  # "pkg.module.function" -> "pkg.module"
                name = name.rpartition(".")[0]
            if name.startswith("inslib"):
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict:
    """Map every module under inslib/ to the set of inslib modules it imports."""
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    known = set(files)
    return {name: _imports(path, known) - {name} for name, path in files.items()}


def test_every_module_is_seen(graph):
    assert {"inslib.simulation.requests", "inslib.runtime.compat",
            "inslib.phonons.force_constants"} <= set(graph)


def test_import_graph_is_acyclic(graph):
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")


def test_a_function_level_import_cycle_is_caught(graph):
    """The check sees lazy imports: a back edge from the kernels to a simulation closes a loop."""
    cyclic = {**graph, "inslib.scattering.thermal": {*graph["inslib.scattering.thermal"],
                                                    "inslib.simulation.powder"}}
    with pytest.raises(CycleError):
        tuple(TopologicalSorter(cyclic).static_order())


@pytest.mark.parametrize("lower", LOWER_LAYERS)
def test_kernels_and_phonons_do_not_import_upper_layers(graph, lower):
    bad = {(name, dep) for name, deps in graph.items() if name.startswith(lower)
           for dep in deps if dep.startswith(UPPER_LAYERS)}
    assert not bad, f"{lower} must not import simulation/, runtime/ or io/: {sorted(bad)}"


def test_nothing_under_inslib_imports_algorithms(graph):
    bad = {(name, dep) for name, deps in graph.items() for dep in deps
           if dep.startswith("algorithms")}
    assert not bad


def test_tests_and_benchmarks_read_only_files_in_the_repository(shared):
    """No test or benchmark reaches ../shared (a clone alone must pass `make test`)."""
    import re

    root = Path(__file__).resolve().parents[2]
    outside = re.compile(r"""parents?\[?\d*\]?\s*/\s*["']shared["']|["']\.\./shared|ROOT\.parent""")
    offenders = [str(path.relative_to(root)) for folder in ("tests", "benchmarks")
                 for path in (root / folder).rglob("*.py")
                 if path.name != "test_layout.py" and outside.search(path.read_text())]
    assert not offenders
    assert shared.resolve().is_relative_to(root)
    assert (shared / "README.md").is_file()
