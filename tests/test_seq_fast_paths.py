"""The speed paths of the sequence methods compute what the plain formulations compute (benchmarks/
sequential_beauty.py relies on them): fused attention against the authors' masked_fill(-1e9) + softmax, the
last-position shortcut, DreamRec's hoisted guided denoiser and its tight ancestral loop."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from diffrec_core.methods.dreamrec import DreamRec, DreamRecConfig, GuidedDenoiser, Tenc
from diffrec_core.methods.seq_common import ATTN_MASKS, Transformer, attention_allowed, cpu_generator

from tolerances import F32_CHAIN


def _reference(tr: Transformer, x, allowed):
    """The authors' attention, written out: scores/sqrt(d_head), masked_fill(~allowed, -1e9), softmax."""
    for b in tr.transformer_blocks:
        m = b.attention
        y = b.input_sublayer.norm(x)
        B, n, _ = y.shape
        q, k, v = [lin(y).view(B, n, m.h, m.dh).transpose(1, 2) for lin in m.linear_layers]
        corr = (q @ k.transpose(-2, -1) / math.sqrt(m.dh)).masked_fill(~allowed, -1e9)
        a = m.w_layer((F.softmax(corr, -1) @ v).transpose(1, 2).reshape(B, n, m.h * m.dh))
        x = b.output_sublayer(x + a, b.feed_forward)
    return x


@pytest.fixture(scope="module")
def batch():
    torch.manual_seed(0)
    tok = torch.randint(1, 50, (6, 10))
    tok[0, :4] = 0    # left padding
    tok[1, :] = 0     # empty history: every query row fully masked in 'key' / 'causal'
    tok[2, :9] = 0    # one real item
    return tok, torch.randn(6, 10, 32)


@pytest.mark.parametrize("kind", ATTN_MASKS)
@pytest.mark.parametrize("training", [False, True])
def test_fused_attention_matches_masked_fill(batch, kind, training):
    tok, x = batch
    torch.manual_seed(1)
    tr = Transformer(32, 4, 3, dropout=0.1).train(training)
    if training:  # the dropout path with (practically) no dropping, so both sides see the same numbers
        for mod in tr.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = 1e-12
    allowed = attention_allowed(tok > 0, kind)
    ref = _reference(tr, x, allowed)
    torch.testing.assert_close(tr(x, allowed), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(tr(x, allowed, last_only=True), ref[:, -1:], atol=1e-5, rtol=1e-5)
    # a fully masked row is uniform over all keys, as the -1e9 fill makes it (not NaN, not zero)
    assert torch.isfinite(tr(x, allowed)).all()


@pytest.mark.parametrize("diffuser", ["mlp1", "mlp2"])
def test_guided_denoiser_is_the_authors_guidance(diffuser):
    torch.manual_seed(0)
    tenc = Tenc(16, 30, 5, 0.1, diffuser).eval()
    h, x = torch.randn(4, 16), torch.randn(4, 16)
    with torch.no_grad():
        fn = GuidedDenoiser(tenc, h, 2.0, 50)
        for k in (0, 7, 49):
            kt = torch.full((4,), k)
            torch.testing.assert_close(fn(x, kt), tenc.guided(x, h, kt, 2.0), atol=1e-5, rtol=1e-5)
        w0 = GuidedDenoiser(tenc, h, 0.0, 50)(x, torch.full((4,), 3))
        torch.testing.assert_close(w0, tenc(x, h, torch.full((4,), 3)), atol=1e-5, rtol=1e-5)  # w = 0: conditional


def test_tight_ancestral_loop_equals_the_generic_sampler():
    torch.manual_seed(0)
    model = DreamRec(DreamRecConfig(hidden=16, seq_len=5, steps=60), n_users=3, n_items=30)
    h = torch.randn(5, 16)
    with torch.no_grad():
        fn = GuidedDenoiser(model.tenc, h, 2.0, model.diffusion.T)
        fast = model._ancestral_mlp1(fn, h.shape, cpu_generator(4)).final
        slow = model.diffusion.sample_ancestral(fn, h.shape, variance="small", generator=cpu_generator(4)).final
    # the same arithmetic in another loop: equal up to float32 rounding over the 60 steps
    torch.testing.assert_close(fast, slow, **F32_CHAIN)
    assert not np.allclose(fast.numpy(), 0)
