"""Large draws split over threads stay reproducible and distributed as asked (diffusion/rng.py)."""
import torch

from diffrec_core.diffusion import rng


def test_small_draws_are_the_plain_stream():
    a = rng.draw((10, 7), "normal", torch.Generator().manual_seed(3))
    assert torch.equal(a, torch.randn((10, 7), generator=torch.Generator().manual_seed(3)))
    b = rng.draw((10, 7), "uniform", torch.Generator().manual_seed(3))
    assert torch.equal(b, torch.rand((10, 7), generator=torch.Generator().manual_seed(3)))


def test_unchunked_large_draws_are_the_plain_stream_and_chunked_ones_are_not():
    shape = (600, 500)
    plain = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    assert torch.equal(rng.draw(shape, "normal", torch.Generator().manual_seed(3), chunked=False), plain)
    assert not torch.equal(rng.draw(shape, "normal", torch.Generator().manual_seed(3)), plain)
    on = rng.draw(shape, "normal", torch.Generator().manual_seed(3), device="cpu", chunked=False)
    assert torch.equal(on, plain)


def test_large_draws_do_not_depend_on_the_thread_count():
    shape = (300, 1000)
    assert shape[0] * shape[1] >= rng.MIN_SPLIT
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = rng.draw(shape, "normal", torch.Generator().manual_seed(5))
        torch.set_num_threads(2)
        two = rng.draw(shape, "normal", torch.Generator().manual_seed(5))
    finally:
        torch.set_num_threads(old)
    assert torch.equal(one, two)
    other = rng.draw(shape, "normal", torch.Generator().manual_seed(6))
    assert not torch.equal(one, other)


def test_large_draws_have_the_right_distribution_and_independent_chunks():
    x = rng.draw((400, 2000), "normal", torch.Generator().manual_seed(1))
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1) < 0.01
    parts = x.view(-1).tensor_split(rng.CHUNKS)
    assert not torch.equal(parts[0][:1000], parts[1][:1000])       # each chunk has its own generator
    u = rng.draw((400, 2000), "uniform", torch.Generator().manual_seed(1))
    assert float(u.min()) >= 0 and float(u.max()) < 1 and abs(float(u.mean()) - 0.5) < 0.01
    g = torch.manual_seed(9)
    a = rng.draw((400, 2000), "uniform")               # the global generator, as nn.Dropout uses
    torch.manual_seed(9)
    assert torch.equal(a, rng.draw((400, 2000), "uniform")) and g is not None


def test_keep_mask_small_draws_are_the_plain_stream():
    m = rng.keep_mask((20, 30), 0.5, torch.Generator().manual_seed(2))
    assert torch.equal(m, torch.rand((20, 30), generator=torch.Generator().manual_seed(2)).ge_(0.5))


def test_large_fair_coin_masks_are_bernoulli_half_and_reproducible():
    shape = (400, 2810)                      # a DiffRec ML-1M batch
    m = rng.keep_mask(shape, 0.5, torch.Generator().manual_seed(7))
    assert m.shape == shape and m.dtype == torch.uint8 and set(m.unique().tolist()) == {0, 1}
    assert torch.equal(m, rng.keep_mask(shape, 0.5, torch.Generator().manual_seed(7)))
    assert not torch.equal(m, rng.keep_mask(shape, 0.5, torch.Generator().manual_seed(8)))
    f = m.double()
    n = f.numel()
    assert abs(float(f.mean()) - 0.5) < 5 * 0.5 / n ** 0.5              # 5 standard errors
    # neighbouring coins (bits of one byte, and across bytes) are uncorrelated
    flat = f.view(-1) - 0.5
    for lag in (1, 7, 8, 9):
        assert abs(float((flat[:-lag] * flat[lag:]).mean())) < 5 * 0.25 / n ** 0.5
    # the product with a float batch equals the float-mask product
    x = torch.rand(shape)
    assert torch.equal(x * m, x * m.float())


def test_other_drop_rates_keep_the_uniform_compare():
    shape = (600, 500)
    m = rng.keep_mask(shape, 0.3, torch.Generator().manual_seed(1))
    assert m.dtype == torch.float32 and abs(float(m.mean()) - 0.7) < 0.005
    assert torch.equal(m, rng.draw(shape, "uniform", torch.Generator().manual_seed(1)).ge_(0.3))
