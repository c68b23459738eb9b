"""The training-protocol switches (train.Protocol): each reproduces one authors' loop, checked against that loop
written out here from their code, and the defaults keep the project's protocol."""
import numpy as np
import pytest
import torch

from diffrec_core import compare, lab_train, train
from diffrec_core.data import load_dataset, make_split
from diffrec_core.pipeline import build_model
from diffrec_core.train import TEST_SELECTION, Protocol, ProtocolError, fit, reduce_metrics
from tests.toy import toy_split

METRICS = ("recall@20", "ndcg@10", "hr@5", "ndcg@5", "hr@10", "hr@20", "ndcg@20")


class Scripted:
    """Stands in for ``evaluate``: the metrics of each evaluated epoch come from a script keyed by the number of
    epochs trained (the model's fit_epoch only counts), so the protocol alone decides the outcome."""

    def __init__(self, model, valid, test=None):
        self.valid, self.test, self.epoch, self.calls = valid, test or valid, 0, []

        def counted(*a, **k):                 # training itself cannot change a scripted outcome: skipped
            self.epoch += 1
            return {"loss": 0.0}
        model.fit_epoch = counted

    def __call__(self, model, split, which=("valid", "test"), **_):
        self.calls.append((self.epoch, tuple(which)))
        return {w: dict((self.valid if w == "valid" else self.test)(self.epoch)) for w in which}


def _model(split, **over):
    """A small DiffRec on the toy split with the protocol switches set on its config (Protocol reads them by
    name, so one model serves every method's switches)."""
    m = build_model("diffrec", split, preset="sample", overrides=dict(dims=[8], steps=2, batch_size=120))
    m.config.epochs = 60
    for k, v in over.items():
        setattr(m.config, k, v)
    return m


def _run(monkeypatch, split, valid, test=None, **over):
    m = _model(split, **over)
    s = Scripted(m, valid, test)
    monkeypatch.setattr(train, "evaluate", s)
    return fit(m, split, seed=1, evaluate_test=False), s


def diffrec_loop(script, epochs, eval_every=5, patience=20):
    """DiffRec/main.py's loop: the gap is tested before an epoch; recall@20 as printed (4 places) selects."""
    best, best_epoch, trained = -100, 0, 0
    for epoch in range(1, epochs + 1):
        if epoch - best_epoch >= patience:
            break
        trained = epoch
        if epoch % eval_every == 0:
            v = round(script(epoch)["recall@20"], 4)
            if v > best:
                best, best_epoch = v, epoch
    return trained, best_epoch


def diffurec_loop(script, epochs, eval_every=20, patience=5, names=METRICS[2:] + ("ndcg@10",)):
    """DiffuRec's src/trainer.py: 0-based epochs, evaluation when epoch != 0 and epoch % interval == 0, kept when
    any of the six metrics (per cent, 4 places) beats its best, stop after ``patience`` evaluations without."""
    best = {k: 0 for k in names}
    kept, bad, trained = None, 0, 0
    for e0 in range(epochs):
        trained = e0 + 1
        if e0 != 0 and e0 % eval_every == 0:
            m, flag = script(e0 + 1), False
            for k in names:
                v = round(m[k] * 100, 4)
                if v > best[k]:
                    best[k], flag, bad = v, True, 0
            if not flag:
                bad += 1
            else:
                kept = e0 + 1
            if bad >= patience:
                break
    return trained, kept


@pytest.fixture(scope="module")
def split():
    return toy_split()


def _script(values):
    """A validation curve over evaluated epochs: metric m at epoch e = values[e] (ties and dips included)."""
    return lambda e: {k: float(values[min(e, len(values) - 1)]) for k in METRICS}


@pytest.mark.parametrize("seed", range(6))
def test_before_epoch_stops_where_the_authors_loop_does(monkeypatch, split, seed):
    rng = np.random.default_rng(seed)
    curve = np.round(np.cumsum(rng.normal(0.002, 0.01, 200)), 4)
    res, _ = _run(monkeypatch, split, _script(curve), epochs=120, eval_every=5, patience=20,
                  stop_check="before_epoch")
    trained, best = diffrec_loop(_script(curve), 120)
    assert (len(res.history), res.best_epoch) == (trained, best)


def test_before_epoch_never_evaluates_the_closing_epoch(monkeypatch, split):
    curve = [0.0] * 10 + [0.5] * 200           # best at epoch 10, flat afterwards
    after, s_after = _run(monkeypatch, split, _script(curve), eval_every=5, patience=20)
    before, s_before = _run(monkeypatch, split, _script(curve), eval_every=5, patience=20,
                            stop_check="before_epoch")
    assert after.best_epoch == before.best_epoch == 10
    assert [e for e, _ in s_after.calls][-1] == 30 and len(after.history) == 30   # ours: epoch 30 evaluated
    assert [e for e, _ in s_before.calls][-1] == 25 and len(before.history) == 29  # theirs: stops before 30


