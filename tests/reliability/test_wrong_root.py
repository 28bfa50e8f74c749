"""A wrong benchmark root is an error that says what was expected and what the folder holds
(issue 8 item 5), for the library (`open_dataset`) and the CLIs (eval, prep check)."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from helpers import run_cli

from siamlightning.data import open_dataset
from siamlightning.data.tools.writers import write_got10k, write_otb, write_vot
from siamlightning.errors import DataError
from siamlightning.evaluation.result_files import write_result

OTB_EXPECTS = "the OTB layout expects <Seq>/groundtruth_rect.txt and <Seq>/img/0001.jpg below it"


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("trees")
    index = open_dataset("synthetic", None, seed=5, num_sequences=2, length=6)
    write_otb(index, base / "wrap" / "OTB100")
    write_got10k(index, base / "got", split="val")
    write_vot(index, base / "vot")
    (base / "empty").mkdir()
    return base


def test_empty_root_names_the_expected_layout(trees):
    empty = "empty: no OTB sequences found in this folder"
    with pytest.raises(DataError, match=rf"{empty}; {OTB_EXPECTS}$"):
        open_dataset("otb", trees / "empty")


def test_parent_of_the_benchmark_says_did_you_mean(trees):
    with pytest.raises(DataError, match=rf"{OTB_EXPECTS}; did you mean {trees}/wrap/OTB100\?$"):
        open_dataset("otb", trees / "wrap")


@pytest.mark.parametrize(
    ("source", "root", "holds"),
    [
        ("otb", "got", "a GOT-10k tree, not OTB (source 'got10k')"),
        ("otb", "got/val", "a GOT-10k tree, not OTB (source 'got10k')"),
        ("otb", "vot", "a VOT tree, not OTB (source 'vot')"),
        ("vot", "got/val", "a GOT-10k tree, not VOT (source 'got10k')"),
        ("got10k", "vot", "a VOT tree, not GOT-10k (source 'vot')"),
        ("vot", "wrap/OTB100", "an OTB tree, not VOT (source 'otb')"),
    ],
)
def test_another_benchmarks_tree_is_named(trees, source, root, holds):
    with pytest.raises(DataError, match=re.escape(f"this looks like {holds}") + "$"):
        open_dataset(source, trees / root)


def test_cli_eval_on_a_wrong_root_exits_1(trees, tmp_path):
    """(A missing results folder through the CLI: test_error_messages.py.)"""
    index = open_dataset("otb", trees / "wrap" / "OTB100")
    for seq in index:
        write_result(tmp_path / "res", seq.name, np.nan_to_num(seq.boxes))

    def eval_otb(results: str, root: str):
        args = (f"results={results}", f"benchmark.root={root}", "benchmark=otb", "progress=false")
        return run_cli("eval", *args, f"hydra.run.dir={tmp_path}/run", cwd=tmp_path, check=False)

    wrong = eval_otb(f"{tmp_path}/res", f"{trees}/wrap")
    assert wrong.returncode == 1
    assert f"did you mean {trees}/wrap/OTB100?" in wrong.stderr
    assert "name" not in wrong.stdout  # no (empty) table


def test_cli_prep_check_on_an_empty_root_fails_with_the_same_message(trees, tmp_path):
    out = run_cli(
        "prep",
        "check",
        "dataset=otb",
        f"root={trees}/empty",
        f"hydra.run.dir={tmp_path}/h",
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 1
    assert f"no OTB sequences found in this folder; {OTB_EXPECTS}" in out.stdout + out.stderr
