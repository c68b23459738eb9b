"""Every schedule against the arrays the authors' own code produced (tests/golden/schedules.npz)."""
import json

import numpy as np
import pytest
import torch

from diffrec_core.diffusion import GaussianDiffusion, ScheduleConfig, make_betas, schedule_arrays

from conftest import GOLDEN
from tolerances import f32_schedule_tol

# golden config name -> our ScheduleConfig
CONFIGS = {
    "diffrec_ml1m": ScheduleConfig("linear_var", 40, 5e-3, 5e-3, 1e-2, 1e-5),
    "diffrec_amazon": ScheduleConfig("linear_var", 5, 1e-4, 5e-4, 5e-3, 1e-5),
    "diffrec_default": ScheduleConfig("linear_var", 100, 0.1, 1e-4, 0.02, 1e-5),
    "diffrec_linear": ScheduleConfig("linear_scaled", 10, 0.1, 1e-4, 0.02, 1e-5),
    "diffrec_cosine": ScheduleConfig("cosine", 10, 0.1, 1e-4, 0.02, 1e-5),
    "diffrec_binomial": ScheduleConfig("binomial", 10, 0.1, 1e-4, 0.02, 1e-5),
    "ldiffrec_ml1m": ScheduleConfig("linear_var", 40, 5e-3, 5e-3, 2e-2, None),
    "diffkg_default": ScheduleConfig("linear_var", 5, 0.1, 1e-4, 0.02, 1e-4),
    "diffurec_trunc_lin_32": ScheduleConfig("trunc_lin", 32, beta1_fix=None),
    "dreamrec_linear_500": ScheduleConfig("dreamrec_linear", 500, beta1_fix=None),
    "dreamrec_exp_500": ScheduleConfig("dreamrec_exp", 500, beta1_fix=None),
    "dreamrec_cosine_2000": ScheduleConfig("dreamrec_cosine", 2000, beta1_fix=None),
    "dreamrec_linear_50": ScheduleConfig("dreamrec_linear", 50, beta1_fix=None),
}


def _golden():
    return np.load(GOLDEN / "schedules.npz"), json.load(open(GOLDEN / "schedules.json"))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_schedule_golden(name):
    arrays, meta = _golden()
    assert name in meta, f"golden config {name} missing"
    ours = schedule_arrays(make_betas(CONFIGS[name]))
    keys = [k.split("__", 1)[1] for k in arrays.files if k.startswith(name + "__")]
    assert "betas" in keys and len(keys) >= 8
    ref_dtype = arrays[f"{name}__betas"].dtype
    # float64 (DiffRec, L-DiffRec, DiffKG, DiffuRec) agrees to ~1e-12; float32 (DreamRec) within the rounding of
    # 1 - exp(-x) and of a T-factor cumulative product, which differs by an ULP between exp implementations
    tol = dict(rtol=1e-6, atol=1e-12) if ref_dtype == np.float64 else f32_schedule_tol(CONFIGS[name].T)
    for key in keys:
        ref = arrays[f"{name}__{key}"]
        if key == "betas_before_fix":
            cfg = CONFIGS[name]
            mine = make_betas(ScheduleConfig(cfg.name, cfg.T, cfg.scale, cfg.a_min, cfg.a_max, None)).numpy()
        elif key == "model_log_variance":
            mine = ours["log_variance_large"].numpy()
        else:
            mine = ours[key].numpy()
        assert mine.dtype == ref.dtype, (key, mine.dtype, ref.dtype)
        np.testing.assert_allclose(mine, ref, **tol, err_msg=f"{name}.{key}")
        assert np.all(mine[ref == 0] == 0), f"{name}.{key}: exact zeros must stay zero"


def test_golden_covers_every_config():
    _, meta = _golden()
    assert set(k for k in meta if not k.startswith("_")) == set(CONFIGS)


@pytest.mark.parametrize("cfg", list(CONFIGS.values()) + [ScheduleConfig("ddpm_linear_rescaled", 50, beta1_fix=None)],
                         ids=lambda c: f"{c.name}-{c.T}")
def test_schedule_limits(cfg):
    """abar strictly decreasing in (0, 1); q_sample at k = 0 is close to x0; posterior identities hold."""
    d = GaussianDiffusion(cfg)
    ac = d.alphas_cumprod.double()
    assert torch.all(ac > 0) and torch.all(ac < 1)
    assert torch.all(ac[1:] < ac[:-1])
    x0 = torch.rand(3, 20)
    x = d.q_sample(x0, 0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x, x0, atol=6 * float(d.noise_std[0]) + 1e-6)
    # posterior at k = 0 returns x0_hat exactly: c1 = 1, c2 = 0, variance 0
    f32 = d.betas.dtype == torch.float32  # DreamRec's float32 rounding of 1 - abar_0 shows here
    assert float(d.posterior_mean_coef1[0]) == pytest.approx(1.0, abs=1e-3 if f32 else 1e-9)
    assert float(d.posterior_mean_coef2[0]) == 0.0 and float(d.posterior_variance[0]) == 0.0
    # c1 sqrt(abar) + c2 sqrt(abar_k)/sqrt(alpha)... : the posterior mean of a noiseless x_k = sqrt(abar) x0 is
    # sqrt(abar_{k-1}) x0, i.e. c1 + c2 sqrt(abar_k) = sqrt(abar_{k-1})
    lhs = d.posterior_mean_coef1.double() + d.posterior_mean_coef2.double() * torch.sqrt(ac)
    tol = 1e-3 if f32 else 1e-9
    assert torch.allclose(lhs, torch.sqrt(d.alphas_cumprod_prev.double()), rtol=tol, atol=tol)


def test_trunc_lin_small_T_quirk():
    """For T <= 20 DiffuRec's trunc_lin replaces the end value, and abar_T stays far from 0 (docs/methods.md §1.2)."""
    ac = schedule_arrays(make_betas(ScheduleConfig("trunc_lin", 10, beta1_fix=None)))["alphas_cumprod"]
    assert float(ac[-1]) == pytest.approx(0.51, abs=0.01)


def test_bad_schedules_are_clear_errors():
    with pytest.raises(ValueError, match="noise_min < noise_max"):
        GaussianDiffusion(ScheduleConfig("linear_var", 10, 0.1, 0.02, 0.01))
    with pytest.raises(ValueError, match="unknown schedule"):
        GaussianDiffusion(ScheduleConfig("nope", 10))
    with pytest.raises(ValueError, match="T must be"):
        GaussianDiffusion(ScheduleConfig("linear_var", 0))
