"""The reader checks of ``python -m avlib.bookcheck --readers`` find what they promise."""

import nbformat

from avlib.bookcheck import TABLE_MAX_CHARS, check_outputs, check_pages

_PAGE = """<html><body><article>{}</article></body></html>"""


def _page(tmp_path, body, name="book/page.html"):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_PAGE.format(body), encoding="utf-8")
    return tmp_path


def test_a_clean_page_passes(tmp_path):
    body = ('<figure><img src="a.png" alt="x"><figcaption><span class="caption-number">Fig. 1 </span>'
            "Accuracy per epoch.</figcaption></figure>"
            "<table><tr><th>model</th><th>Hit@1</th></tr><tr><td>Choi</td><td>73.1</td></tr>"
            "<tr><td>Han</td><td>0.05</td></tr></table><p>One paragraph.</p>")
    assert check_pages(_page(tmp_path, body)) == []


def test_figures_need_a_numbered_caption(tmp_path):
    body = ('<img src="bare.png">'
            '<figure><img src="nocap.png"></figure>'
            '<figure><img src="nonum.png"><figcaption>Words only.</figcaption></figure>')
    problems = check_pages(_page(tmp_path, body))
    assert [p.split("figure ")[1].split(" ")[0] for p in problems] == ["bare.png", "nocap.png", "nonum.png"]


def test_padded_numbers_wide_tables_and_repeated_paragraphs_are_found(tmp_path):
    wide = "".join(f"<th>{'w' * 30}{i}</th>" for i in range(TABLE_MAX_CHARS // 24 + 1))
    para = "<p>" + "The same long settings paragraph, repeated on every table of the page. " * 2 + "</p>"
    body = ("<table><tr><td>73.100</td><td>5154.00</td><td>73.10</td></tr></table>"
            f"<table><tr>{wide}</tr></table>" + para + para)
    problems = check_pages(_page(tmp_path, body))
    assert any("'73.100'" in p for p in problems)
    assert any("characters wide" in p for p in problems)
    assert any("appears 2 times" in p for p in problems)
    # "73.10" (two decimals, the paper's precision) and "0.05" are fine; 5154.00 is an integer in disguise
    t = _page(tmp_path / "b", "<table><tr><td>5154.00</td></tr></table>")
    assert any("'5154.00'" in p for p in check_pages(t))
    # an unrounded share, as the instrument datasheet once printed; a p-value of 0.00128 is fine
    t = _page(tmp_path / "c", "<table><tr><td>2.245319446111111</td><td>0.00128</td></tr></table>")
    assert [p.split("prints ")[1] for p in check_pages(t)] == ["'2.245319446111111' (unrounded)"]


def test_outputs_with_reprs_warnings_or_tracebacks_are_found(tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("scale = 'cpu'", metadata={"tags": ["parameters"]})
    params.outputs = [nbformat.v4.new_output("stream", name="stdout", text="{'ignored': 1}")]
    repr_cell = nbformat.v4.new_code_cell("p")
    repr_cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "PosixPath('results/x.csv')"},
                                                execution_count=1)]
    warn = nbformat.v4.new_code_cell("w")
    warn.outputs = [nbformat.v4.new_output("stream", name="stderr", text="UserWarning: tight layout")]
    fine = nbformat.v4.new_code_cell("t")
    fine.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<table></table>",
                                                                 "text/plain": "{'a': 1}"})]
    nb.cells = [params, repr_cell, warn, fine]
    nbformat.write(nb, tmp_path / "page.ipynb")
    problems = check_outputs(tmp_path)
    assert any("cell 1 prints 'PosixPath('" in p for p in problems)
    assert any("cell 2 writes to stderr" in p for p in problems)
    assert not any("cell 0" in p or "cell 3" in p for p in problems)


def test_count_columns_show_integers_even_when_all_are_zero():
    import pandas as pd

    from avlib.report import format_column

    counts = pd.Series([0, 0, 0])
    assert [format_column(counts)(v) for v in counts] == ["0", "0", "0"]
    assert format_column(pd.Series([1608, 3]))(1608) == "1,608"
    assert format_column(pd.Series([0.5, 0.25]))(0.5) == "0.50"  # fractions keep their decimals
    assert format_column(pd.Series([0.0, 0.0]))(0.0) == "0.00"  # a float column of zeros stays a float
