"""GaussianDiffusion beyond the golden numbers: importance sampling, samplers, trajectories, devices."""
import pytest
import torch

from diffrec_core.diffusion import GaussianDiffusion, ScheduleConfig

CFG = ScheduleConfig("linear_var", 8, 0.5, 1e-3, 0.5, 1e-5)


def _reference_history(T, H, batches):
    """The authors' per-sample loop (gaussian_diffusion.py training_losses), kept here as the oracle."""
    hist, count = torch.zeros(T, H, dtype=torch.float64), torch.zeros(T, dtype=torch.long)
    for ks, ls in batches:
        for t, loss in zip(ks.tolist(), ls.tolist()):
            if count[t] == H:
                old = hist.clone()
                hist[t, :-1] = old[t, 1:]
                hist[t, -1] = loss
            else:
                hist[t, count[t]] = loss
                count[t] += 1
    return hist, count


def test_vectorised_history_equals_authors_loop():
    g = torch.Generator().manual_seed(0)
    d = GaussianDiffusion(CFG, history_len=4)
    batches = []
    for n in (3, 17, 1, 40, 9, 64):
        ks = torch.randint(0, d.T, (n,), generator=g)
        ls = torch.rand(n, generator=g, dtype=torch.float64)
        batches.append((ks, ls))
        d.update_history(ks, ls)
    hist, count = _reference_history(d.T, 4, batches)
    assert torch.equal(d.lt_count, count)
    assert torch.allclose(d.lt_history, hist)


def test_importance_sampling_warms_up_then_follows_losses():
    d = GaussianDiffusion(CFG, history_len=2)
    g = torch.Generator().manual_seed(0)
    k, pt = d.sample_t(5, generator=g)
    assert torch.all(pt == 1)  # uniform until every step has a full history
    losses = torch.arange(1, d.T + 1, dtype=torch.float64)
    d.update_history(torch.arange(d.T).repeat(2), losses.repeat(2))
    k, pt = d.sample_t(20000, generator=g)
    freq = torch.bincount(k, minlength=d.T).double() / 20000
    p = losses / losses.sum() * 0.999 + 0.001 / d.T
    assert torch.allclose(freq, p, atol=0.01)
    assert torch.allclose(pt.double(), (p[k] * d.T), rtol=1e-5)


def test_denoise_from_clean_option_runs_only_T_prime_steps():
    d = GaussianDiffusion(CFG)
    def f(x, k):
        return x * 0.9

    x0 = torch.rand(2, 5)
    assert len(d.denoise_from(f, x0, T_prime=3, reverse="from_T_prime", record=True).steps) == 3
    assert len(d.denoise_from(f, x0, T_prime=3, record=True).steps) == d.T
    with pytest.raises(ValueError, match="T' must lie"):
        d.denoise_from(f, x0, T_prime=d.T + 1)


def test_samplers_recover_a_perfect_denoiser():
    """With the true x0 as the network's answer, every sampler returns x0 (the chain is consistent)."""
    target = torch.randn(3, 6)
    def f(x, k):
        return target

    for cfg in (CFG, ScheduleConfig("trunc_lin", 32, beta1_fix=None),
                ScheduleConfig("dreamrec_linear", 50, beta1_fix=None)):
        d = GaussianDiffusion(cfg, t_sampler="uniform")
        g = torch.Generator().manual_seed(1)
        for run in (d.sample_ancestral(f, (3, 6), "small", record=True, generator=g),
                    d.sample_ancestral(f, (3, 6), "large", generator=g),
                    d.sample_ddim(f, (3, 6), steps=5, record=True, generator=g)):
            tol = 1e-3 if d.betas.dtype == torch.float32 else 1e-5  # DreamRec's float32 c1[0] = 0.99983
            assert torch.allclose(run.final, target, atol=tol, rtol=tol)
        assert run.states.shape[0] == len(run.steps) and run.steps[0] == d.T - 1 and run.steps[-1] == 0


def test_eps_mode_round_trip():
    d = GaussianDiffusion(CFG, mean_type="eps")
    x0 = torch.rand(4, 7, dtype=torch.float64)
    eps = torch.randn(4, 7, dtype=torch.float64)
    k = torch.tensor([0, 2, 5, 7])
    xk = d.q_sample(x0, k, eps)
    assert torch.allclose(d.predict_x0(eps, xk, k), x0, atol=1e-8)
    w_f = GaussianDiffusion(CFG, "eps").loss_weight(k)
    w_e = GaussianDiffusion(CFG, "eps", eps_weight="elbo").loss_weight(k)
    assert w_f[0] == 1 and w_e[0] == 1 and not torch.allclose(w_f[1:], w_e[1:])


def test_no_noise_ablation_is_identity():
    d = GaussianDiffusion(ScheduleConfig("linear_var", 5, 0.0, 1e-3, 1e-2))
    x0 = torch.rand(2, 4)
    assert torch.equal(d.q_sample(x0, 3), x0)
    run = d.denoise_from(lambda x, k: x + 1, x0)
    assert torch.allclose(run.final, x0 + 5)  # x <- model(x, k), T times


