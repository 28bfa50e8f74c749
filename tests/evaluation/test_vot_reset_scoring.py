import numpy as np
import pytest
from test_vot_reset_runner import Scripted, _seq

from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.evaluation.vot_reset_runner import run_vot
from siamlightning.evaluation.vot_reset_scoring import score_vot_folder


def test_runner_output_scores_end_to_end(tmp_path):
    seq = _seq(30)
    index = SequenceIndex([seq])
    run_vot(lambda: Scripted(seq.boxes, fail_at=[10]), index, tmp_path, progress=False)
    rep = score_vot_folder(tmp_path, index, year=2018, interval=(2, 25))
    o = rep.overall.values
    assert o["failures"] == pytest.approx(1.0)
    assert rep.sequences["s"]["runs"] == 3
    # the GT box as a rect covers pixels 10..29 but its polygon 10..30 (VOT raster rules):
    # IoU = (20 * 15) / (21 * 16) on every frame outside the burn-in
    assert o["accuracy"] == pytest.approx(300 / 336)
    assert 0.0 < o["eao"] < 300 / 336 and np.isfinite(o["eao"])  # the failure costs overlap
    # sequences shorter than the year's interval give no EAO (NaN), as the toolkits do
    assert np.isnan(score_vot_folder(tmp_path, index, year=2018).value("eao"))


def test_missing_sequence_folder_names_it(tmp_path):
    seq = _seq(5)
    (tmp_path / "baseline").mkdir()
    with pytest.raises(Exception, match="no trajectories for sequence 's'"):
        score_vot_folder(tmp_path, SequenceIndex([seq]))
