"""The Lab: train a method with live curves and a stop button, load your own interactions, load a checkpoint or a
trajectory file back, and export. Training advances one chunk (about half a second of epochs) per rerun of a
fragment, so the server is never held in a loop; the models made here are kept for this session
(``views/_lab_state.py``)."""
from __future__ import annotations

import streamlit as st

from diffrec_core import lab_train as L
from diffrec_core import limits, registry
from diffrec_core.pipeline import make_config
from diffrec_core.trajectory import TrajectoryFormatError
from diffrec_core.upload import FORMATS, MAX_UPLOAD_BYTES, UploadError, load_upload, recbole_ml100k, safe_name
from ui import export as ex
from ui import lab as ul
from views import _common as C
from views import _lab_state as lab
from views import page_params as PP

CHUNK_SECONDS = 0.4          # training time per fragment rerun
POLL_SECONDS = 0.5           # how often a running fragment reruns itself
# torch's intra-op threads while a chunk trains. The server shares its cores with the warm-up thread, the other
# sessions, the browser and whatever else runs on the machine; torch's default (one thread per core) then spins
# in its parallel regions: a sample-world DiffRec epoch took 3.6–6.9 s with 2 threads and 0.17–0.30 s with 1 on
# the same loaded 2-core machine (AMD EPYC). One thread is as fast as two on these small models when the machine
# is idle, and never collapses when it is not.
TRAIN_THREADS = 1


