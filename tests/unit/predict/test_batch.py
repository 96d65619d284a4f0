"""predict-batch: structure lists, one-by-one == serial == LocalCluster, refusals, progress."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inslib.ml.batch import BatchError, predict_batch, structure_list
from inslib.ml.predict import PredictRequest, run_predict

pytest.importorskip("sevenn")
AL_PRIMITIVE_BOHR = 3.821343698739  # as conftest.py: the DFT reference's lattice
# fast settings: primitive cells, a 2x2x2 supercell, no relaxation, the DOS on a coarse mesh
TEMPLATE = PredictRequest(method="ForceField", supercell="2,2,2", relax="None", output="DOS",
                          grid=8)


@pytest.fixture(scope="module")
def structures(tmp_path_factory) -> Path:
    """Return a folder: primitive fcc Al (CIF), Cu (POSCAR) and a file that is no structure."""
    import ase.io
    from ase.build import bulk
    from ase.units import Bohr

    folder = tmp_path_factory.mktemp("structures")
    ase.io.write(folder / "Al.cif", bulk("Al", "fcc", a=2 * AL_PRIMITIVE_BOHR * Bohr))
    ase.io.write(folder / "POSCAR_Cu", bulk("Cu", "fcc", a=3.61), format="vasp")
    (folder / "notes.txt").write_text("not a structure\n")
    return folder


@pytest.fixture(scope="module")
def one_by_one(structures, tmp_path_factory) -> dict:
    """{structure: run_predict's Histogram}, each run alone (its own force-field cache)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a LocalCluster worker: identical sums to compare bit for bit
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("INSLIB_CACHE", str(tmp_path_factory.mktemp("cache")))
            return {str(p): run_predict(replace(TEMPLATE, structure=str(p)))
                    for p in structure_list(structures)}
    finally:
        torch.set_num_threads(threads)


def _check_same(summary: dict, reference: dict) -> None:
    from inslib.io.files import load_workspace

    assert list(summary) == list(reference)
    for structure, path in summary.items():
        saved, alone = load_workspace(path), reference[structure]
        assert path.name == f"{Path(structure).stem}.nxs"
        assert np.array_equal(saved.signal, alone.signal)
        assert np.array_equal(saved.variance, alone.variance)
        assert [a.edges.tolist() for a in saved.axes[1:]] == [a.edges.tolist()
                                                              for a in alone.axes[1:]]
    assert not list(path.parent.glob(".*"))  # no temporary file left


def _recorder():
    calls = []
    return calls, lambda fraction, message: calls.append((fraction, message))


def _check_progress(calls: list, n: int) -> None:
    fractions = [fraction for fraction, _ in calls]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0
    assert fractions[-1] == 1.0
    assert len(calls) == n + 1  # the start, then one per structure


def test_serial_batch_equals_one_by_one_runs(structures, one_by_one, cache, tmp_path):
    import torch

    calls, progress = _recorder()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = predict_batch(structure_list(structures), TEMPLATE, tmp_path / "out",
                                scheduler="none", progress=progress)
    finally:
        torch.set_num_threads(threads)
    _check_same(summary, one_by_one)
    _check_progress(calls, len(one_by_one))
    assert any(cache.iterdir())  # force constants computed anew, not the one-by-one ones


def test_local_cluster_batch_equals_one_by_one_runs(structures, one_by_one, cache, tmp_path):
    calls, progress = _recorder()
    summary = predict_batch(structure_list(structures), TEMPLATE, tmp_path / "out",
                            scheduler="local", n_workers=2, progress=progress)
    _check_same(summary, one_by_one)
    _check_progress(calls, len(one_by_one))
    assert any(cache.iterdir())  # force constants computed anew, not the one-by-one ones
    assert {message.split()[0] for _, message in calls[1:]} == {"Al.cif", "POSCAR_Cu"}


def test_a_folder_and_a_text_list_give_the_same_structures(structures, tmp_path):
    listing = tmp_path / "lists" / "batch.txt"
    listing.parent.mkdir()
    relative = os.path.relpath(structures / "Al.cif", listing.parent)
    listing.write_text(f"# the test structures\n\n{relative}\n  {structures / 'POSCAR_Cu'}  \n")
    assert structure_list(structures) == [structures / "Al.cif", structures / "POSCAR_Cu"]
    assert [p.resolve() for p in structure_list(listing)] == [
        p.resolve() for p in structure_list(structures)]


@pytest.mark.parametrize(("content", "fragment"), [
    (None, "does not exist: give a folder of structure files or a text file"),
    ("", "lists no path (only blank lines and # comments)"),
    ("Al.cif\n# comment\nmissing.cif\n", "lists 1 file(s) that do not exist (line 3: "),
])
def test_bad_lists_are_named(tmp_path, content, fragment):
    (tmp_path / "Al.cif").write_text("x")
    listing = tmp_path / "batch.txt"
    if content is not None:
        listing.write_text(content)
    with pytest.raises(BatchError, match="SOURCE") as err:
        structure_list(listing)
    assert fragment in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BatchError, match="holds no structure file"):
        structure_list(empty)


