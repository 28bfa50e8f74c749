"""W&B mode resolution: environment, credentials (API key, ~/.netrc) and server reachability.

No network: the server check's socket call is replaced, HOME points at a temporary folder.
"""

from __future__ import annotations

import socket
from contextlib import nullcontext

import pytest

from siamlightning.loggers import wandb as wb


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No W&B variables, an empty HOME (no ~/.netrc), no server reachable."""
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    reached: list[tuple] = []

    def refuse(address, timeout=None):
        reached.append(address)
        raise OSError("no network in tests")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return reached


def _reachable(monkeypatch) -> list[tuple]:
    reached: list[tuple] = []

    def connect(address, timeout=None):
        reached.append(address)
        return nullcontext()

    monkeypatch.setattr(socket, "create_connection", connect)
    return reached


@pytest.mark.parametrize(
    ("env", "expected"),
    [("offline", "offline"), ("dryrun", "offline"), ("disabled", "disabled"), ("online", "online")],
)
def test_auto_follows_wandb_mode_from_the_environment(clean_env, monkeypatch, env, expected):
    monkeypatch.setenv("WANDB_MODE", env)
    assert wb.resolve_mode("auto") == expected
    assert clean_env == []  # decided without asking the server


def test_an_explicit_mode_wins_over_the_environment(clean_env, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    assert wb.resolve_mode("disabled") == "disabled"
    assert wb.resolve_mode("offline") == "offline"
    with pytest.raises(ValueError, match="auto, online, offline or disabled, got 'onlin'"):
        wb.resolve_mode("onlin")


def test_auto_without_credentials_is_offline(clean_env):
    assert wb.resolve_mode("auto") == "offline"
    assert clean_env == []  # no credentials: the server is not even tried


def test_auto_with_a_key_but_no_server_is_offline(clean_env, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert wb.resolve_mode("auto") == "offline"
    assert clean_env == [("api.wandb.ai", 443)]


def test_auto_with_a_key_and_a_server_is_online(clean_env, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    reached = _reachable(monkeypatch)
    assert wb.resolve_mode("auto") == "online"
    assert reached == [("api.wandb.ai", 443)]


def test_netrc_credentials_count_for_the_configured_host(clean_env, monkeypatch, tmp_path):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine wandb.example.org\n  login user\n  password secret\n")
    netrc.chmod(0o600)
    reached = _reachable(monkeypatch)
    assert wb.resolve_mode("auto") == "offline"  # the file holds another host than api.wandb.ai
    monkeypatch.setenv("WANDB_BASE_URL", "http://wandb.example.org:8080")
    assert wb.resolve_mode("auto") == "online"
    assert reached == [("wandb.example.org", 8080)]


def test_disabled_logger_writes_no_run_id(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    logger = wb.make_wandb_logger(mode="auto", save_dir=str(tmp_path / "run"))
    assert logger._wandb_init["mode"] == "disabled"
    assert not (tmp_path / "run" / "wandb_run_id.txt").exists()
