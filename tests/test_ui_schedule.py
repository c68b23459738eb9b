"""Schedule views, the equation panel's content and number formatting (ui.schedule, ui.equations, ui.fmt)."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffrec_core.diffusion import PRESETS, GaussianDiffusion, ScheduleConfig  # noqa: E402
from ui import equations, schedule  # noqa: E402
from ui.fmt import num, pct, plural, tex  # noqa: E402
from ui.theme import COLORS  # noqa: E402


def table(name="diffrec ml-1m (tuned)"):
    return GaussianDiffusion(PRESETS[name]).schedule_table()


def test_by_step_prepends_the_clean_sample():
    tab = table()
    s = schedule.by_step(tab)
    assert all(len(v) == len(tab["beta"]) + 1 for v in s.values())
    assert s["alpha_bar"][0] == 1.0 and s["noise_std"][0] == 0.0 and math.isinf(s["snr"][0])
    np.testing.assert_allclose(s["alpha_bar"][1:], tab["alpha_bar"])


def test_terms_at_reads_paper_step_t_as_code_index_t_minus_1():
    tab = table()
    v = schedule.terms_at(tab, 12)
    assert v["alpha_bar"] == pytest.approx(tab["alpha_bar"][11])
    assert v["noise_std"] == pytest.approx(math.sqrt(1 - tab["alpha_bar"][11]))
    assert v["snr"] == pytest.approx(tab["alpha_bar"][11] / (1 - tab["alpha_bar"][11]))
    with pytest.raises(ValueError):
        schedule.terms_at(tab, 41)
    with pytest.raises(ValueError):
        schedule.terms_at(tab, -1)


def test_table_from_betas_matches_the_core():
    d = GaussianDiffusion(PRESETS["visible noise (teaching)"])
    ours = schedule.table_from_betas(d.betas.numpy())
    core = d.schedule_table()
    for k in ("alpha_bar", "noise_std", "sqrt_alpha_bar", "snr"):
        np.testing.assert_allclose(ours[k], core[k], rtol=1e-10)


def test_curves_figure_marks_the_current_step_and_ranges_come_from_data():
    tab = table()
    fig = schedule.curves_figure(tab, 12)
    assert len(fig.data) == 6                          # 3 curves + 3 current-step markers
    markers = [t for t in fig.data if t.name == "current step"]
    assert [list(m.x) for m in markers] == [[12], [12], [12]]
    assert markers[0].y[0] == pytest.approx(tab["alpha_bar"][11])
    lo, hi = fig.layout.yaxis.range
    assert lo < tab["alpha_bar"].min() and hi > 1.0 and hi - 1.0 < 1e-4       # zoomed to the data, not 0..1
    std_lo, std_hi = fig.layout.yaxis2.range
    assert std_hi >= tab["noise_std"].max() and std_hi < 2 * tab["noise_std"].max()
    assert fig.layout.yaxis3.type == "log"
    snr = tab["snr"]
    a, b = fig.layout.yaxis3.range
    assert a < math.log10(snr.min()) and b > math.log10(snr.max())
    assert len(fig.layout.shapes) == 3 and all(s.x0 == 12 for s in fig.layout.shapes)
    # moving the step moves the markers
    fig2 = schedule.curves_figure(tab, 3)
    assert [list(t.x) for t in fig2.data if t.name == "current step"] == [[3], [3], [3]]


def test_curves_figure_at_t0_has_no_snr_marker_and_no_noise_schedule_is_annotated():
    fig = schedule.curves_figure(table(), 0)
    m = [t for t in fig.data if t.name == "current step"]
    assert list(m[0].x) == [0] and len(m[2].x) == 0    # SNR is infinite at t = 0
    nn = GaussianDiffusion(ScheduleConfig("linear_var", 5, 0.0, 1e-3, 1e-2, 1e-5)).schedule_table()
    fig = schedule.curves_figure(nn, 2)
    assert any("no noise" in (a.text or "") for a in fig.layout.annotations)


def test_noise_at_T_is_tiny_for_diffrec_and_one_for_image_ddpm():
    stds = schedule.noise_at_T(PRESETS)
    tuned = [v for k, v in stds.items() if k.startswith("diffrec")]
    assert tuned and all(0.003 <= v <= 0.07 for v in tuned)                  # docs/methods.md §5.1: 0.003-0.07
    image = [v for k, v in stds.items() if "image" in k.lower()]
    assert image and image[0] > 0.99
    assert stds["diffrec ml-1m (tuned)"] == pytest.approx(0.0059, abs=2e-4)   # docs/methods.md §2.1 table
    # an invalid configuration is skipped, not raised
    assert schedule.noise_at_T({"bad": ScheduleConfig("linear_var", 5, 1.0, 0.5, 0.1)}) == {}


def test_noise_at_T_figure_sorts_highlights_and_ranges_from_data():
    stds = {"a": 0.004, "b": 0.9, "image-DDPM": 1.0}
    fig = schedule.noise_at_T_figure(stds, current=0.05)
    bar = fig.data[0]
    assert list(bar.y) == ["a", "your setting", "b", "image-DDPM"]
    assert list(bar.marker.color)[1] == COLORS["current"]
    assert list(bar.marker.color)[3] == COLORS["noise_std"]
    lo, hi = fig.layout.xaxis.range
    assert lo < math.log10(0.004) and hi > math.log10(1.0)
    cap = schedule.noise_at_T_caption({"diffrec x": 0.003, "diffrec y": 0.07, "image-DDPM": 1.0}, 0.0059)
    assert "0.003" in cap and "0.07" in cap and "1" in cap and "0.0059" in cap


def test_schedule_caption_and_beta1_share():
    tab = table()
    cap = schedule.schedule_caption(tab, 12)
    assert "t = 12 of 40" in cap and num(schedule.terms_at(tab, 12)["noise_std"]) in cap
    assert "clean" in schedule.schedule_caption(tab, 0)
    share = schedule.beta1_share(tab)
    assert share == pytest.approx(1e-5 / tab["beta"].sum())
    assert schedule.beta1_share({"beta": np.zeros(3)}) == 0.0


def test_forward_equation_live_values_follow_the_step():
    tab = table()
    e12, e30 = equations.forward_equation(tab, 12), equations.forward_equation(tab, 30)
    assert e12.general == e30.general
    assert e12.live != e30.live and "x_{12}" in e12.live
    assert e12.values() != e30.values()
    assert e12.values()["noise std"] == num(schedule.terms_at(tab, 12)["noise_std"])
    assert set(e12.values()) == {"βₜ", "ᾱₜ", "√ᾱₜ", "noise std", "SNRₜ"}
    e0 = equations.forward_equation(tab, 0)
    assert e0.values()["SNRₜ"] == "∞" and "no noise" in e0.live


def test_posterior_coefficients_match_the_core_buffers():
    d = GaussianDiffusion(PRESETS["visible noise (teaching)"])
    co = equations.posterior_coefs(d.betas.numpy(), d.alphas_cumprod.numpy())
    np.testing.assert_allclose(co["c1"], d.posterior_mean_coef1.numpy(), rtol=1e-10)
    np.testing.assert_allclose(co["c2"], d.posterior_mean_coef2.numpy(), rtol=1e-10)
    np.testing.assert_allclose(co["sigma"] ** 2, d.posterior_variance.numpy(), rtol=1e-8, atol=1e-18)
    # the no-noise ablation: every step returns the network output
    nn = equations.posterior_coefs(np.zeros(4), np.ones(4))
    assert (nn["c1"] == 1).all() and (nn["c2"] == 0).all() and (nn["sigma"] == 0).all()


def test_reverse_equation_last_step_returns_x0_hat():
    d = GaussianDiffusion(PRESETS["sample world (small CPU)"])
    b, ab = d.betas.numpy(), d.alphas_cumprod.numpy()
    last = equations.reverse_equation(b, ab, 0)
    assert last.values()["c₁"] == "1.000" and last.values()["c₂"] == "0"
    mid = equations.reverse_equation(b, ab, 5, sampling_noise=True)
    assert "σ̃ₜ" in mid.values() and r"\varepsilon" in mid.live
    assert mid.values() != last.values()
    lat = equations.reverse_equation(b, ab, 5, latent=True)
    assert r"\hat z_0" in lat.general


def test_number_formatting():
    assert num(0.99998) == "0.99998" and num(1.0) == "1.00" and num(12.345) == "12.3"
    assert num(float("inf")) == "∞" and num(0) == "0" and num(float("nan")) == "n/a"
    assert num(1e-5) == "1.00e-5" and num(58600) == "5.86e4" and num(0.00592) == "0.00592"
    assert tex(1e-5) == r"1.00\times10^{-5}" and tex(float("inf")) == r"\infty"
    assert pct(0.5) == "50 %" and plural(1, "item") == "1 item" and plural(2, "item") == "2 items"
