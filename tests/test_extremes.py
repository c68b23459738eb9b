"""Sliders at their extremes keep every page running with a finite view: T = 1, noise scale 0,
guidance w = 0 and maximal, DiffuRec's δ at both ends, T′ = T."""
import math

import pytest

from test_pages_app import charts, no_exception, page  # noqa: F401


def _finite(fig) -> bool:
    """Every numeric y/x value in every trace is finite (a NaN or inf would draw an empty or broken chart)."""
    for tr in fig.get("data", []):
        for axis in ("x", "y"):
            vals = tr.get(axis)
            if isinstance(vals, list):
                if any(isinstance(v, float) and not math.isfinite(v) for v in vals):
                    return False
    return True


def test_forward_page_at_T_1_and_the_smallest_noise_scale():
    at = page("forward").run()
    no_exception(at)
    at.number_input(key="fw_T").set_value(1).run()
    no_exception(at)
    from views import page_params as PP

    assert PP.GRID[0] == 0.0
    at.select_slider(key="fw_scale").set_value(0.0).run()       # noise scale 0: no diffusion at all
    no_exception(at)
    assert charts(at), "the page draws its charts"
    assert all(_finite(c) for c in charts(at).values())


@pytest.mark.parametrize("w", [0.0, "max"])
def test_embeddings_page_at_guidance_extremes(w):
    from views import page_params as PP

    at = page("embeddings").run()
    no_exception(at)
    at.radio(key="em_method").set_value("dreamrec").run()      # guidance w is DreamRec's control
    at.slider(key="em_w").set_value(PP.EM_W_MAX if w == "max" else w).run()
    no_exception(at)
    assert "em_multiples" in charts(at) and _finite(charts(at)["em_multiples"])


@pytest.mark.parametrize("end", [0, -1])
def test_embeddings_page_at_lambda_extremes(end):
    at = page("embeddings").run()
    from views import page_params as PP

    at.select_slider(key="em_lam").set_value(PP.EM_LAMBDAS[end]).run()
    no_exception(at)
    assert "em_lambda" in charts(at)


def test_reverse_page_with_T_prime_equal_to_T():
    at = page("reverse").run()
    no_exception(at)
    tp = at.slider(key="rv_tprime")
    tp.set_value(tp.max).run()
    no_exception(at)
    assert all(_finite(c) for c in charts(at).values())