def test_same_seed_same_noise_and_device_agnostic():
    d = GaussianDiffusion(CFG)
    x0 = torch.rand(2, 4)
    a = d.q_sample(x0, 4, generator=torch.Generator().manual_seed(3))
    b = d.q_sample(x0, 4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    if torch.cuda.is_available():
        dc = GaussianDiffusion(CFG).to("cuda")
        c = dc.q_sample(x0.cuda(), 4, generator=torch.Generator().manual_seed(3))
        assert torch.allclose(a, c.cpu(), atol=1e-6)


def test_row_mse_matches_the_composite_and_its_gradient():
    """The fused per-sample MSE used in training gives the composite expression's value and gradients."""
    import torch
    from diffrec_core.diffusion.gaussian import row_mse

    g = torch.Generator().manual_seed(3)
    out = torch.randn(5, 2, 7, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(5, 2, 7, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(row_mse, (out, target))
    w = torch.rand(5, generator=g, dtype=torch.float64)
    (row_mse(out, target) * w).sum().backward()
    fused = out.grad.clone(), target.grad.clone()
    out.grad = target.grad = None
    (((target - out) ** 2).flatten(1).mean(1) * w).sum().backward()
    assert torch.allclose(fused[0], out.grad) and torch.allclose(fused[1], target.grad)


def test_dnn_first_layer_gradients_equal_plain_autograd():
    """DNN's hand-written first-layer backward (no zero-filled slice gradients) equals autograd through the
    concatenated Linear, for per-row time steps (training) and one broadcast step."""
    import copy

    import torch
    from diffrec_core.methods.dnn import DNN

    torch.manual_seed(0)
    for k in (torch.tensor([0, 3, 1, 4, 2, 2]), torch.zeros(6, dtype=torch.long)):
        net = DNN([30, 12], [12, 30], emb_size=10, dropout=0.3)
        ref = copy.deepcopy(net)
        x = torch.rand(6, 30)
        torch.manual_seed(1)
        (net(x, k) ** 2).sum().backward()
        torch.manual_seed(1)
        (ref(x.clone().requires_grad_(True), k) ** 2).sum().backward()   # input grad -> the plain autograd path
        for (name, a), (_, b) in zip(net.named_parameters(), ref.named_parameters()):
            assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_column_major_training_batch_gives_the_same_loss_and_gradients():
    """DiffRec.fit_epoch stores a large batch column by column (faster BLAS for the wide last layer): with the
    same noise and the same dropout mask, the loss and every gradient equal the row-major batch's."""
    import copy

    from diffrec_core.diffusion import rng
    from diffrec_core.methods.dnn import DNN, mirrored_dims

    torch.manual_seed(0)
    I, B = 700, 400                                   # B * I >= rng.MIN_SPLIT: the column-major path
    assert B * I >= rng.MIN_SPLIT
    d = GaussianDiffusion(ScheduleConfig("linear_var", 8, 0.5, 1e-3, 0.5, 1e-5), history_len=4)
    net = DNN(*mirrored_dims(I, [32]), emb_size=10, dropout=0.5)
    ref = copy.deepcopy(net)
    x_row = (torch.rand(B, I) < 0.05).float()
    x_col = x_row.t().contiguous().t()
    assert rng.column_major(x_col) and not rng.column_major(x_row)
    noise, k = torch.randn(B, I), torch.randint(0, 8, (B,))
    mask = rng.keep_mask((B, I), 0.5, torch.Generator().manual_seed(4))

    def run(model, x):
        import diffrec_core.methods.dnn as dnn
        keep = dnn.keep_mask_like
        dnn.keep_mask_like = lambda like, p, generator=None: mask   # the same coins for both layouts
        try:
            out = d.training_loss(model, x, k=k, noise=noise, update_history=False)
        finally:
            dnn.keep_mask_like = keep
        out["loss"].mean().backward()
        return out
    a, b = run(net, x_col), run(ref, x_row)
    assert rng.column_major(a["x0_hat"]) and not rng.column_major(b["x0_hat"])
    torch.testing.assert_close(a["loss"], b["loss"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a["x0_hat"], b["x0_hat"], rtol=1e-5, atol=1e-5)
    for (name, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_first_layer_keeps_the_authors_state_dict():
    """FirstLinear stores its weight transposed, but the state_dict holds nn.Linear's (H, I+10) ``weight`` in
    nn.Linear's key order, and loading a plain Linear's state_dict gives the same layer."""
    from torch import nn

    from diffrec_core.methods.dnn import FirstLinear

    torch.manual_seed(5)
    first = FirstLinear(12, 4)
    torch.manual_seed(5)
    plain = nn.Linear(12, 4)                          # the same draws as FirstLinear's
    assert list(first.state_dict()) == list(plain.state_dict()) == ["weight", "bias"]
    assert torch.equal(first.state_dict()["weight"], plain.weight.detach())
    other = nn.Linear(12, 4)
    first.load_state_dict(other.state_dict())
    z = torch.randn(3, 12)
    torch.testing.assert_close(first(z), other(z))
    assert first.weight_t.is_contiguous() and first.weight.shape == (4, 12)
