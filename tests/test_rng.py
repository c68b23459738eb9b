"""Large draws split over threads stay reproducible and distributed as asked (diffusion/rng.py)."""
import torch

from diffrec_core.diffusion import rng


def test_small_draws_are_the_plain_stream():
    a = rng.draw((10, 7), "normal", torch.Generator().manual_seed(3))
    assert torch.equal(a, torch.randn((10, 7), generator=torch.Generator().manual_seed(3)))
    b = rng.draw((10, 7), "uniform", torch.Generator().manual_seed(3))
    assert torch.equal(b, torch.rand((10, 7), generator=torch.Generator().manual_seed(3)))


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
