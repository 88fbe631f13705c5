"""CREMA-D adapter: file names, intended and voted labels, folds, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.data.crema_d import load_crema_d, parse_crema_name, select_crema
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import CREMAD_LABELS
from speech_fixtures import write_crema_d


def test_file_name_known_answer():
    clip = parse_crema_name("AudioWAV/1076_MTI_SAD_XX.wav")
    assert (clip.actor, clip.sentence, clip.level) == (1076, "MTI", "XX")
    assert CREMAD_LABELS.labels[clip.emotion] == "sad"
    with pytest.raises(DataFormatError, match="emotion SUR not in"):
        parse_crema_name("1001_DFA_SUR_HI.wav")
    with pytest.raises(DataFormatError, match="not a CREMA-D file name"):
        parse_crema_name("1001-DFA-ANG-HI.wav")


def test_intended_and_voted_labels_and_folds(tmp_path):
    votes = {"1001_IEO_ANG_XX": "S", "1001_TIE_DIS_XX": "A:S"}  # relabelled, and a tie
    root = write_crema_d(tmp_path / "crema", votes=votes)
    intended = select_crema(root)
    assert len(intended) == 36
    voice = dict((c.path.stem, y) for c, y in select_crema(root, labels="voice"))
    assert len(voice) == 35 and "1001_TIE_DIS_XX" not in voice  # the tie is left out
    assert voice["1001_IEO_ANG_XX"] == CREMAD_LABELS.index("sad")
    assert {c.actor for c, _ in select_crema(root, split="val", num_folds=3)} == {1003}
    data = load_crema_d(root, split="train", num_folds=3)
    assert len(data) == 24 and data.features.shape[1] == 64
    assert sorted(set(data.speakers.tolist())) == [1001, 1002]
    assert np.bincount(data.labels).tolist() == [4] * 6
    with pytest.raises(UserError, match="unknown CREMA-D labels"):
        select_crema(root, labels="crowd")


def test_missing_vote_table_names_the_file(tmp_path):
    root = write_crema_d(tmp_path / "crema", actors=(1001,), sentences=("IEO",))
    (root / "processedResults" / "summaryTable.csv").unlink()
    with pytest.raises(UserError, match="summaryTable.csv: vote table not found"):
        select_crema(root, labels="voice")
