"""The long trainings of the pages checkpoint every epoch in their run's store and resume from it:
the ICMR audio and frame networks, the image-bank pre-training, and the ISMIR schemes."""

import inspect

import numpy as np
import torch

from avlib.config.ismir import ISMIRConfig
from avlib.experiments.icmr import audio as icmr_audio
from avlib.experiments.icmr import fusion as icmr_fusion
from avlib.experiments.icmr import visual as icmr_visual
from avlib.experiments.icmr.store import FeatureStore
from avlib.experiments.ismir import schemes
from avlib.train.loop import TrainConfig


def _audio_data(n=24, C=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % C
    x = rng.normal(size=(n, 96, 32)).astype(np.float32) + y[:, None, None] * 0.5
    return [a for a in x], y


def test_an_audio_training_resumes_from_its_checkpoint_to_the_same_weights(tmp_path):
    x, y = _audio_data()
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3, seed=3)
    ckpt = tmp_path / "ckpt"
    m1, h1 = icmr_audio.train_audio_model("choi2016", x, y, x[:6], y[:6], num_classes=3, config=cfg,
                                          checkpoint_dir=ckpt)
    assert (ckpt / "last.pt").is_file()
    # a second call finds the finished checkpoint: no epoch trains again, the weights are the same
    m2, h2 = icmr_audio.train_audio_model("choi2016", x, y, x[:6], y[:6], num_classes=3, config=cfg,
                                          checkpoint_dir=ckpt)
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    assert h1.to_frame()["val_loss"].tolist() == h2.to_frame()["val_loss"].tolist()
    m3, _ = icmr_audio.train_audio_model("choi2016", x, y, x[:6], y[:6], num_classes=3, config=cfg)
    for (k, a), (_, b) in zip(m1.state_dict().items(), m3.state_dict().items()):
        assert torch.equal(a, b), k  # and the same as a run without checkpoints


def test_checkpoint_folders_follow_the_run_and_its_configuration(tmp_path):
    store = FeatureStore(tmp_path / "seed0")
    a = store.checkpoint_dir("audio_choi2016_UC", "key-1")
    assert a.parent == store.root / "checkpoints" and a != store.checkpoint_dir("audio_choi2016_UC", "key-2")
    a.mkdir(parents=True)
    (a / "last.pt").write_bytes(b"x")
    store.finish("audio_choi2016_UC", "key-1")
    assert not a.exists()
    cfg = ISMIRConfig.for_scale("cpu")
    assert schemes.scheme_key(cfg, "joint", 0) != schemes.scheme_key(cfg, "joint", 1)
    assert schemes.scheme_key(cfg, "joint", 0) != schemes.scheme_key(cfg.with_overrides({"joint.epochs": 3}), "joint", 0)
    assert schemes.scheme_key(cfg, "feature extraction", 0) == \
        schemes.scheme_key(cfg.with_overrides({"joint.epochs": 3}), "feature extraction", 0)


def test_every_long_training_takes_a_checkpoint_folder():
    """The functions that train for hours at the paper scale accept a checkpoint folder and
    pass it on to ``fit``."""
    for fn in (icmr_audio.train_audio_model, icmr_visual.train_frame_model, icmr_visual.pretrain_on_image_bank,
               schemes.train_feature_extraction_scheme, schemes.train_joint_scheme, schemes.run_joint_scheme,
               icmr_fusion.train_fusion):
        assert "checkpoint_dir" in inspect.signature(fn).parameters, fn.__name__
    for fn in (icmr_audio.run_audio_model, icmr_visual.run_visual_model, icmr_visual.pretrained_backbone,
               schemes.run_feature_extraction_scheme, schemes.run_schemes_seeds, icmr_fusion.run_fusion_model):
        assert "checkpoint_dir(" in inspect.getsource(fn), fn.__name__


def test_the_fusion_trains_the_same_with_a_checkpoint_folder_and_resumes_from_it(tmp_path):
    rng = np.random.default_rng(0)
    k, C = 2, 3
    x = rng.normal(size=(40, 2 * k + 1, 1024)).astype(np.float32)
    y = rng.integers(0, C, size=40)
    cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-3, seed=4)
    args = dict(n_frames=k, num_classes=C, config=cfg, device=torch.device("cpu"))
    _, plain = icmr_fusion.train_fusion(x[:30], y[:30], x[30:], y[30:], **args)
    _, saved = icmr_fusion.train_fusion(x[:30], y[:30], x[30:], y[30:], checkpoint_dir=tmp_path / "ck", **args)
    keys = ("train_loss", "val_loss", "val_acc")
    assert [[e[q] for q in keys] for e in plain.epochs] == [[e[q] for q in keys] for e in saved.epochs]
    assert (tmp_path / "ck" / "last.pt").is_file()
    # two epochs, then the rest from the checkpoint: the same three epochs as one run
    short = TrainConfig(epochs=3, batch_size=8, lr=1e-3, seed=4)
    ck2 = tmp_path / "ck2"
    import avlib.train.loop as loop

    calls = {"n": 0}
    real_run_epoch = loop._run_epoch

    def stop_after_two(*a, **kw):
        if kw.get("optimizer") is not None:
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
        return real_run_epoch(*a, **kw)

    loop._run_epoch = stop_after_two
    try:
        icmr_fusion.train_fusion(x[:30], y[:30], x[30:], y[30:], checkpoint_dir=ck2, **{**args, "config": short})
    except KeyboardInterrupt:
        pass
    finally:
        loop._run_epoch = real_run_epoch
    _, resumed = icmr_fusion.train_fusion(x[:30], y[:30], x[30:], y[30:], checkpoint_dir=ck2,
                                          **{**args, "config": short})
    assert [[e[q] for q in keys] for e in resumed.epochs] == [[e[q] for q in keys] for e in plain.epochs]