@pytest.mark.parametrize("seed", range(4))
def test_any_of_six_selection_matches_the_diffurec_trainer(monkeypatch, split, seed):
    rng = np.random.default_rng(seed)
    per = {k: np.cumsum(rng.normal(0.0005, 0.004, 400)) + 0.05 for k in METRICS}
    script = lambda e: {k: float(v[e]) for k, v in per.items()}  # noqa: E731
    res, s = _run(monkeypatch, split, script, epochs=300, eval_every=20, patience=100, select_rule="any",
                  eval_offset=1, final_eval=False, select_metric="ndcg@10")
    trained, kept = diffurec_loop(script, 300)
    assert len(res.history) == trained and res.best_epoch == kept
    assert all((e - 1) % 20 == 0 and e > 1 for e, _ in s.calls)


def test_any_rule_keeps_an_epoch_the_single_metric_rule_drops(monkeypatch, split):
    def script(e):
        m = {k: 0.1 for k in METRICS}
        if e == 10:                           # NDCG@10 falls, HR@5 rises
            m.update({"ndcg@10": 0.05, "hr@5": 0.2})
        return m
    one, _ = _run(monkeypatch, split, script, epochs=10, eval_every=5, select_metric="ndcg@10")
    anyr, _ = _run(monkeypatch, split, script, epochs=10, eval_every=5, select_metric="ndcg@10", select_rule="any")
    assert one.best_epoch == 5 and anyr.best_epoch == 10


def test_select_on_test_keeps_the_best_test_epoch_and_labels_it(monkeypatch, split):
    valid = lambda e: {k: 1.0 / e for k in METRICS}          # noqa: E731  validation best at epoch 1
    test = lambda e: {k: float(e == 6) for k in METRICS}     # noqa: E731  test best at epoch 6
    res, s = _run(monkeypatch, split, valid, test, epochs=10, eval_every=1, patience=50)
    assert res.best_epoch == 1 and res.select_on == "valid"
    assert all(w == ("valid",) for _, w in s.calls)          # the default never reads test while training
    res, s = _run(monkeypatch, split, valid, test, epochs=10, eval_every=1, patience=50, select_on=TEST_SELECTION)
    assert res.best_epoch == 6 and res.select_on == TEST_SELECTION


def test_select_on_last_keeps_the_final_weights(monkeypatch, split):
    res, _ = _run(monkeypatch, split, _script([0, 0.9] + [0.1] * 50), epochs=12, eval_every=1, patience=2,
                  select_on="last")
    assert res.best_epoch == 12 and len(res.history) == 12 and res.stopped == "epoch limit"


def test_unknown_switch_values_are_refused(split):
    with pytest.raises(ProtocolError, match="select_on"):
        Protocol.of(_model(split, select_on="test").config)         # only the labelled value selects on test
    with pytest.raises(ProtocolError, match="stop_check"):
        Protocol.of(_model(split, stop_check="sometimes").config)


def test_compare_refuses_test_selection():
    sw = make_split(load_dataset("sample"))
    for preset, over in (("sample", {"select_on": TEST_SELECTION}), ("last-fm", None), ("mind", None),
                         ("alibaba-ifashion", None)):
        with pytest.raises(ValueError, match="best test epoch"):
            compare.run_one("diffkg", sw, preset=preset, overrides=over)


@pytest.mark.parametrize("over", [dict(stop_check="before_epoch", patience=3),
                                  dict(select_rule="any", select_metric="recall@20", eval_offset=1, final_eval=False),
                                  dict(select_on=TEST_SELECTION), dict(select_on="last")])
def test_lab_run_follows_the_same_protocol_as_fit(monkeypatch, split, over):
    curve = np.round(np.abs(np.sin(np.arange(40) * 1.3)) / 5, 4)
    kw = dict(epochs=14, eval_every=2, **over)
    res, _ = _run(monkeypatch, split, _script(curve), lambda e: {k: float(curve[-e]) for k in METRICS}, **kw)
    m = _model(split, **dict(kw))
    s = Scripted(m, _script(curve), lambda e: {k: float(curve[-e]) for k in METRICS})
    monkeypatch.setattr(train, "evaluate", s)                            # the Trainer's evaluation pass
    monkeypatch.setattr(lab_train, "build_model", lambda *a, **k: m)     # the Lab run trains this model
    run = lab_train.LabRun("diffrec", lab_train.LabData(name="toy", log=None, _splits={"auto": split}))
    while not run.done:
        run.step()
    assert (run.best_epoch, run.epoch) == (res.best_epoch, len(res.history))


def test_reduce_metrics_batch_means_and_whole_batches():
    v = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    ngt = torch.tensor([1, 1, 0, 1, 1, 1, 1])
    kept = v[ngt > 0]                                           # 1 0 1 0 0 1
    assert reduce_metrics({"m": v}, ngt)["m"] == pytest.approx(float(kept.mean()))
    assert reduce_metrics({"m": v}, ngt, batch_mean=4)["m"] == pytest.approx((2 / 4 + 1 / 2) / 2)
    assert reduce_metrics({"m": v}, ngt, drop_last=4)["m"] == pytest.approx(2 / 4)
    assert reduce_metrics({"m": v}, ngt, "all", batch_mean=3)["m"] == pytest.approx((2 / 3 + 1 / 3 + 1) / 3)


