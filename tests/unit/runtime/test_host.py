"""The built-in host follows the Mantid API subset the algorithm files use."""

import pytest

from inslib.runtime.host import (
    AlgorithmFactory,
    Direction,
    InvalidArgumentsError,
    Progress,
    PythonAlgorithm,
    algorithms_dir,
    create_algorithm,
    run_algorithm,
)
from inslib.runtime.plugins import KEY, add_plugin_directory
from inslib.runtime.validators import FloatBoundedValidator, StringListValidator


class _Echo(PythonAlgorithm):
    def name(self):
        return "_Echo"

    def category(self):
        return "Test"

    def summary(self):
        return "echo"

    def PyInit(self):
        self.declareProperty("X", 1.0, FloatBoundedValidator(0, 10), doc="x")
        self.declareProperty("Mode", "a", StringListValidator(["a", "b"]))
        self.declareProperty("Out", 0.0, direction=Direction.Output)

    def validateInputs(self):
        return {"Mode": "b needs X > 5"} if (
            self.getProperty("Mode").value == "b" and self.getProperty("X").value <= 5) else {}

    def PyExec(self):
        progress = Progress(self, 0.0, 1.0, 2)
        progress.report("half")
        progress.report("done")
        self.setProperty("Out", 2 * self.getProperty("X").value)


AlgorithmFactory.subscribe(_Echo)


def test_properties_are_typed_from_strings_and_progress_reported():
    seen = []
    out = run_algorithm("_Echo", progress=lambda f, m: seen.append((f, m)), X="3")
    assert out["Out"] == 6.0
    assert seen == [(0.5, "half"), (1.0, "done")]


def test_validators_and_validate_inputs_name_properties():
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("_Echo", X="11")
    assert "X" in info.value.errors
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("_Echo", X="2", Mode="b")
    assert info.value.errors == {"Mode": "b needs X > 5"}
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("_Echo", X="abc")
    assert "X" in info.value.errors


def test_unknown_algorithm_and_property():
    with pytest.raises(KeyError, match="Unknown algorithm"):
        create_algorithm("NoSuch")
    with pytest.raises(InvalidArgumentsError):
        run_algorithm("_Echo", Nope="1")


def test_algorithm_files_are_mantid_shaped():
    for path in algorithms_dir().glob("*.py"):
        text = path.read_text()
        assert text.rstrip().splitlines()[-1] == f"AlgorithmFactory.subscribe({path.stem})"
        algorithm = create_algorithm(path.stem)
        assert algorithm.name() == path.stem
        assert algorithm.summary()
        assert algorithm.category()
        assert "from inslib.runtime.compat import" in text  # the one compatibility module


def test_plugin_directory_is_added_once(tmp_path):
    properties = tmp_path / "Mantid.user.properties"
    properties.write_text("default.facility=SNS\n")
    add_plugin_directory(properties, algorithms_dir())
    line = add_plugin_directory(properties, algorithms_dir())
    assert line == f"{KEY}={algorithms_dir().resolve()}"
    assert properties.read_text().count(KEY) == 1
    assert "default.facility=SNS" in properties.read_text()


def test_property_constructors_take_no_doc_as_in_mantid():
    """Property constructors refuse doc=, as Mantid's Python bindings do.

    The doc goes to declareProperty(prop, doc), which keeps it.
    """
    from inslib.runtime.host import FileAction, FileProperty, WorkspaceProperty

    with pytest.raises(TypeError):
        FileProperty("F", "", FileAction.Load, doc="x")
    with pytest.raises(TypeError):
        WorkspaceProperty("W", "", Direction.Output, doc="x")
    algorithm = PythonAlgorithm()
    algorithm.declareProperty(FileProperty("F", "", FileAction.Load), "the file")
    algorithm.declareProperty(WorkspaceProperty("W", "", Direction.Output), doc="the output")
    assert algorithm.getProperty("F").doc == "the file"
    assert algorithm.getProperty("W").doc == "the output"
    with pytest.raises(TypeError, match="only a doc string"):
        algorithm.declareProperty(FileProperty("G", "", FileAction.Load), "doc", 3)


def test_every_declared_property_has_a_doc():
    for path in algorithms_dir().glob("*.py"):
        algorithm = create_algorithm(path.stem)
        undocumented = [p.name for p in algorithm.getProperties() if not p.doc]
        assert not undocumented, (path.stem, undocumented)
