"""Training-data engine: reproducible, resumable shards; dask == one process; noise; errors."""

import shutil
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from inslib.datagen.config import (
    DatagenConfig,
    DatagenConfigError,
    NoiseSpec,
    TemplateSpec,
    path_request,
)
from inslib.datagen.run import generate
from inslib.datagen.shards import shard_path

AL = str(Path(__file__).resolve().parents[2] / "data" / "Al_phonopy" / "phonopy.yaml")
DATASETS = ("spectra", "parameters", "convergence", "noisy", "noise_levels")


def tiny(**changes) -> DatagenConfig:
    """Al on ARCS, coarse bins, small mesh, few directions: 3 shards of 4 (last: 2) spectra."""
    base = {"force_constants": AL, "n_spectra": 10,
            "template": TemplateSpec("ARCS", 50.0, q_binning="1,0.5,5", e_binning="-8,2,40"),
            "grid": 4, "max_order": 2, "n_directions": 8, "shard_size": 4, "seed": 7,
            "noise": NoiseSpec(store=True)}
    return DatagenConfig(**{**base, **changes})


def read(folder: Path) -> dict:
    """{(shard file, dataset): array} of every shard in a folder."""
    out = {}
    for path in sorted(folder.glob("shard_*.h5")):
        with h5py.File(path, "r") as f:
            for name in DATASETS:
                out[path.name, name] = f[name][()]
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key  # bit for bit


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference")
    summary = generate(tiny(), folder, scheduler=None)
    assert (summary.written, summary.shards_written, summary.kept) == (10, 3, 0)
    return folder


def test_shard_contents(reference):
    with h5py.File(shard_path(reference, 0), "r") as f:
        spectra = f["spectra"][()]
        assert spectra.dtype == np.float32
        assert spectra.shape == (4, 8, 24)
        assert f["parameters"].dtype == np.float64
        assert f["parameters"].shape == (4, 5)
        assert [n.decode() if isinstance(n, bytes) else n for n in f["parameter_names"][()]] \
            == ["1NN xx", "1NN zz", "1NN xy", "2NN xx", "2NN yy"]
        mask = f["template/mask"][()]
        assert mask.any()
        assert not mask.all()
        assert np.all(spectra[:, mask] == 0)
        assert np.all(spectra[:, ~mask] >= 0)
        assert f.attrs["config_hash"] == tiny().config_hash()
        assert f.attrs["code_version"]
        assert f.attrs["date"]
        assert f.attrs["seed"] == "[7, 0]"
        assert f.attrs["attempts"] == 4 + f.attrs["rejected_unstable"]
        assert np.all((f["convergence"][()] > 0) & (f["convergence"][()] < 1))
    with h5py.File(shard_path(reference, 2), "r") as f:
        assert f["spectra"].shape[0] == 2  # 10 = 4 + 4 + 2
    # parameters inside the box of factors around the reference (signs kept)
    params = np.concatenate([read(reference)[f"shard_0000{i}.h5", "parameters"]
                             for i in range(3)])
    ratio = params / params[0]
    assert len(np.unique(params[:, 0])) == 10
    assert np.all(ratio > 1 / 3)
    assert np.all(ratio < 3)


def test_rerun_reproduces_and_changes_nothing(reference, tmp_path):
    generate(tiny(), tmp_path, scheduler=None)
    assert_same(read(reference), read(tmp_path))
    again = generate(tiny(), tmp_path, scheduler=None)
    assert (again.written, again.kept, again.shards_kept) == (0, 10, 3)


def test_other_seed_other_data(reference, tmp_path):
    generate(tiny(seed=8), tmp_path, scheduler=None)
    a, b = read(reference), read(tmp_path)
    assert not np.array_equal(a["shard_00000.h5", "parameters"], b["shard_00000.h5", "parameters"])


