"""Every reader is a `SourceReader`; an option a reader does not take is an error, not a warning."""

from __future__ import annotations

import inspect
import sys
import types

import pytest

from siamlightning.data import open_dataset, sources
from siamlightning.data.pairs.datamodule import TrackingDataModule
from siamlightning.data.sources import available_sources, check_options, reader, reader_options
from siamlightning.errors import ConfigError


@pytest.mark.parametrize("name", available_sources())
def test_every_reader_keeps_the_contract_and_lists_its_options(name):
    module = reader(name)
    assert isinstance(module.CACHE, bool)
    params = inspect.signature(module.load).parameters
    assert list(params)[:2] == ["root", "split"] and params["split"].default is None
    options = reader_options(module)
    assert set(options) == set(list(params)[2:])  # every option, none hidden in **kw
    assert all(p.kind is not p.VAR_KEYWORD for p in params.values())
    if "strict" in options:
        assert isinstance(options["strict"], bool)


def test_known_readers_options():
    got10k = {"sequences": None, "list_file": None, "strict": True}
    assert reader_options(reader("got10k")) == got10k
    assert {"num_sequences", "length", "seed"} <= set(reader_options(reader("synthetic")))
    assert reader("got10k").CACHE and not reader("otb").CACHE
    with pytest.raises(ConfigError, match=r"unknown dataset source 'got10'; available: .*got10k"):
        reader("got10")


def test_a_misspelt_option_is_an_error_naming_the_closest_one():
    with pytest.raises(ConfigError) as err:
        open_dataset("synthetic", None, num_sequence=2, length=4)
    msg = str(err.value)
    assert "data source 'synthetic': unknown option 'num_sequence'" in msg
    assert "(did you mean 'num_sequences'?)" in msg
    assert "synthetic accepts: difficulty, height, length, num_sequences, seed, width" in msg
    with pytest.raises(ConfigError) as err:
        check_options("synthetic", reader("synthetic"), {"lenght": 3, "zz": 1, "seed": 0})
    assert "unknown options 'lenght' (did you mean 'length'?), 'zz';" in str(err.value)
    with pytest.raises(ConfigError, match="otb accepts: frame_ranges, sequences"):
        open_dataset("otb", "/nonexistent", strict=False)  # checked before the root is


def test_a_misspelt_option_in_a_training_mix_stops_setup():
    dm = TrackingDataModule(
        train_sources=[{"name": "synthetic", "options": {"num_sequences": 2, "lenght": 5}}],
        num_workers=0,
    )
    with pytest.raises(ConfigError, match=r"'lenght' \(did you mean 'length'\?\)"):
        dm.setup("fit")


def test_a_module_breaking_the_contract_is_named(monkeypatch):
    fake = types.ModuleType("siamlightning.data.sources.fake")
    fake.load = lambda root, split=None, **kw: None
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setattr(sources, "available_sources", lambda: ["fake"])
    with pytest.raises(TypeError) as err:
        reader("fake")
    msg = str(err.value)
    assert msg.startswith("siamlightning.data.sources.fake is not a SourceReader")
    assert "CACHE" in msg and "'kw' keyword-only" in msg
