"""DiffRec's network, loss and reverse sampler against numbers computed with the authors' own code
(tests/golden: diffrec_dnn.npz, diffrec_loss.npz, diffrec_psample.npz)."""
import numpy as np
import pytest
import torch

from diffrec_core.diffusion import GaussianDiffusion, ScheduleConfig, sinusoid_cos_first
from diffrec_core.methods.dnn import DNN

from conftest import GOLDEN

ML1M = ScheduleConfig("linear_var", 40, 5e-3, 5e-3, 1e-2, 1e-5)


def _dnn():
    z = np.load(GOLDEN / "diffrec_dnn.npz")
    in_dims, out_dims = z["in_dims"].tolist(), z["out_dims"].tolist()
    net = DNN(in_dims, out_dims, emb_size=10, norm=False, dropout=0.5)
    state = {k[len("param__"):]: torch.from_numpy(z[k]) for k in z.files if k.startswith("param__")}
    net.load_state_dict(state, strict=True)  # the authors' parameter names load unchanged
    return net.eval(), z


def test_dnn_forward_golden():
    net, z = _dnn()
    t = torch.from_numpy(z["t"])
    np.testing.assert_allclose(sinusoid_cos_first(t, 10).numpy(), z["timestep_embedding"], rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(net.time_embedding(t).numpy(), z["emb_layer_out"], rtol=1e-5, atol=1e-6)
        out = net(torch.from_numpy(z["x"]), t).numpy()
    np.testing.assert_allclose(out, z["output"], rtol=1e-5, atol=1e-6)


def test_training_loss_golden():
    net, _ = _dnn()
    z = np.load(GOLDEN / "diffrec_loss.npz")
    d = GaussianDiffusion(ML1M, mean_type="x0", reweight=True)
    ts = torch.from_numpy(z["ts"])
    with torch.no_grad():
        out = d.training_loss(net, torch.from_numpy(z["x_start"]), k=ts, noise=torch.from_numpy(z["noise"]))
    np.testing.assert_allclose(out["x_k"].numpy(), z["x_t"], atol=1e-6)
    np.testing.assert_allclose(out["x0_hat"].numpy(), z["model_output"], atol=1e-6)
    np.testing.assert_allclose(out["mse"].numpy(), z["mse"], rtol=1e-5)
    np.testing.assert_allclose(d.snr[ts].numpy(), z["snr_t"], rtol=1e-9)
    assert out["weight"].dtype == torch.float64
    np.testing.assert_allclose(out["weight"].numpy(), z["weight"], rtol=1e-9)
    np.testing.assert_allclose(out["weighted"].numpy(), z["loss"], rtol=1e-5)
    np.testing.assert_allclose(out["weighted"].numpy(), z["loss_training_losses"], rtol=1e-5)


@pytest.mark.parametrize("prefix,T_prime", [("s0", 0), ("s10", 10)])
def test_denoise_from_golden(prefix, T_prime):
    net, _ = _dnn()
    z = np.load(GOLDEN / "diffrec_psample.npz")
    d = GaussianDiffusion(ML1M)
    noise = torch.from_numpy(z["s10__q_noise"]) if T_prime else None
    run = d.denoise_from(net, torch.from_numpy(z["x_start"]), T_prime=T_prime, record=True, noise=noise)
    assert run.steps == z[f"{prefix}__timesteps"].tolist()  # always all 40 steps, even when T' = 10
    np.testing.assert_allclose(run.states.numpy(), z[f"{prefix}__x_t"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run.x0_hats.numpy(), z[f"{prefix}__pred_xstart"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run.final.numpy(), z[f"{prefix}__output"], rtol=1e-5, atol=1e-5)
    # the last reverse step returns exactly the network's x0_hat (c1 = 1, c2 = 0)
    assert torch.equal(run.final, run.x0_hats[-1])
    # the fused fast path (no recording: posterior mean folded into the last layer) gives the same output
    fast = d.denoise_from(net, torch.from_numpy(z["x_start"]), T_prime=T_prime, record=False, noise=noise)
    np.testing.assert_allclose(fast.final.numpy(), z[f"{prefix}__output"], rtol=1e-5, atol=1e-5)
    assert fast.steps == run.steps