def test_resume_after_lost_and_partial_shards(reference, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(reference, folder)
    shard_path(folder, 1).unlink()  # killed before shard 1 was written
    data = shard_path(folder, 2).read_bytes()
    shard_path(folder, 2).write_bytes(data[: len(data) // 2])  # a truncated file
    (folder / ".shard_00001.h5.999.part").write_bytes(b"junk")  # a dead run's temp file
    summary = generate(tiny(), folder, scheduler=None)
    assert (summary.shards_written, summary.shards_kept, summary.written) == (2, 1, 6)
    assert_same(read(reference), read(folder))
    assert not list(folder.glob(".*.part"))


def test_dask_local_cluster_equals_single_process(reference, tmp_path):
    summary = generate(tiny(), tmp_path, scheduler="local", n_workers=2)
    assert summary.shards_written == 3
    assert_same(read(reference), read(tmp_path))


def test_chi_is_s_times_detailed_balance(reference, tmp_path):
    """chi''(Q, E) = S(Q, E) (1 - exp(-E / kT)), written out here with CODATA's k_B (float32)."""
    generate(tiny(output="PowderChi", n_spectra=4), tmp_path, scheduler=None)
    k_b = 8.617333262e-2  # meV/K, CODATA 2018
    with h5py.File(shard_path(tmp_path, 0), "r") as f, \
            h5py.File(shard_path(reference, 0), "r") as g:
        edges = g["template/e_edges"][()]
        centres = 0.5 * (edges[1:] + edges[:-1])
        factor = 1 - np.exp(-centres / (k_b * 300.0))
        np.testing.assert_allclose(f["spectra"][()], g["spectra"][()] * factor, rtol=1e-6,
                                   atol=1e-12)
        assert np.all(factor[:4] < 0)
        assert np.all(factor[5:] > 0)


def test_poisson_noise_mean_and_variance():
    import torch

    from inslib.datagen.noise import noise_grid, poisson_noise

    clean = torch.tensor([[1.0, 2.0, 4.0, 0.0, 3.0]], dtype=torch.float64).expand(40000, 5)
    mask = torch.tensor([False, False, False, False, True])
    counts, background = 700.0, 0.5  # 100 counts per unit; background 50 counts per bin
    gen = torch.Generator().manual_seed(3)
    noisy = poisson_noise(clean, counts, background, gen, mask)
    per_count = 7.0 / counts
    mean = torch.tensor([1.0, 2.0, 4.0, 0.0]) + background * 7.0 / 4
    # Poisson: variance = mean (in counts); 40000 draws: mean within 0.5 %, variance 3 %
    np.testing.assert_allclose(noisy[:, :4].mean(0), mean, rtol=5e-3)
    np.testing.assert_allclose(noisy[:, :4].var(0), mean * per_count, rtol=3e-2)
    assert torch.all(noisy[:, 4] == 0)  # masked bins stay empty
    again = poisson_noise(clean, counts, background, torch.Generator().manual_seed(3), mask)
    assert torch.equal(noisy, again)
    assert noise_grid([0, 0.1, 0.2, 0.3, 0.4], [1e3, 1e4, 1e5, 1e6, 1e7]).shape == (25, 2)


@pytest.mark.parametrize(("changes", "message"), [
    ({"box_per_parameter": {"1NN yy": (0.5, 1.5)}}, r"box_per_parameter='1NN yy'.*valid"),
    ({"box": (-0.5, 1.5)}, r"box=\(-0.5, 1.5\).*positive"),
    ({"box": (1.5, 0.5)}, r"box=\(1.5, 0.5\).*lower >= upper"),
    ({"box_per_parameter": {"1NN xx": (0.0, 1.0)}}, r"box_per_parameter\['1NN xx'\]"),
    ({"output": "Phonons"}, r"output='Phonons'.*PowderSQE"),
    ({"template": TemplateSpec("ARCS")}, r"template.ei=None"),
    ({"n_spectra": 0}, r"n_spectra=0.*positive integer"),
    ({"force_constants": "missing.yaml"}, r"force_constants='missing.yaml'.*existing file"),
])
def test_config_errors_name_property_value_and_fix(changes, message):
    with pytest.raises(DatagenConfigError, match=message):
        tiny(**changes)


def test_template_without_mask_is_refused(tmp_path):
    from inslib.instruments.templates import create_sqe_template
    from inslib.io.files import save_workspace
    from inslib.simulation.requests import TemplateRequest

    hist = create_sqe_template(TemplateRequest("ARCS", 50.0, q_binning="1,0.5,5",
                                               e_binning="-8,2,40"))
    unmasked = replace(hist, mask=np.zeros_like(hist.mask), signal=np.zeros(hist.mask.shape))
    path = save_workspace(unmasked, tmp_path / "nomask.nxs")
    with pytest.raises(DatagenConfigError, match=r"template.workspace=.*no usable mask"):
        tiny(template=TemplateSpec(workspace=str(path)))


def test_folder_of_another_configuration_is_refused(reference, tmp_path):
    folder = tmp_path / "other"
    shutil.copytree(reference, folder)
    with pytest.raises(DatagenConfigError, match=r"output=.*another configuration"):
        generate(tiny(seed=9), folder, scheduler=None)
    (folder / "manifest.json").unlink()  # the shards alone give it away too
    with pytest.raises(DatagenConfigError, match=r"another configuration"):
        generate(tiny(seed=9), folder, scheduler=None)


def test_cli_writes_and_resumes(reference, tmp_path, capsys):
    import argparse

    from inslib.datagen import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["datagen", "--config", str(reference / "manifest.json"),
                              "--output", str(tmp_path), "--scheduler", "none"])
    assert args.func(args) == 0
    assert_same(read(reference), read(tmp_path))
    assert "10 spectra written in 3 shards" in capsys.readouterr().out
    bad = parser.parse_args(["datagen", "--force-constants", AL, "-n", "4", "--instrument",
                             "ARCS", "--ei", "50", "--box", "0", "1", "--output", str(tmp_path)])
    assert bad.func(bad) == 2
    assert "box=(0.0, 1.0)" in capsys.readouterr().err


def test_qpath_maps_equal_the_simulation_of_the_same_force_constants(tmp_path):
    """A QPath shard's spectrum is SimulateSingleCrystalSQE's path map for its parameters.

    The engine and the algorithm share path_forward (same sample points, resolution, mesh):
    float32 storage leaves 1e-6 relative.
    """
    import torch

    from inslib.datagen.engine import build_engine
    from inslib.simulation.single_crystal import path_forward

    config = tiny(output="QPath", n_spectra=3, shard_size=3, noise=NoiseSpec(),
                  template=TemplateSpec(path="G-X-W", path_step=0.1, samples=2, fwhm=2.0,
                                        e_binning="0,1,40"))
    generate(config, tmp_path, scheduler=None)
    with h5py.File(shard_path(tmp_path, 0), "r") as f:
        spectra, params = f["spectra"][()], f["parameters"][()]
        labels = [label.decode() for label in f["template/tick_labels"][()]]
    engine = build_engine(config)
    forward, _, ticks = path_forward(engine.model, path_request(config), 2.0,
                                     engine.thermal)
    with torch.no_grad():
        expected = forward(engine.basis.to_force_constants(params)).numpy()
    assert spectra.shape == (3, *engine.shape)
    assert labels == [label for _, label in ticks]
    np.testing.assert_allclose(spectra, expected, rtol=1e-6, atol=1e-6 * expected.max())
    assert spectra.max() > 0


def test_qpath_needs_a_known_path():
    with pytest.raises(DatagenConfigError, match=r"QPath='G-Q': unknown label"):
        tiny(output="QPath", template=TemplateSpec(path="G-Q", fwhm=1.0))
    with pytest.raises(DatagenConfigError, match=r"template.path=''"):
        tiny(output="QPath", template=TemplateSpec(fwhm=1.0))
