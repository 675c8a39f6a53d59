"""The configuration layer: dotted overrides, validation by OmegaConf, hashing, JSON."""

import dataclasses
import json
from dataclasses import dataclass, field

import pytest

from avlib.config import Config, flatten, nest_dotted
from avlib.errors import ParameterError


@dataclass(frozen=True)
class _Audio:
    epochs: int = 100
    lr: float = 1e-3
    models: tuple = (("han2016", "UC"), ("choi2016", "CC"))
    check: float | None = None


@dataclass(frozen=True)
class _Toy(Config):
    scale: str = "paper"
    seeds: tuple = (0, 1, 2)
    audio: _Audio = field(default_factory=_Audio)

    SCALES = {"paper": {}, "cpu": {"audio.epochs": 4, "seeds": [0, 1]}}
    NOTES = {"cpu": "shorter training"}


def test_nest_dotted_mixes_dotted_and_nested_keys_and_rejects_duplicates():
    assert nest_dotted({"audio.epochs": 3, "audio": {"lr": 0.1}, "seeds": [0]}) == \
        {"audio": {"epochs": 3, "lr": 0.1}, "seeds": [0]}
    assert flatten(nest_dotted({"a.b.c": 1, "a.d": 2})) == {"a.b.c": 1, "a.d": 2}
    with pytest.raises(ParameterError, match="given twice"):
        nest_dotted({"audio.epochs": 3, "audio": {"epochs": 4}})


def test_for_scale_applies_the_scale_overrides_on_the_paper_defaults():
    paper, cpu = _Toy.for_scale("paper"), _Toy.for_scale("cpu")
    assert paper == _Toy() and paper.audio.epochs == 100
    assert (cpu.scale, cpu.audio.epochs, cpu.seeds) == ("cpu", 4, (0, 1))
    assert cpu.note() == "shorter training" and paper.note() == ""
    with pytest.raises(ParameterError, match="unknown scale 'gpu'.*paper, cpu"):
        _Toy.for_scale("gpu")


def test_with_overrides_validates_keys_and_types_and_returns_frozen_tuples():
    cfg = _Toy.for_scale("cpu").with_overrides({"audio.epochs": 7, "audio.models": [["choi2016", "UC"]]})
    assert cfg.audio.epochs == 7 and cfg.audio.models == (("choi2016", "UC"),)
    assert isinstance(cfg.seeds, tuple) and hash(cfg)  # hashable: tuples all the way down
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.audio.epochs = 1
    with pytest.raises(ParameterError, match="epoch"):
        cfg.with_overrides({"audio.epoch": 3})  # a typo names the key
    with pytest.raises(ParameterError, match="Integer"):
        cfg.with_overrides({"audio.epochs": "many"})
    assert cfg.with_overrides({}) is cfg and cfg.with_overrides({"audio.check": 0.5}).audio.check == 0.5


def test_key_depends_on_the_named_parts_only_and_json_round_trips():
    a = _Toy.for_scale("cpu")
    b = a.with_overrides({"seeds": [0]})
    assert a.key("audio") == b.key("audio") and a.key() != b.key()
    assert a.key("audio") != a.with_overrides({"audio.lr": 0.1}).key("audio")
    assert len(a.key()) == 10
    data = json.loads(a.to_json())
    assert data["audio"]["models"] == [["han2016", "UC"], ["choi2016", "CC"]]
    assert a.get("audio.epochs") == 4
    with pytest.raises(ParameterError, match="no key"):
        a.get("audio.nope")
    assert a.changes() == {"scale": ("paper", "cpu"), "seeds": ([0, 1, 2], [0, 1]), "audio.epochs": (100, 4)}
