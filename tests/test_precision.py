"""--precision bf16 (diffrec_core/precision.py): the DiffRec family trains and scores under bfloat16 autocast.

Tolerances come from bfloat16's 8 significant bits: unit roundoff u = 2^-8 (a rounded value is within u of the
exact one, relatively).
"""
import numpy as np
import pytest
import torch

from diffrec_core import precision
from diffrec_core.__main__ import main
from diffrec_core.methods.base import ConfigError
from diffrec_core.pipeline import build_model
from diffrec_core.train import fit
from toy import toy_split

U = 2.0 ** -8                     # bfloat16 unit roundoff (8-bit significand)
FAMILY = ("diffrec", "tdiffrec", "ldiffrec")
SHORT = {"epochs": 5, "eval_every": 5, "batch_size": 20}


_FITS = {}


@pytest.fixture(scope="module")
def split():
    return toy_split()


def _fit(name, split, prec):
    """A short fit on the toy (about 2 s of CPU each), kept for the module: the tests below share them."""
    if (name, prec) not in _FITS:
        model = build_model(name, split, preset="sample", overrides=SHORT, device=torch.device("cpu"), seed=1)
        _FITS[name, prec] = model, fit(model, split, seed=1, precision=prec)
    return _FITS[name, prec]


def test_supported_methods_are_the_diffrec_family():
    assert set(FAMILY) <= set(precision.supported_methods())


@pytest.mark.parametrize("name", ["diffrec", *(pytest.param(n, marks=pytest.mark.slow) for n in FAMILY[1:])])
def test_bf16_trains_close_to_fp32_and_scores_are_finite(name, split):
    """Training under bf16 follows another path: every step's products differ from fp32's by up to about u
    relative, and over the epochs those differences compound like a change of seed. Scoring adds its own
    rounding (below). Tolerance on validation Recall@20: 12.8u = 0.05 absolute, about a tenth of fp32's value
    on this toy (about 0.5), and well below the distance to an untrained model (a random ranking of the
    about 50 unseen items puts 20 in the top 20: recall about 0.4), so a broken bf16 path fails it."""
    _, r32 = _fit(name, split, "fp32")
    model, r16 = _fit(name, split, "bf16")
    assert r16.history and np.isfinite([h["loss"] for h in r16.history]).all()
    assert abs(r16.valid["recall@20"] - r32.valid["recall@20"]) <= 12.8 * U
    with precision.autocast("bf16", "cpu"):
        s = model.score(split, np.arange(split.n_users), "valid")
    assert torch.isfinite(s.float()).all()


@pytest.mark.parametrize("name", ("diffrec", pytest.param("ldiffrec", marks=pytest.mark.slow)))
def test_bf16_scoring_error_is_of_the_order_of_its_roundoff(name, split):
    """The same weights scored in fp32 and under bf16: each product rounds its inputs and its output to 8 bits
    (about 3u relative to the row's scale per layer) and the errors of the layers and the reverse steps add
    mostly in quadrature (observed: about 2.5u of the row's largest score). Bound: 8u of that largest score.
    The scores must also differ somewhere - else autocast did not run."""
    model, _ = _fit(name, split, "fp32")
    users = np.arange(split.n_users)
    s32 = model.score(split, users, "valid")
    with precision.autocast("bf16", "cpu"):
        s16 = model.score(split, users, "valid").float()
    scale = s32.abs().max(1, keepdim=True).values
    assert ((s16 - s32).abs() <= 8 * U * scale).all()
    assert (s16 != s32).any()


def test_fp32_is_the_default_path(split):
    """precision='fp32' is the code path without autocast: the same computation, the same numbers."""
    m1 = build_model("diffrec", split, preset="sample", overrides=SHORT, device=torch.device("cpu"), seed=1)
    a, (_, b) = fit(m1, split, seed=1), _fit("diffrec", split, "fp32")
    assert a.valid == b.valid and a.test == b.test
    assert not isinstance(precision.autocast("fp32", "cpu"), torch.autocast)
    assert isinstance(precision.autocast("bf16", "cpu"), torch.autocast)


def test_other_methods_refuse_bf16(split):
    model = build_model("ease", split, preset="sample", device=torch.device("cpu"), seed=1)
    with pytest.raises(ConfigError, match="ease does not support bf16"):
        fit(model, split, precision="bf16")


@pytest.mark.parametrize("cmd", (["train", "--method", "diffrec"], ["evaluate", "--checkpoint", "nowhere"]))
def test_unknown_precision_is_one_line_and_exit_2(cmd, capsys):
    rc = main([*cmd, "--precision", "fp8"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: --precision must be one of fp32, bf16")


def test_cli_refuses_bf16_for_other_methods(capsys):
    rc = main(["train", "--method", "ease", "--precision", "bf16"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "ease does not support bf16" in err
