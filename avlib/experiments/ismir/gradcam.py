"""Grad-CAM of the multimodal decision on both modalities (ISMIR 2017 LBD, Sec. 2.2), for a
few test videos per category.

Each map explains the category the network predicts, inside the layer the subnetwork names for
Grad-CAM (``gradcam_layer``: Inception v3's ``Mixed_7c``, the audio CNN's last convolutional
block), the other modality held at the video's own input
(:func:`avlib.analysis.gradcam.multimodal_gradcam`). ``Mixed_7c`` has one cell below about
139 px, so small frames are enlarged (bilinear) for the Grad-CAM pass when ``frame_px`` asks for
it; each example then says what the network predicts from the enlarged frame.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...analysis.gradcam import multimodal_gradcam, target_layer_name
from ...config.ismir import ISMIRConfig
from .data import AVData, unit_frames
from .schemes import SchemeResult

__all__ = ["choose_examples", "layer_cells", "gradcam_examples", "page_examples", "examples_text"]


def choose_examples(result: SchemeResult, data: AVData, *, per_category: int = 1, n_categories: int | None = None,
                    split: str = "test", seed: int = 0) -> list[int]:
    """Positions of the videos to explain: for each category (by label, in the benchmark's order;
    the first ``n_categories`` that have videos in ``split``, all when None) up to
    ``per_category`` correctly and as many wrongly predicted videos of ``split``, drawn with
    ``seed``."""
    rng = np.random.default_rng(seed)
    pred = result.predictions
    chosen, shown = [], 0
    for c in range(len(data.categories)):
        if n_categories is not None and shown >= n_categories:
            break
        if not np.any((data.labels == c) & (data.split == split)):
            continue
        shown += 1
        for correct in (True, False):
            pool = np.flatnonzero((data.labels == c) & (data.split == split) & ((pred == c) == correct))
            if len(pool):
                chosen += [int(i) for i in rng.choice(pool, min(per_category, len(pool)), replace=False)]
    return chosen


@torch.no_grad()
def layer_cells(model: nn.Module, layer: nn.Module, example: torch.Tensor) -> tuple:
    """``(height, width)`` of ``layer``'s output when ``model`` sees ``example`` (one forward pass
    in eval mode; the model's mode is restored)."""
    shapes = []
    handle = layer.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[-2:])))
    was_training = model.training
    try:
        model.eval()
        model(example)
    finally:
        handle.remove()
        model.train(was_training)
    return shapes[-1]


def gradcam_examples(result: SchemeResult, data: AVData, *, per_category: int = 1, n_categories: int | None = None,
                     split: str = "test", seed: int = 0, batch_size: int = 16,
                     frame_px: int | None = None) -> list[dict]:
    """Grad-CAM of the multimodal decision on both modalities for the videos of
    :func:`choose_examples`.

    ``frame_px``: frames smaller than this are enlarged to ``frame_px`` square for the frame
    pass only (None: as the network sees them). Returns one dict per video with ``category``,
    ``video_id``, ``label``, ``pred``, ``correct``, ``logmel (F, T)``, ``audio_map (F, T)``,
    ``frame (3, H, W) uint8`` (as the network sees it), ``frame_map (S, S)`` (S = the size of
    the Grad-CAM pass), ``frame_px`` (S), ``frame_cells`` (the cells of the frame layer's map at
    S), ``pred_at_frame_px`` (the category predicted from the frames at S), ``audio_layer`` /
    ``frame_layer`` (the target layers, e.g. ``backbone.Mixed_7c``).
    """
    chosen = choose_examples(result, data, per_category=per_category, n_categories=n_categories, split=split,
                             seed=seed)
    if not chosen:
        return []
    model, pred = result.model, result.predictions
    k = result.frame_features.shape[1]
    audio = torch.from_numpy(data.audio[chosen])
    frames = torch.from_numpy(data.frames_array(k, chosen))
    size = int(frames.shape[-1])
    x = unit_frames(frames)
    if frame_px is not None and size < frame_px:
        flat = F.interpolate(x.flatten(0, 1), size=(frame_px, frame_px), mode="bilinear", align_corners=False)
        x, size = flat.reshape(*x.shape[:3], frame_px, frame_px), int(frame_px)
    classes = pred[chosen]
    name_a = target_layer_name(model.audio, torch.zeros((2, *audio.shape[1:])))
    name_f = target_layer_name(model.visual, torch.zeros((2, 3, size, size)))
    layer_a, layer_f = model.audio.get_submodule(name_a), model.visual.get_submodule(name_f)
    cells = layer_cells(model.visual, layer_f, x[:1, 0])
    batches = [slice(s, s + batch_size) for s in range(0, len(chosen), batch_size)]
    with multimodal_gradcam(model, "audio", target_layers=[layer_a]) as cam:
        amaps = np.concatenate([cam(audio[sl], unit_frames(frames[sl]), classes[sl]) for sl in batches])
    fmaps, again = [], []
    with multimodal_gradcam(model, "frames", target_layers=[layer_f]) as cam:
        for sl in batches:
            fmaps.append(cam(audio[sl], x[sl], classes[sl]))
            again.append(cam.outputs.detach().argmax(1).cpu().numpy())
    fmaps, again = np.concatenate(fmaps), np.concatenate(again)
    return [{"category": data.categories[data.labels[i]], "video_id": data.ids[i], "label": int(data.labels[i]),
             "pred": int(pred[i]), "correct": bool(pred[i] == data.labels[i]), "logmel": data.audio[i, 0],
             "audio_map": amaps[j], "frame": frames[j, 0].numpy(), "frame_map": fmaps[j, 0], "frame_px": size,
             "frame_cells": cells, "pred_at_frame_px": int(again[j]), "audio_layer": name_a, "frame_layer": name_f}
            for j, i in enumerate(chosen)]


def page_examples(results: dict, data: AVData, cfg: ISMIRConfig, *, seed: int = 0) -> dict:
    """:func:`gradcam_examples` of each ``{scheme: SchemeResult}`` with the settings of
    ``cfg.analysis`` (examples per category, categories, the frame size of the pass), the
    videos drawn with ``seed``: ``{scheme: examples}``."""
    a = cfg.analysis
    return {scheme: gradcam_examples(r, data, per_category=a.gradcam_per_category, n_categories=a.gradcam_categories,
                                     seed=seed, frame_px=a.gradcam_frame_px)
            for scheme, r in results.items()}


def examples_text(examples: dict) -> str:
    """A sentence on the Grad-CAM pass of ``{scheme: examples}``: the target layers, the size
    of the frames and of the frame layer's map, and, for enlarged frames, how often the network
    predicts from them the category it predicts from the frames it sees."""
    done = {scheme: ex for scheme, ex in examples.items() if ex}
    if not done:
        return "No test video to explain."
    ex = next(iter(done.values()))[0]
    h, w = ex["frame_cells"]
    text = (f"Target layers: `{ex['audio_layer']}` (audio) and `{ex['frame_layer']}` (frames, {h} × {w} cells "
            f"on {ex['frame_px']} px frames).")
    if (h, w) == (1, 1):
        text += " A one-cell map is flat, so the frames are drawn without one."
    if ex["frame_px"] != ex["frame"].shape[-1]:
        same = "; ".join(f"{scheme} {sum(e['pred_at_frame_px'] == e['pred'] for e in exs)} of {len(exs)}"
                         for scheme, exs in done.items())
        text += (f" The frames, {ex['frame'].shape[-1]} px as the network sees them, are enlarged to "
                 f"{ex['frame_px']} px for the frame maps only; the network predicts the same category from the "
                 f"enlarged frame in {same} examples.")
    return text
