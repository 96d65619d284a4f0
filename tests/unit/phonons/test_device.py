"""Where the forward model runs: device choice, and every tensor on the chosen device.

No GPU is lent to this machine. torch's "meta" device stands in for one: it has no data but
follows the same rule as CUDA, so an operation that mixes a tensor created on the CPU (other
than a 0-d scalar) with one on the model's device raises, as it would on a GPU. The model is
set up on the CPU (its Ewald sums need data) and then moved with ``PhononModel.to``; every
torch step up to the CPU histograms is run on "meta" below. Numbers on a real GPU have not been
checked here.
"""

import numpy as np
import pytest
import torch

from inslib.phonons.force_constants import load_force_constants
from inslib.phonons.model import PhononModel, path_gamma_directions, resolve_device
from inslib.runtime.host import InvalidArgumentsError, run_algorithm
from inslib.scattering.coherent import coherent_structure_factor
from inslib.scattering.thermal import debye_waller

Q = np.array([[0.0, 0.0, 0.0], [0.1, 0.2, 0.3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])


@pytest.fixture(scope="module", params=["quartz", "Al"])
def fc_file(request, shared):
    if request.param == "quartz":  # Born charges: Ewald sums and LO-TO corrections at Gamma
        return (shared / "reference_outputs" / "euphonic" / "force_constants"
                / "quartz_force_constants.json")
    return shared / "force_constants" / "phonopy_example_Al_ABACUS" / "phonopy.yaml"


def _all_on(device, *tensors):
    return all(t.device.type == device for t in tensors)


def test_every_torch_step_stays_on_the_model_device(fc_file):
    model = PhononModel(load_force_constants(fc_file), device="meta")
    tensors = [v for owner in (model, model.dipole) if owner is not None
               for v in vars(owner).values() if isinstance(v, torch.Tensor)]
    assert _all_on("meta", *tensors)
    modes = model.modes(Q, gamma_directions=path_gamma_directions(Q))
    n_modes = 3 * model.n_atoms
    assert modes.frequencies.shape == (1, len(Q), n_modes)
    dw = debye_waller(model, 300.0, (2, 2, 2))  # symmetrised over the space group
    sf = coherent_structure_factor(model, modes, dw)
    assert _all_on("meta", modes.q, modes.frequencies, modes.eigenvectors, dw, sf)
    # batched force-constant sets and their gradient
    sets = model.fc[None].repeat(2, 1, 1, 1).clone().requires_grad_()
    freqs = model.modes(Q[1:], sets).frequencies
    freqs.sum().backward()
    assert freqs.shape == (2, len(Q) - 1, n_modes)
    assert _all_on("meta", freqs, sets.grad)


def test_a_cpu_tensor_on_another_device_is_caught():
    """The check above can fail: mixing devices on "meta" raises as on a GPU."""
    with pytest.raises(RuntimeError, match="device"):
        _ = torch.ones(3, device="meta") + torch.ones(3)


def test_device_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("Auto") == "cpu"
    assert resolve_device("CPU") == "cpu"
    with pytest.raises(ValueError, match=r"Device: GPU asked for.*use Auto or CPU"):
        resolve_device("GPU")
    with pytest.raises(ValueError, match="'TPU' is not one of Auto, CPU, GPU"):
        resolve_device("TPU")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("Auto") == "cuda"
    assert resolve_device("GPU") == "cuda"
    assert resolve_device("CPU") == "cpu"


def test_algorithm_names_the_device_property_and_logs_the_device(shared, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    base = {"ForceConstantsFile": str(shared / "force_constants" / "phonopy_example_Al_ABACUS"
                                      / "phonopy.yaml"),
            "Instrument": "ARCS", "Ei": "80", "Temperature": "300", "QBinning": "0,0.5,8",
            "EBinning": "-10,2,60", "MeshSize": "6", "DirectionsPerShell": "20",
            "OutputWorkspace": "s"}
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("SimulatePowderSQE", Device="GPU", **base)
    assert "sees no CUDA GPU" in info.value.errors["Device"]
    out = run_algorithm("SimulatePowderSQE", **base)["OutputWorkspace"]
    assert out.metadata.logs["Device"].value == "cpu"