def test_eval_offset_schedule():
    p = Protocol(epochs=100, eval_every=20, eval_offset=1, final_eval=False)
    assert [e for e in range(1, 101) if p.due(e)] == [21, 41, 61, 81]
    assert [e for e in range(1, 16) if Protocol(epochs=15, eval_every=5).due(e)] == [5, 10, 15]


def test_dreamrec_empty_history_samples():
    sw = make_split(load_dataset("sample"), how="loo")
    m = build_model("dreamrec", sw, preset="sample", overrides=dict(empty_history=True, hidden=16, steps=10))
    data = m.seq_data(sw)
    starts, ends = m.train_samples(data)
    n_seq = int((data.train.lengths > 0).sum())
    assert len(ends) == data.n_samples + n_seq
    extra = slice(data.n_samples, None)
    assert np.all(starts[extra] == ends[extra])                        # empty history ...
    firsts = data.train.items[data.train.indptr[:-1][data.train.lengths > 0]]
    assert np.array_equal(data.train.items[ends[extra]], firsts)      # ... predicting each sequence's first item
    from diffrec_core.methods.seq_common import window
    hist, n = window(data.train.items, starts[extra], ends[extra], 10, -1, left_pad=False)
    assert np.all(hist == -1) and np.all(n == 0)                       # ... an all-padding window
    off = build_model("dreamrec", sw, preset="sample", overrides=dict(hidden=16, steps=10))
    s0, e0 = off.train_samples(off.seq_data(sw))
    assert len(e0) == data.n_samples                                   # the default: no empty histories


@pytest.mark.slow
def test_dreamrec_trains_on_empty_histories():
    sw = make_split(load_dataset("sample"), how="loo")
    m = build_model("dreamrec", sw, preset="sample", overrides=dict(empty_history=True, hidden=16, steps=10))
    stats = m.fit_epoch(sw, torch.Generator().manual_seed(0), np.random.default_rng(0))
    assert np.isfinite(stats["loss"])


@pytest.mark.slow
def test_diffkg_contrastive_anchor_swaps_with_cl_pattern_1(monkeypatch):
    from diffrec_core.methods import diffkg as dk
    sw = make_split(load_dataset("sample"))
    seen, real = {}, dk.info_nce
    for anchor in ("original", "non_bpr"):
        m = build_model("diffkg", sw, preset="sample", overrides=dict(cl_pattern=1, cl_anchor=anchor, epochs=1,
                                                                      latdim=8, dims=[16]))
        m.prepare(sw)
        views, anchors = [], []                   # strong references: tensor ids are not reused while held
        enc = m.encode

        def tagged(split, mask, dropout=True, enc=enc, views=views, m=m):
            out = enc(split, mask, dropout=dropout)
            views.append((out[0], "original" if mask is m.kg_sampled else "denoised"))
            return out

        def spy(a, b, nodes, temp, anchors=anchors):
            anchors.append(a)
            return real(a, b, nodes, temp)
        monkeypatch.setattr(m, "encode", tagged)
        monkeypatch.setattr(dk, "info_nce", spy)
        m.fit_epoch(sw, torch.Generator().manual_seed(0), np.random.default_rng(0))
        seen[anchor] = {tag for a in anchors for t, tag in views if a is t}
    assert seen == {"original": {"original"}, "non_bpr": {"denoised"}}


def test_presets_named_after_the_authors_data_run_their_protocol():
    from diffrec_core import registry
    from diffrec_core.pipeline import make_config
    for preset in ("last-fm", "mind", "alibaba-ifashion", "authors-code"):
        c = make_config("diffkg", preset)
        assert (c.faithful_bug, c.diff_batch, c.cl_anchor, c.select_on) == (True, 1024, "non_bpr", TEST_SELECTION)
    for method in ("diffrec", "tdiffrec", "ldiffrec"):
        for preset in registry.get(method).presets:
            c = make_config(method, preset)
            authors_data = c.epochs == 1000                  # the presets of the authors' data sets
            assert (c.stop_check == "before_epoch") == authors_data, (method, preset)
    c = make_config("diffurec", "beauty")
    assert (c.select_rule, c.eval_offset, c.final_eval, c.eval_batch_mean) == ("any", 1, False, 512)
    c = make_config("dreamrec", "beauty-authors")
    assert (c.select_on, c.empty_history, c.eval_drop_last) == ("last", True, 100)
    for method in ("diffkg", "diffrec", "ldiffrec", "diffurec", "dreamrec"):     # clean on the sample world
        p = Protocol.of(make_config(method, "sample"))
        assert (p.select_on, p.select_rule, p.stop_check, p.eval_offset) == ("valid", "metric", "after_eval", 0)
