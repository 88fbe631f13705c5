"""``evaluate --dataset caer_s / emotic_clef`` head tables: multi-label heads print no
macro-F1 column (they have none), single-label heads print theirs."""

from __future__ import annotations

from emoscope.cli.caer_cmd import format_heads


def test_multilabel_heads_print_no_nan_column():
    report = {"mAP": 0.31, "heads": {"factual": {"mAP": 0.25}, "tie": {"mAP": 0.31}}}
    assert format_heads(report) == (
        "head                 mAP\n"
        "factual           0.2500\n"
        "tie               0.3100  <- debiased\n")


def test_single_label_heads_keep_macro_f1():
    report = {"accuracy": 0.5, "heads": {"factual": {"accuracy": 0.5, "macro_f1": 0.4}}}
    text = format_heads(report)
    assert "macro-F1" in text and "0.4000" in text and "nan" not in text