def _advance(run) -> None:
    """One chunk of training with :data:`TRAIN_THREADS` intra-op threads (restored after: the setting is the
    process's)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(min(TRAIN_THREADS, before))
    try:
        run.advance(CHUNK_SECONDS)
    finally:
        torch.set_num_threads(before)


def _parse_overrides(text: str) -> dict:
    """``key=value`` lines (as the command line's ``--set``); '#' starts a comment."""
    out = {}
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise L.LabError(f"settings line {n}: expected key=value, got {line!r}")
        k, v = (p.strip() for p in line.split("=", 1))
        if not k:
            raise L.LabError(f"settings line {n}: the setting name is empty")
        out[k] = v
    return out


def _stop(rid: str) -> None:
    run = lab.get_run(rid)
    if run is not None:
        run.request_stop()


def _use(rid) -> None:
    lab.set_active(rid)


def _train_on(did: str) -> None:
    """'Train on it': the upload becomes the Train tab's data set and the Train tab opens."""
    st.session_state["lab_dataset"] = did
    st.session_state["lab_tab"] = "Train"


linked = C.url_state(PP.LAB)        # tab, method and preset from a shared link (never uploads or runs)
st.title("Lab · train, load data, export")
st.markdown("Train any method on the sample world or your own data and watch its loss and validation metrics "
            "epoch by epoch; the model is selected on validation, scored once on test, kept for this session and "
            "downloadable as a checkpoint (safetensors + JSON).")

tab_train, tab_data, tab_files = st.tabs(list(PP.LAB_TABS), key="lab_tab", on_change="rerun")

# ================================================================================================= Train
with tab_train:
    options = dict(lab.datasets())
    picked = st.session_state.pop("_lab_pick_data", None)
    if picked in options:                # a new upload: the data set the Train tab shows (before its widget)
        st.session_state["lab_dataset"] = picked
    if st.session_state.get("lab_dataset") not in options:
        if st.session_state.get("lab_dataset") is not None:
            st.warning("The data set chosen before is no longer held by the server (uploads are kept for a while "
                       "only); back to the sample world.")
        st.session_state["lab_dataset"] = lab.SAMPLE_ID
    c1, c2, c3 = st.columns([2, 1.4, 1])
    did = c1.selectbox("Data set", list(options), format_func=options.get, key="lab_dataset")
    data = lab.get_dataset(did)
    methods = L.lab_methods()
    if st.session_state.get("lab_method") not in methods:
        st.session_state["lab_method"] = "diffrec" if "diffrec" in methods else methods[0]
    method = c2.selectbox("Method", methods, key="lab_method", format_func=C.method_title)
    spec = registry.get(method)
    presets = list(spec.presets) or ["sample"]
    if "lab_preset" in linked:        # the link's preset goes to this method's preset widget (keyed per method)
        if st.session_state["lab_preset"] in presets:
            st.session_state[f"lab_preset_{method}"] = st.session_state["lab_preset"]
        else:
            st.warning(f"{spec.title} has no preset '{st.session_state['lab_preset']}' (it has "
                       f"{', '.join(presets)}); using {st.session_state.get(f'lab_preset_{method}', presets[0])}.")
    preset = c3.selectbox("Preset", presets, key=f"lab_preset_{method}",
                          help="Named settings from the method's file (the papers' data sets; 'sample' for the "
                               "sample world). Presets first; change single settings below.")
    st.session_state["lab_preset"] = preset           # what the link carries (the widget's key names the method)
    reason = L.why_not(method, data) if data is not None else "the data set is not loaded"
    cfg = make_config(method, preset if preset in spec.presets else "")
    trainable = bool(getattr(spec.model_cls, "trainable", True))
    k = f"{method}_{preset}"
    if trainable:
        e1, e2, e3, e4 = st.columns(4)
        epochs = e1.number_input("epochs (at most)", 1, 500, int(getattr(cfg, "epochs", 10) or 10), key=f"lab_ep_{k}")
        eval_every = e2.number_input("validate every", 1, 100, int(getattr(cfg, "eval_every", 5) or 5),
                                     key=f"lab_ev_{k}", help="epochs between two validation passes")
        patience = e3.number_input("patience", 1, 500, int(getattr(cfg, "patience", 20) or 20), key=f"lab_pa_{k}",
                                   help="stop after this many epochs without a validation gain")
        seed = e4.number_input("seed", 0, 2**31 - 1, 1, key="lab_seed")
    else:
        epochs = eval_every = patience = None
        seed = st.number_input("seed", 0, 2**31 - 1, 1, key="lab_seed")
        st.caption(f"{spec.title} has a closed form: it is fitted in one pass, then validated and tested.")
    with st.expander("More settings (key = value, one per line)"):
        st.code("\n".join(f"{f} = {v}" for f, v in vars(cfg).items()), language="ini")
        overrides_text = st.text_area("Change settings", key=f"lab_over_{method}", placeholder="lr = 0.0005\n"
                                      "steps = 20", help="Names as listed above; unknown names are an error. Epochs, "
                                      "validation interval and patience come from the fields above.")
    if reason:
        st.info(reason)
    pre = (C.get_results().get("methods") or {}).get(method) or {}
    if trainable and float(pre.get("train_seconds") or 0) > 60:
        st.caption(f"{spec.title} is slow on a CPU: its pretraining on the sample world took "
                   f"{float(pre['train_seconds']):.0f} s. The page updates after every epoch, and Stop acts between "
                   f"two epochs.")
    current = lab.get_run(st.session_state.get("lab_current"))
    busy = current is not None and not current.done
    if st.button("Train", type="primary", key="lab_train", disabled=bool(reason) or busy,
                 icon=":material/play_arrow:", help="Starts a run; the page keeps responding while it trains. "
                 "A run advances while this page is open and pauses on other pages."):
        try:
            with st.spinner(f"Preparing {spec.title}…"):
                run = L.LabRun(method, data, preset=preset if preset in spec.presets else "",
                               overrides=_parse_overrides(overrides_text), seed=int(seed), epochs=epochs,
                               eval_every=eval_every, patience=patience)
            st.session_state["lab_current"] = lab.add_run(run)
            current, busy = run, True
        except L.LabError as e:
            st.error(f"Cannot train: {e}", icon="⚠️")

    @st.fragment(run_every=POLL_SECONDS if busy else None)
    def live():
        rid = st.session_state.get("lab_current")
        run = lab.get_run(rid)
        if run is None:
            if rid:
                st.warning("That run is no longer held by the server (too many runs at once); train it again.")
            return
        if not run.done:
            _advance(run)
        s = run.summary()
        st.progress(run.progress, text=f"epoch {run.epoch} of {run.epochs}" if run.model.trainable
                    else "closed form")
        if not run.done:
            st.button("Stop", key="lab_stop", on_click=_stop, args=(rid,), icon=":material/stop:",
                      help="Stops after the current epoch and keeps the best validated weights.")
        C.say(ul.run_caption(s, running=not run.done))
        if run.history:
            a, b = st.columns(2)
            with a:
                fig = ul.loss_figure(run.history, run.epochs)
                C.chart(fig, key="lab_loss", filename=f"{run.method}_loss")
            with b:
                fig2 = ul.metric_figure(run.history, run.select, run.best_epoch, run.epochs)
                C.chart(fig2, key="lab_metrics", filename=f"{run.method}_validation")
        if run.done and busy:
            st.rerun()                                   # the whole page: downloads, the model list

    live()

    if current is not None and current.done:
        s = current.summary()
        m1, m2, m3 = st.columns(3)
        sel = current.select
        m1.metric(f"validation {sel}", f"{s['valid'].get(sel, float('nan')):.4f}" if s["valid"] else "—",
                  help="the selection metric at the kept epoch")
        tk = "ndcg@10" if sel.startswith(("ndcg", "hr")) else "recall@20"
        m2.metric(f"test {tk}", f"{s['test'].get(tk, float('nan')):.4f}" if s["test"] else "—",
                  help="scored once, with the validation-selected weights")
        m3.metric("parameters", f"{s['parameters']:,}")
        d1, _ = st.columns([1.3, 3.3])
        d1.download_button("checkpoint (zip)", data=lambda r=current: L.checkpoint_zip(r),
                           file_name=f"{current.method}_{current.data_name.replace(' ', '_')}_seed{current.seed}.zip",
                           mime="application/zip", key="lab_ckpt_dl", icon=":material/download:",
                           on_click="ignore", help="model.safetensors + config.json (never a pickle)")

        with st.expander("A trajectory of this model (CSV / NPZ / GIF)"):
            split = current.split
            u = st.number_input("user", 0, split.n_users - 1, min(int(C.current("user")), split.n_users - 1),
                                key="lab_traj_user")

            def _traj(run=current, user=int(u)):
                return run.model.trajectory(run.split, [user], k=10, seed=0)

            t1, t2, t3 = st.columns(3)
            stem = f"{current.method}_user{int(u)}"
            t1.download_button("CSV", data=lambda: ex.trajectory_csv(_traj(), item_titles=split.item_titles),
                               file_name=f"{stem}.csv", mime="text/csv", key="lab_run_csv", on_click="ignore",
                               icon=":material/download:")
            t2.download_button("NPZ", data=lambda: ex.trajectory_npz(_traj()), file_name=f"{stem}.npz",
                               mime="application/octet-stream", key="lab_run_npz", on_click="ignore",
                               icon=":material/download:")
            t3.download_button("GIF", data=lambda: ex.trajectory_gif(_traj()), file_name=f"{stem}.gif",
                               mime="image/gif", key="lab_run_gif", on_click="ignore", icon=":material/animation:")
            st.caption("Recorded when you click (seed 0): every step's state, x̂0, scores and top-10. The NPZ can be "
                       "loaded back in 'Load files'.")

    done = lab.trained_models()
    if done:
        st.subheader("Models of this session")
        ids = [None] + [rid for rid, _ in done]
        labels = {rid: r.label() for rid, r in done}
        if st.session_state.get("lab_active") not in ids:
            st.session_state["lab_active"] = None
        pages = ", ".join(lab.MODEL_PAGES.values())
        where = {rid: lab.why_not(r, C.current("dataset")) for rid, r in done}
        st.radio(f"Use in place of the pretrained model on the pages that can show it ({pages}), in this "
                 f"session", ids, key="lab_active",
                 format_func=lambda r: "the pretrained models (default)" if r is None else
                 labels[r] + (f" · shown on {pages}" if where[r] is None else " · no page can show it"),
                 help="The other pages keep their pretrained models; each page's title line says which it shows.")
        chosen = st.session_state.get("lab_active")
        if chosen is not None and where.get(chosen):
            st.caption(where[chosen])
        st.caption(f"Kept while this session lasts (at most {lab.PER_SESSION} per session; the server holds "
                   f"{L.RUNS.max_entries} in all and forgets the oldest first).")

# ================================================================================================= Data
with tab_data:
    st.markdown(f"Load your own interactions: {'; '.join(FORMATS.values())}. At most "
                f"{MAX_UPLOAD_BYTES // 2**20} MB; UTF-8 or Latin-1 text. Nothing you upload is unpickled or "
                "executed; a file that is not right gives a message saying what and where.")
    st.caption(f"The Lab's budget on this shared server (the command line has none): at most "
               f"{limits.LAB.max_users:,} users, {limits.LAB.max_items:,} items and {limits.LAB_MAX_CELLS:,} "
               f"users × items; a model of at most {limits.LAB.weight_bytes // 2**20} MB of weights, one training "
               f"epoch of at most {limits.LAB.epoch_work:.0e} weights × users (a few seconds on two CPU cores) and "
               f"{limits.LAB_MAX_EPOCHS} epochs. Data or settings beyond it are refused before training starts.")
    f1, f2 = st.columns([3, 1.3])
    up = f1.file_uploader("Interactions file", key="lab_upload", max_upload_size=MAX_UPLOAD_BYTES // 2**20,
                          help="u.data, ratings.dat, *.inter or a CSV user,item[,timestamp]")
    fmt = f2.selectbox("Format", ["auto"] + list(FORMATS), key="lab_format",
                       format_func=lambda f: "detect from the name" if f == "auto" else FORMATS[f].split(" (")[0])
    if up is not None:
        tag = (getattr(up, "file_id", None) or up.name, up.size, fmt)
        cached = st.session_state.get("lab_upload_result")
        if not cached or cached.get("tag") != tag:
            try:
                with st.spinner(f"Reading {safe_name(up.name)}…"):
                    res = load_upload(up.name, up.getvalue(), fmt=None if fmt == "auto" else fmt)
                data_id = lab.add_dataset(L.LabData(name=safe_name(up.name), log=res.log, report=res.report,
                                                    spec="upload"))
                cached = {"tag": tag, "id": data_id, "notes": res.notes, "error": None}
                st.session_state["_lab_pick_data"] = data_id     # the Train tab picks it up on the next run
            except UploadError as e:
                cached = {"tag": tag, "id": None, "notes": [], "error": str(e)}
            st.session_state["lab_upload_result"] = cached
            if cached["id"] is not None:
                st.rerun()                    # so the Train tab (drawn above) and the report below show the upload
        if cached["error"]:
            st.error(f"{safe_name(up.name)} cannot be used: {cached['error']}", icon="⚠️")
        else:
            st.success(f"{safe_name(up.name)} loaded.", icon="✅")
            for n in cached["notes"]:
                st.caption(n)
            if lab.get_dataset(cached["id"]) is not None:
                st.button("Train on it", key="lab_use_upload", on_click=_train_on, args=(cached["id"],),
                          icon=":material/model_training:")
    if recbole_ml100k() is None:
        st.caption("ML-100K with its knowledge graph is offered here when the optional RecBole package is installed: "
                   "`pip install --no-deps recbole==1.2.1` (never with its dependencies).")
    else:
        st.caption("ML-100K (with its knowledge graph) from RecBole's package data is in the Train tab's data list.")

    st.subheader("The data set chosen in the Train tab")
    shown = lab.get_dataset(st.session_state.get("lab_dataset"))
    if shown is not None:
        rep = shown.report
        cols = st.columns(3) + st.columns(3)
        for col, (label, value, help_) in zip(cols, ul.report_rows(rep)):
            col.metric(label, value, help=help_)
        C.say(ul.report_caption(rep))
        import numpy as np

        ev = shown.log.events
        fig = ul.activity_figure(np.bincount(ev["user"].to_numpy(np.int64), minlength=shown.log.n_users),
                                 np.bincount(ev["item"].to_numpy(np.int64), minlength=shown.log.n_items))
        C.chart(fig, key="lab_activity", filename=f"{rep['name']}_activity")

# ================================================================================================= Load files
with tab_files:
    st.markdown("**A checkpoint** (the zip the Train tab downloads) is checked against the data set chosen in the "
                "Train tab - format, version, method, settings, data shape, checksum and every weight's shape - "
                "and then kept as a model of this session. Pickles are never opened.")
    ck = st.file_uploader("Checkpoint (.zip)", key="lab_ckpt_up", max_upload_size=L.MAX_CHECKPOINT_BYTES // 2**20)
    if ck is not None:
        tag = (getattr(ck, "file_id", None) or ck.name, ck.size, st.session_state.get("lab_dataset"))
        cached = st.session_state.get("lab_ckpt_result")
        if not cached or cached.get("tag") != tag:
            data = lab.get_dataset(st.session_state.get("lab_dataset"))
            try:
                with st.spinner("Checking the checkpoint…"):
                    run = L.read_checkpoint_zip(ck.getvalue(), data)
                rid = lab.add_run(run)
                cached = {"tag": tag, "error": None, "label": run.label(), "id": rid}
            except L.LabError as e:
                cached = {"tag": tag, "error": str(e)}
            st.session_state["lab_ckpt_result"] = cached
            if not cached["error"]:
                st.rerun()                               # once: the Train tab above lists the new model
        if cached["error"]:
            st.error(f"{safe_name(ck.name)} cannot be loaded: {cached['error']}", icon="⚠️")
        else:
            st.success(f"Loaded {cached['label']} (validation and test re-scored here). Choose it in the Train tab "
                       f"to use it on every page.", icon="✅")

    st.markdown("**A trajectory file** (the NPZ a page's 'trajectory (NPZ)' button saves; schema "
                "`diffrec-trajectory`, version 1) is checked and shown here, and can be exported as CSV or GIF.")
    tf = st.file_uploader("Trajectory (.npz)", key="lab_traj_up", max_upload_size=ex.MAX_TRAJECTORY_BYTES // 2**20)
    if tf is not None:
        try:
            traj = ex.load_trajectory(tf.getvalue())
        except TrajectoryFormatError as e:
            st.error(f"{safe_name(tf.name)} cannot be shown: {e}", icon="⚠️")
            traj = None
        if traj is not None:
            info = ex.trajectory_summary(traj)
            st.success(f"{info['method']}: {info['steps']} steps × {info['users']} user(s) × {info['dims']} "
                       f"dimensions (T = {info['T']}, top-{info['top_k']}).", icon="✅")
            r1, r2 = st.columns(2)
            row = r1.number_input("row (user)", 0, info["users"] - 1, 0, key="lab_traj_row") if info["users"] > 1 \
                else 0
            step = r2.slider("step", 1, info["steps"], info["steps"], key="lab_traj_step") if info["steps"] > 1 \
                else 1
            fig = ul.trajectory_step_figure(traj, int(row), int(step) - 1)
            C.chart(fig, key="lab_traj_fig", filename=f"{info['method']}_step{int(step)}")
            st.caption("Blue: the user's own history (masked from the ranking); orange: this step's top-K; grey: every "
                       "other item. One y range for all steps, so heights compare across steps.")
            g1, g2, g3 = st.columns(3)
            g1.download_button("CSV", data=lambda t=traj: ex.trajectory_csv(t), file_name=f"{info['method']}_traj.csv",
                               mime="text/csv", key="lab_traj_csv", on_click="ignore", icon=":material/download:")
            g2.download_button("GIF", data=lambda t=traj, r=int(row): ex.trajectory_gif(t, r),
                               file_name=f"{info['method']}_traj.gif", mime="image/gif", key="lab_traj_gif",
                               on_click="ignore", icon=":material/animation:")
            g3.download_button("NPZ", data=lambda t=traj: ex.trajectory_npz(t), file_name=f"{info['method']}_traj.npz",
                               mime="application/octet-stream", key="lab_traj_npz", on_click="ignore",
                               icon=":material/download:")
