"""The Direct predictor's dataset: manifest, resumable labelling, records, prototype split.

Labels use the smallest settings (4 A supercells, a 6^3 mesh, 40 bins): fcc Al and diamond Si
take about a second each after sevenn's 7net-0 is loaded.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from inslib.ml.generate import generate, progress_report
from inslib.ml.labels import TOO_MANY_ATOMS, LabelSettings, spectra
from inslib.ml.records import LabelFolder, LabelFolderError, load_record
from inslib.ml.structures import (
    make_entry,
    read_manifest,
    split,
    structure_id,
    substitute,
    write_manifest,
)
from inslib.structure import from_ase

MANIFEST = Path(__file__).resolve().parents[3] / "data" / "predict" / "structures.jsonl"
TINY = LabelSettings(min_length=4.0, grid=6, e_max=80.0, n_bins=40, multiphonon_order=2)


def _entry(atoms):
    return make_entry(from_ase(atoms), "test")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Return a two-line manifest: fcc Al and diamond Si."""
    entries = [_entry(bulk("Al", "fcc", a=4.05)), _entry(bulk("Si", "diamond", a=5.43))]
    return write_manifest(entries, tmp_path_factory.mktemp("data") / "structures.jsonl")


@pytest.fixture(scope="module")
def labelled(manifest, tmp_path_factory):
    """(label folder, first run's summary) of the two structures."""
    pytest.importorskip("sevenn")
    out = tmp_path_factory.mktemp("labels")
    return out, generate(manifest, out, TINY, log=lambda _line: None)


def test_resume_skips_done_records(manifest, labelled):
    out, first = labelled
    assert len(first.labelled) == 2
    assert not first.failed
    stale = out / "records" / f".crashed.npz.xz.{2**22 + 1}.part"  # no such process
    stale.write_bytes(b"half")
    second = generate(manifest, out, TINY, log=lambda _line: None)
    assert not second.labelled
    assert not second.failed
    assert second.stale_removed == 1
    assert not stale.exists()
    report = progress_report(manifest, out)
    assert (report["done"], report["pending"], report["stable"]) == (2, 0, 2)


def test_time_budget_and_settings_are_kept(manifest, labelled, tmp_path):
    assert not generate(manifest, tmp_path, TINY, time_budget=0.0).labelled
    with pytest.raises(LabelFolderError, match="grid"):
        generate(manifest, labelled[0], replace(TINY, grid=8))


def test_a_failure_is_recorded_and_not_retried(manifest, tmp_path):
    huge = replace(TINY, min_length=60.0)  # supercells of thousands of atoms
    second_half = generate(manifest, tmp_path, huge, shard=(1, 2), log=lambda _line: None)
    assert second_half.failed == [read_manifest(manifest)[1].id]
    first = generate(manifest, tmp_path, huge, log=lambda _line: None)
    assert first.failed == [read_manifest(manifest)[0].id]
    failures = LabelFolder(tmp_path).failed()
    assert {f["kind"] for f in failures.values()} == {TOO_MANY_ATOMS}
    assert "at most 400" in next(iter(failures.values()))["reason"]
    assert len(LabelFolder(tmp_path).failed()) == 2
    assert not generate(manifest, tmp_path, huge).failed
    assert len(generate(manifest, tmp_path, huge, retry_failed=True).failed) == 2


def test_a_record_round_trips_and_obeys_the_sum_rule(manifest, labelled):
    si = read_manifest(manifest)[[e.formula for e in read_manifest(manifest)].index("Si")]
    record = load_record(LabelFolder(labelled[0]).record_path(si.id))
    assert record.meta["prototype"] == si.prototype
    assert record.meta["elements"] == ["Si"]
    assert record.force_constants.fc.shape == (8, 6, 6)  # 2 atoms, 2x2x2 supercell
    widths = np.diff(record.edges)
    assert record.dos @ widths == pytest.approx(3 * record.crystal.n_atoms, rel=0.01)
    np.testing.assert_allclose(record.pdos.sum(axis=0), record.dos, rtol=1e-6)
    assert record.indirect.shape == (2, 40)
    assert np.all(record.indirect >= 0)
    assert record.indirect.max() > 0
    again, _ = spectra(record.force_constants, TINY)  # the stored force constants give them
    np.testing.assert_allclose(again["dos"], record.dos, atol=1e-4 * record.dos.max())


def test_prototype_labels_survive_substitution():
    si, c = _entry(bulk("Si", "diamond", a=5.43)), _entry(bulk("C", "diamond", a=3.57))
    nacl, kcl = _entry(bulk("NaCl", "rocksalt", a=5.64)), _entry(bulk("KCl", "rocksalt", a=6.3))
    assert si.prototype == c.prototype == "A_227_2-43m"
    assert nacl.prototype == kcl.prototype != si.prototype
    ge = substitute(si, "Si", "Ge")
    assert (ge.prototype, ge.parent, ge.formula) == (si.prototype, si.id, "Ge")
    assert np.linalg.det(ge.cell) > np.linalg.det(si.cell)  # Ge is larger


def test_the_manifest_ids_are_stable_and_the_split_keeps_prototypes_apart():
    entries = read_manifest(MANIFEST)
    assert len(entries) >= 1000
    assert len({e.id for e in entries}) == len(entries)
    assert all(e.id == structure_id(e.cell, e.positions, e.symbols) for e in entries[:50])
    assert max(e.n_atoms for e in entries) <= 10
    parts = split(entries, seed=0)
    prototypes = {part: {e.prototype for e in entries if parts[e.id] == part}
                  for part in ("train", "val", "test")}
    assert not prototypes["train"] & prototypes["test"]
    assert not prototypes["train"] & prototypes["val"]
    assert not prototypes["val"] & prototypes["test"]
    share = sum(parts[e.id] == "test" for e in entries) / len(entries)
    assert 0.08 < share < 0.12
    assert split(entries, seed=0) == parts
