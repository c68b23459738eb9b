"""DreamRec against the authors' own numbers (tests/golden/README.md, dreamrec_sample.npz): their ``Tenc`` weights
load into ours with ``strict=True`` under the same parameter names, the history encoder gives their h, and the
guided ancestral sampler, fed their h, x_T and step noises, reproduces every recorded intermediate within the
README's tolerances."""
import numpy as np
import pytest
import torch

from diffrec_core.diffusion import GaussianDiffusion, ScheduleConfig
from diffrec_core.methods.dreamrec import NEG, Tenc

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
    w = float(gold["w"])
    diff = GaussianDiffusion(ScheduleConfig("dreamrec_linear", 50, beta1_fix=None), mean_type="x0", reweight=False,
                             t_sampler="uniform")
    np.testing.assert_allclose(diff.betas.numpy(), gold["betas"], **f32_schedule_tol(50))
    h = torch.from_numpy(gold["h"])          # the encoder is checked on its own below
    with torch.no_grad():
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


def test_history_encoder_gives_the_authors_h_up_to_their_rounding_dependent_query_mask(gold, tenc):
    """The authors mask a query after the softmax where ``queries.sum(-1) == 0``, and the queries are a LayerNorm
    output: with unit weight and zero bias (a freshly built model, as here) that sum is zero up to rounding, so
    whether a real position is masked depends on the last bit of a 64-term float32 sum, which differs between
    CPUs and kernels. h reads one position per row, so each row has two possible readings: the query there kept
    (softmax-weighted values + residual) or masked (residual only). Every row of the authors' h must equal one of
    the two, computed with our modules; anything else in the encoder shows as a difference of order 1."""
    states, len_seq = torch.from_numpy(gold["states"]), torch.from_numpy(gold["len_seq"])
    with torch.no_grad():
        ours = tenc.cacu_h(states, len_seq).numpy()
        x = tenc.item_embeddings(states) + tenc.positional_embeddings.weight[:states.shape[1]][None]
        seq = x * (states != tenc.item_num).to(x.dtype).unsqueeze(-1)
        q = tenc.ln_1(seq)
        att = tenc.mh_attn
        s = att.linear_q(q) @ att.linear_k(seq).transpose(-2, -1) / att.hidden ** 0.5
        n = states.shape[1]
        ok = (seq.sum(-1) != 0)[:, None, :] & torch.ones(n, n, dtype=torch.bool).tril()
        kept = torch.softmax(torch.where(ok, s, torch.full_like(s, NEG)), -1) @ att.linear_v(seq) + q
        readings = [tenc.ln_3(tenc.feed_forward(tenc.ln_2(a)))[torch.arange(len(states)), len_seq - 1].numpy()
                    for a in (kept, q)]
    for b in range(len(states)):
        close = [np.allclose(r[b], gold["h"][b], atol=1e-5) for r in readings]
        assert any(close), f"row {b}: the authors' h matches neither reading of the query mask"
    # our own h is one of the two readings as well (the same choice, made by this machine's rounding)
    for b in range(len(states)):
        assert any(np.allclose(r[b], ours[b], atol=1e-5) for r in readings)
