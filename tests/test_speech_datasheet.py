"""The speech datasheet shows accuracies in percent, as every other page does."""


def test_datasheet_tables_are_shown_in_percent_and_saved_in_fractions():
    import pandas as pd

    from avlib.data.speech.calibration import target_table
    from avlib.data.speech.datasheet import percent_display

    t = target_table()
    shown = percent_display(t)
    assert "chance (%)" in shown and "chance" in t  # the saved table keeps fractions
    assert shown["chance (%)"].tolist() == [100 * c for c in t["chance"]]
    assert shown["audio band (%)"].iloc[0] == "50–68" and t["audio band"].iloc[0] == "0.50–0.68"
    # the paper's columns are percentages already; flags and missing bands pass unchanged
    assert shown["paper AV baseline CNNxMLP (%)"].tolist() == t["paper AV baseline CNNxMLP (%)"].tolist()
    odd = percent_display(pd.DataFrame({"band": ["–"], "in_band": [None], "accuracy": [0.25]}))
    assert list(odd.columns) == ["band (%)", "in_band", "accuracy (%)"]
    assert odd["band (%)"].iloc[0] == "–" and odd["accuracy (%)"].iloc[0] == 25.0
