"""The Train view: a small run from the browser, into a user folder (runs/ by default), never results/."""
from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from lab.dashboard.common import HERE, TRAIN_DIR, USER_ERRORS, error


def view_train() -> None:
    from lab.config import RunConfig
    from lab.losses import LOSSES
    from lab.models import MODELS

    if "trained" in st.session_state:
        st.success(st.session_state.pop("trained"))
    st.markdown("Train a small run on this machine, into a folder of your own (never the committed `results/`); "
                "when it finishes the sidebar switches to that folder with the run selected.")
    out_dir = st.text_input("Train into", value=str(TRAIN_DIR), key="tr_out",
                            help="a folder of your runs; the committed reference results/ are read-only here")
    losses, models = sorted(LOSSES), sorted(MODELS)
    with st.form("train_form"):
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("Run name", value="my-run", key="tr_name")
        loss = c2.selectbox("Loss", losses, index=losses.index("laplace_kl"), key="tr_loss")
        model = c3.selectbox("Model", models, index=models.index("rcn"), key="tr_model")
        width = c1.select_slider("Width", (0.0625, 0.125, 0.25, 0.5, 1.0), value=0.25, key="tr_width")
        train_n = c2.number_input("Training faces", 8, 5000, 256, key="tr_train_n")
        test_n = c3.number_input("Test faces per subset", 4, 600, 64, key="tr_test_n")
        epochs = c1.number_input("Epochs", 1, 50, 2, key="tr_epochs")
        spec = c2.text_input("Data", value="synthetic", key="tr_data", help="synthetic, or 300w:PATH etc.")
        batch = c3.number_input("Batch size", 2, 128, 32, key="tr_batch")
        size = c1.selectbox("Synthetic image size", (64, 96, 128), index=2, key="tr_size")
        resume = c2.checkbox("continue an unfinished run of this name", value=False, key="tr_resume")
        submitted = st.form_submit_button("Start training")
    st.caption("Stay on this view until it finishes: leaving it stops the run after its last saved epoch "
               "(tick 'continue' to resume it, or `python -m lab train --name NAME --resume`).")
    if not submitted:
        return
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or ""):
        st.error(f"Run name {name!r}: use letters, digits, '.', '_' or '-' (it becomes a folder name).")
        return
    if Path(out_dir).expanduser().resolve() == (HERE / "results").resolve():
        st.error("The committed results/ folder is read-only from the dashboard: train into another folder "
                 f"(e.g. {TRAIN_DIR}).")
        return
    cfg = RunConfig(name=name, loss=loss, model=model, width=float(width), data=spec.strip(), train_n=int(train_n),
                    val_n=max(8, int(train_n) // 8), test_n=int(test_n), epochs=int(epochs), batch_size=int(batch),
                    synth_size=int(size))
    bar = st.progress(0.0, text="building the model and data ...")
    status = st.empty()

    def on_epoch(epoch: int, row: dict) -> None:
        val = f", val NME {100 * row['val_nme']:.2f}%" if "val_nme" in row else ""
        bar.progress(epoch / cfg.epochs, text=f"epoch {epoch}/{cfg.epochs}: loss {row['train_loss']:.4f}{val}")

    from lab.runner.train import train

    try:
        run = train(cfg, out_dir, resume=resume, progress=False, log=status.caption, on_epoch=on_epoch)
    except FileExistsError as e:
        st.error(f"{e}. Here: pick another name, or tick 'continue an unfinished run of this name'.")
        return
    except (*USER_ERRORS, RuntimeError) as e:
        error(e)
        return
    full = run.metrics["subsets"].get("full") or next(iter(run.metrics["subsets"].values()))
    st.session_state["trained"] = (f"Trained **{run.name}** in {run.metrics.get('train_seconds', 0):.0f} s: test NME "
                                   f"{100 * full['nme_inter_ocular']:.2f}%. It is now selected in the sidebar.")
    st.session_state["pending_run"] = run.name
    st.session_state["pending_results"] = str(out_dir)
    st.rerun()
