"""DreamRec against the authors' own numbers (tests/golden/README.md, dreamrec_sample.npz): their ``Tenc`` weights load into ours
with ``strict=True`` under the same parameter names, and the guided ancestral sampler, fed their x_T and step
noises, reproduces every recorded intermediate within the README's tolerances."""
import numpy as np
import pytest
import torch

from diffrec_core.diffusion import GaussianDiffusion, ScheduleConfig
from diffrec_core.methods.dreamrec import Tenc

from tolerances import f32_schedule_tol


@pytest.fixture(scope="module")
def gold():
    from conftest import GOLDEN
    return dict(np.load(GOLDEN / "dreamrec_sample.npz"))


@pytest.fixture(scope="module")
def tenc(gold):
    m = Tenc(hidden=64, item_num=30, state_size=10, dropout=0.1, diffuser="mlp1", heads=1, dead_params=True)
    sd = {k[len("param__"):]: torch.from_numpy(v) for k, v in gold.items() if k.startswith("param__")}
    m.load_state_dict(sd, strict=True)   # the authors' state_dict names, every one of them
    return m.eval()


def test_state_dict_names_are_the_authors(gold, tenc):
    ours = {k: tuple(v.shape) for k, v in tenc.state_dict().items()}
    theirs = {k[len("param__"):]: v.shape for k, v in gold.items() if k.startswith("param__")}
    assert ours == theirs


def test_time_embedding_and_step_mlp(gold, tenc):
    t = torch.from_numpy(gold["sinusoidal_t"])
    with torch.no_grad():
        np.testing.assert_allclose(tenc.step_mlp[0](t).numpy(), gold["sinusoidal_emb"], atol=1e-5)
        np.testing.assert_allclose(tenc.step_mlp(t).numpy(), gold["step_mlp_out"], atol=1e-5)


def test_guided_sampling_reproduces_the_authors(gold, tenc):
    states, len_seq = torch.from_numpy(gold["states"]), torch.from_numpy(gold["len_seq"])
    w = float(gold["w"])
    diff = GaussianDiffusion(ScheduleConfig("dreamrec_linear", 50, beta1_fix=None), mean_type="x0", reweight=False,
                             t_sampler="uniform")
    np.testing.assert_allclose(diff.betas.numpy(), gold["betas"], **f32_schedule_tol(50))
    with torch.no_grad():
        h = tenc.cacu_h(states, len_seq)
        np.testing.assert_allclose(h.numpy(), gold["h"], atol=1e-5)

        xT = torch.from_numpy(gold["noise_xT"])
        k49 = torch.full((3,), 49, dtype=torch.long)
        np.testing.assert_allclose(tenc(xT, h, k49).numpy(), gold["cond_first"], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(tenc.forward_uncon(xT, k49).numpy(), gold["uncond_first"], atol=1e-5, rtol=1e-5)

        run = diff.sample_ancestral(lambda x, k: tenc.guided(x, h, k, w), (3, 64), variance="small", record=True,
                                    x_T=xT, noises=list(torch.from_numpy(gold["step_noises"])))
    assert run.steps == list(gold["timesteps"])
    np.testing.assert_allclose(run.x0_hats.numpy(), gold["x0_guided"], atol=1e-5, rtol=1e-5)
    # states[i] is the x fed to step i = the output of step i-1; the last output is the returned sample
    np.testing.assert_allclose(run.states[1:].numpy(), gold["x_t"][:-1], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(run.final.numpy(), gold["x_t"][-1], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(run.final.numpy(), gold["x0_final"], atol=1e-5, rtol=1e-5)
    scores = run.final @ tenc.item_embeddings.weight.detach().T   # all 31 rows, padding (30) included
    np.testing.assert_allclose(scores.numpy(), gold["scores"], atol=1e-4)
