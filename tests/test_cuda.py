"""The core on a CUDA GPU: the method contract of ``test_contract.py`` for every registered method, and the
same weights giving the same scores on the GPU as on the CPU.

Skipped where PyTorch sees no GPU (CI has none). Run on a GPU machine with
``python -m pytest tests/test_cuda.py`` (or ``bash benchmarks/gpu_check.sh``; benchmarks/README.md has the last run).

Why the CPU-vs-GPU check: every random draw of the core comes from a CPU generator and is then moved
(``diffusion/rng.py``), so a seed gives the same noise on any device and a lecturer's GPU run shows the same
trajectory as a student's laptop, up to float rounding of the kernels (TF32 stays off: PyTorch's default).
"""
import os

import numpy as np
import pytest
import torch

from diffrec_core import registry
from diffrec_core.diffusion import GaussianDiffusion, ScheduleConfig
from diffrec_core.train import fit

import test_contract as tc
import test_contract_sequential as tcs
from toy import check_contract

# DIFFREC_TEST_DEVICE=cpu runs the same checks CPU-against-CPU (a check of the tests themselves)
CUDA = os.environ.get("DIFFREC_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(CUDA.startswith("cuda") and not torch.cuda.is_available(),
                                reason="no CUDA GPU (CI has none)")
USERS = np.array([0, 3, 7])


@pytest.mark.parametrize("name", tc.INTERACTION_METHODS)
def test_interaction_contract_on_cuda(name, tmp_path):
    check_contract(name, lambda: tc._fresh(name), tc.SPLIT, tmp_path, device=CUDA)


@pytest.mark.parametrize("name", tcs.SEQUENCE_METHODS)
def test_sequence_contract_on_cuda(name, tmp_path):
    check_contract(name, lambda: tcs._fresh(name), tcs.SPLIT, tmp_path, device=CUDA)


def _scores(model, split, seed=5):
    torch.manual_seed(seed)
    return model.score(split, USERS, "valid").detach().cpu()


@pytest.mark.parametrize("name", tc.INTERACTION_METHODS + tcs.SEQUENCE_METHODS)
def test_same_weights_same_scores_on_cpu_and_cuda(name):
    seq = name in tcs.SEQUENCE_METHODS
    split, fresh = (tcs.SPLIT, tcs._fresh) if seq else (tc.SPLIT, tc._fresh)
    m = fresh(name)
    fit(m, split, seed=3, evaluate_test=False)
    on_cpu = _scores(m, split)
    m.to(CUDA)
    m.attach(split)
    on_gpu = _scores(m, split)
    assert on_gpu.shape == on_cpu.shape and torch.isfinite(on_gpu).all()
    fin = torch.isfinite(on_cpu)
    assert torch.equal(fin, torch.isfinite(on_gpu))          # the same items masked
    np.testing.assert_allclose(on_gpu[fin].numpy(), on_cpu[fin].numpy(), rtol=1e-3, atol=1e-4)


def test_gaussian_samplers_agree_across_devices():
    """q_sample, the training loss and DiffRec-style inference with sampling noise: same draws, same numbers."""
    from diffrec_core.methods.dnn import DNN, mirrored_dims

    cfg = ScheduleConfig("linear_var", 20, 0.1, 1e-4, 0.02, 1e-5)
    x0 = (torch.rand(6, 40, generator=torch.Generator().manual_seed(1)) > 0.7).float()
    torch.manual_seed(0)
    net = DNN(*mirrored_dims(40, [16]), emb_size=10).eval()
    out = {}
    for dev in ("cpu", CUDA):
        d = GaussianDiffusion(cfg, history_len=4).to(dev)
        n = net.to(dev)
        g = torch.Generator().manual_seed(3)
        xk = d.q_sample(x0.to(dev), 7, generator=g)
        loss = d.training_loss(n, x0.to(dev), generator=g, update_history=False)["loss"]
        run = d.denoise_from(n, x0.to(dev), T_prime=5, sampling_noise=True, generator=g)
        out[dev] = [t.detach().cpu() for t in (xk, loss, run.final)]
    for a, b in zip(out["cpu"], out[CUDA]):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_registry_methods_all_covered():
    """Every registered method is either an interaction or a sequence method here (none silently skipped)."""
    covered = set(tc.INTERACTION_METHODS) | set(tcs.SEQUENCE_METHODS)
    skipped = {s.name for s in registry.specs()} - covered
    assert all("interactions" not in s.needs and "sequences" not in s.needs
               for s in registry.specs() if s.name in skipped)


def test_large_draws_are_made_on_the_gpu_and_repeat_small_ones_equal_the_cpu_stream():
    from diffrec_core.diffusion import rng

    def big(seed):
        return rng.draw((600, 500), "normal", torch.Generator().manual_seed(seed), device=CUDA)
    a = big(4)
    assert a.device.type == torch.device(CUDA).type and torch.equal(a, big(4)) and not torch.equal(a, big(5))
    assert abs(float(a.mean())) < 0.01 and abs(float(a.std()) - 1) < 0.01
    small = rng.draw((30, 40), "uniform", torch.Generator().manual_seed(4), device=CUDA)
    assert torch.equal(small.cpu(), torch.rand((30, 40), generator=torch.Generator().manual_seed(4)))