def test_an_invalid_structure_refuses_the_whole_batch(structures, cache, tmp_path):
    bad = tmp_path / "Bad.cif"
    bad.write_text("")
    out = tmp_path / "out"
    paths = [*structure_list(structures), bad]
    with pytest.raises(BatchError) as err:
        predict_batch(paths, TEMPLATE, out, scheduler="none")
    message = str(err.value)
    assert "1 of 3 structures cannot be predicted; nothing was computed" in message
    assert f"{bad}: StructureFile: " in message
    assert "is empty" in message
    assert not out.exists()
    assert not cache.exists()  # no force constants computed either


def test_folder_method_existing_outputs_and_clashing_stems_are_refused(structures, tmp_path):
    paths = structure_list(structures)
    with pytest.raises(BatchError, match="Method='Folder': a batch predicts structure files"):
        predict_batch(paths, replace(TEMPLATE, method="Folder"), tmp_path, scheduler="none")
    (tmp_path / "Al.nxs").write_text("earlier")
    with pytest.raises(BatchError, match=r"already holds Al.nxs: .*overwrite=True"):
        predict_batch(paths, TEMPLATE, tmp_path, scheduler="none")
    assert (tmp_path / "Al.nxs").read_text() == "earlier"
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "Al.cif").write_bytes((structures / "Al.cif").read_bytes())
    with pytest.raises(BatchError, match=r"same file stem would write the same output \(Al.nxs"):
        predict_batch([*paths, twin / "Al.cif"], TEMPLATE, tmp_path / "out", scheduler="none")


def test_the_command_line_runs_a_listed_batch(structures, cache, tmp_path):
    from inslib.runtime.cli import main

    listing = tmp_path / "batch.txt"
    listing.write_text("\n".join(str(p) for p in structure_list(structures)))
    out = tmp_path / "out"
    args = ["predict-batch", str(listing), "--out", str(out), "--scheduler", "none",
            "--output", "DOS", "--supercell", "2,2,2", "--relax", "None", "--mesh", "8"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["Al.nxs", "POSCAR_Cu.nxs"]
    assert main(args) == 2  # the outputs exist now
    with pytest.raises(SystemExit):  # argparse: Method ForceField or Direct only
        main([*args, "--overwrite", "--method", "Folder"])


def test_the_command_line_chooses_the_direct_maps_coherent_term(structures, tmp_path):
    from inslib.io.nexus_processed import read_processed
    from inslib.runtime.cli import main

    base = ["predict-batch", str(structures), "--scheduler", "none", "--method", "Direct",
            "--instrument", "ARCS", "--ei", "80", "--temperature", "300"]
    for flag, folder in (([], "coherent"), (["--incoherent"], "incoherent")):
        assert main([*base, *flag, "--out", str(tmp_path / folder)]) == 0
    coherent, incoherent = (read_processed(tmp_path / folder / "Al.nxs")[0]
                            for folder in ("coherent", "incoherent"))
    assert "powder-map networks" in coherent.metadata.logs["DirectMapModel"].value
    assert "DirectMapModel" not in incoherent.metadata.logs
    assert not np.allclose(coherent.signal[~coherent.mask], incoherent.signal[~incoherent.mask])
