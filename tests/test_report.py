"""Reports that navigate and results that belong to their run (issue 13), on tiny synthetic
executed notebooks and summaries in a temporary SSB_OUTPUT_DIR: no kernel, no data."""
from __future__ import annotations

import copy
import json
import struct
import zlib
from pathlib import Path

import nbformat
import pytest

from ssb import claims, notebook_pages, report, results, runner, verdict_text
from ssb.profiles import get_profile

from summaries import check, holding_summary  # noqa: E402  (shared builders)


def write_png(path: Path, width: int, height: int) -> None:
    """A valid grey PNG of the given size."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# ----------------------------------------------------------------------------- results of a run


def test_results_name_is_the_profile_plus_sorted_overrides():
    assert results.results_name(get_profile("quick")) == "quick"
    assert results.results_name("quick") == "quick"
    assert results.results_name(get_profile("quick", block=5)) == "quick-block5"
    assert results.results_name(get_profile("quick", steps=800, block=5)) == "quick-block5-steps800"
    assert results.results_name(get_profile("quick", block=5)) == results.results_name("quick", {"block": 5})
    with_path = results.results_name("quick", {"checkpoint": "/some/where/other_bert"})
    assert with_path.startswith("quick-checkpointother_bert.") and "/" not in with_path
    assert with_path != results.results_name("quick", {"checkpoint": "/elsewhere/other_bert"})
    long = results.results_name("quick", {f"field{i}": "x" * 20 for i in range(6)})
    assert len(long) <= 80 and long.startswith("quick-")


def test_a_run_with_overrides_leaves_the_profile_folder_untouched(out_root):
    committed = results.update_summary("quick", "apt", {"spearman_freq": 0.5})
    before = {p.name: p.read_bytes() for p in (out_root / "figures" / "quick").iterdir()}

    P = get_profile("quick", block=5)                  # what a notebook gets with -p block 5
    results.update_summary(P, "apt", {"spearman_freq": 0.1})
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure()
    results.save_figure(fig, P, "02_apt")
    plt.close(fig)

    after = {p.name: p.read_bytes() for p in (out_root / "figures" / "quick").iterdir()}
    assert after == before and committed["apt"]["spearman_freq"] == 0.5
    own = json.loads((out_root / "figures" / "quick-block5" / "summary.json").read_text())
    assert own["overrides"] == {"block": 5} and own["apt"]["spearman_freq"] == 0.1
    assert (out_root / "figures" / "quick-block5" / "02_apt.png").is_file()


def test_the_runner_plan_of_an_override_run_names_its_own_folders(out_root):
    args = runner.build_parser().parse_args(["--profile", "quick", "-p", "block", "5"])
    plan = runner.build_plan(args)
    assert plan.results_name == "quick-block5"
    assert notebook_pages.reports_dir(plan.results_name) == out_root / "reports" / "quick-block5"
    plain = runner.build_plan(runner.build_parser().parse_args(["--profile", "quick"]))
    assert plain.results_name == "quick" and plain.run_id != "" 


def test_inside_a_run_context_every_writer_uses_the_runs_folder_and_id(out_root):
    with results.run_context("run-a", "quick-block5", {"block": 5}):
        results.update_summary("quick", "apt", {"spearman_freq": 0.3})    # a notebook passing the bare name
        assert results.current_run_id() == "run-a"
    assert not (out_root / "figures" / "quick").exists()
    summary = results.load_summary("quick-block5")
    assert summary["apt"]["written_by"]["run_id"] == "run-a" and summary["overrides"] == {"block": 5}
    assert results.RUN_ID_ENV not in __import__("os").environ          # restored


def test_current_run_sections_keep_only_that_runs_values(out_root):
    with results.run_context("run-a", "smoke"):
        results.update_summary("smoke", "apt", {"spearman_freq": 0.3})
        results.update_summary("smoke", "hull", {"violations": 0})
    with results.run_context("run-b", "smoke"):
        results.update_summary("smoke", "hull", {"violations": 1})
    summary = results.load_summary("smoke")
    summary["old"] = {"x": 1}                                             # written before stamps existed
    current = results.current_run_sections(summary, "run-b")
    assert set(current) == {"profile", "overrides", "hull"} and current["hull"]["violations"] == 1
    stale = results.stale_sections(summary, "run-b")
    assert set(stale) == {"apt", "old"} and stale["apt"]["run_id"] == "run-a" and stale["old"] is None
    note = results.describe_stale(stale)
    assert "apt (" in note and "run run-a" in note and "old (time unknown)" in note
    assert results.current_run_sections(summary, None) == summary          # interactive: nothing hidden
    assert "written_by" not in json.dumps(results.strip_timings(summary))  # reproducibility ignores stamps


# ----------------------------------------------------------------------------- notebook pages


def executed_notebook(path: Path, heading: str, claims_cell: str, marker: str) -> Path:
    """An executed-looking notebook: heading, papermill's injected cell, a bookkeeping cell,
    a claim check with a tqdm warning on stderr."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    injected = nbformat.v4.new_code_cell('profile = "smoke"\ndata_dir = "/very/absolute/data-path-xyz"')
    injected.metadata["tags"] = ["injected-parameters"]
    bookkeeping = nbformat.v4.new_code_cell(f"results.update_summary(P, 'apt', {{'{marker}': 1}})")
    bookkeeping.metadata["tags"] = ["bookkeeping"]
    check = nbformat.v4.new_code_cell(claims_cell)
    check.outputs = [nbformat.v4.new_output("stream", name="stderr", text=(
        "/x/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update jupyter and ipywidgets.\n"
        "  from .autonotebook import tqdm as notebook_tqdm\nreal-warning-kept\n")),
        nbformat.v4.new_output("stream", name="stdout", text="science-output-abc\n")]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {heading}\n\nText."), injected,
                nbformat.v4.new_markdown_cell("## Claim check"), bookkeeping, check]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_claims_checked_reads_the_claims_show_calls():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('claims.show(results.load_summary(P), ["C1", "C3"])'),
                nbformat.v4.new_code_cell("claims.show(summary, ['C3'])\nx = [1]"),
                nbformat.v4.new_markdown_cell('claims.show(s, ["C6"])')]
    assert notebook_pages.claims_checked(nb) == ["C1", "C3"]


def test_notebook_pages_have_title_backlink_anchors_and_reader_mode(out_root):
    out_dir = out_root / "reports" / "smoke"
    executed = executed_notebook(out_dir / "03_nodes.ipynb", "Nodes after pre-training",
                                 'claims.show(results.load_summary(P), ["C1", "C3"])', "bookkeeping-marker-q")
    page = out_dir / "03_nodes.html"
    runner.render_html(executed, page)

    reader = page.read_text()
    assert "<title>03_nodes — Nodes after pre-training</title>" in reader
    assert 'href="index.html"' in reader and 'href="03_nodes.all-cells.html"' in reader
    assert 'id="claim-C1"' in reader and 'id="claim-C3"' in reader
    assert "science-output-abc" in reader and "real-warning-kept" in reader
    assert "bookkeeping-marker-q" not in reader and "data-path-xyz" not in reader
    assert "IProgress" not in reader and "autonotebook" not in reader

    full = notebook_pages.full_page(page).read_text()
    assert "bookkeeping-marker-q" in full and "data-path-xyz" in full and 'href="03_nodes.html"' in full
    kept = nbformat.read(executed, as_version=4)                          # the .ipynb keeps everything
    assert len(kept.cells) == 5 and "IProgress" in kept.cells[-1].outputs[0]["text"]


def test_index_links_claims_to_sections_groups_figures_and_shows_only_this_run(out_root):
    out_dir = out_root / "reports" / "smoke"
    for stem, heading, claim in (("02_apt", "APT", "C6"), ("03_nodes", "Nodes", "C1")):
        executed = executed_notebook(out_dir / f"{stem}.ipynb", heading, f'claims.show(s, ["{claim}"])', "m")
        runner.render_html(executed, out_dir / f"{stem}.html")
    assert notebook_pages.write_combined("smoke") == out_dir / "all_notebooks.html"
    fig_dir = out_root / "figures" / "smoke"
    write_png(fig_dir / "03_node_map.png", 900, 300)          # wide: a three-panel figure
    write_png(fig_dir / "02_apt.png", 300, 300)
    write_png(fig_dir / "99_misc.png", 20, 20)
    with results.run_context("run-old", "smoke"):
        results.update_summary("smoke", "apt", {"mean_by_block": [0.1, 0.2], "spearman_freq": 0.777})
    with results.run_context("run-new", "smoke"):
        results.update_summary("smoke", "hull", {"violations": 0})

    page = report.write_index("smoke", "run-new").read_text()
    assert "<title>Single-nodal SSB — smoke</title>" in page
    assert 'href="03_nodes.html#claim-C1"' in page and 'href="02_apt.html#claim-C6"' in page
    assert "0.777" not in page and "Left out, from earlier runs: apt" in page        # stale C6 value
    assert page.index("<h3>C1 ") < page.index("03_node_map.png") < page.index("<h3>C6 ") \
        < page.index("02_apt.png") < page.index("<h3>Other figures</h3>") < page.index("99_misc.png")
    assert '<figure><a class="thumb" href="../../figures/smoke/03_node_map.png"' in page   # uniform, wide or not
    assert 'href="all_notebooks.html"' in page and 'href="03_nodes.all-cells.html"' in page
    assert "03_nodes.all-cells</a>" not in page                          # not listed as a notebook
    assert "docs/method.md" in page

    everything = report.write_index("smoke").read_text()                 # no run id: whole summary
    assert "0.777" in everything

    combined = (out_dir / "all_notebooks.html").read_text()
    assert "<title>Single-nodal SSB — all notebooks — smoke</title>" in combined
    assert 'href="#02_apt"' in combined and 'href="#03_nodes"' in combined
    assert 'id="03_nodes-claim-C1"' in combined and 'id="02_apt-claim-C6"' in combined
    assert combined.index('id="02_apt"') < combined.index('id="03_nodes"')
    assert "data-path-xyz" not in combined and "page-break-before" in combined


# ----------------------------------------------------------------------------- tables


def test_tables_print_integers_as_integers_without_duplicate_index():
    import pandas as pd
    from ssb import tables

    df = pd.DataFrame({"relation": ["P17 country of citizenship of a person who is long-named indeed", "P31"],
                       "articles": [120.0, 3.0], "tokens": [1228800.0, 5.0], "accuracy": [0.054321, 0.25]})
    tidy = tables.tidy(df)
    assert str(tidy["articles"].dtype) == "Int64" and str(tidy["accuracy"].dtype) == "float64"
    assert list(tidy.columns) == ["relation", "articles", "tokens", "accuracy"]      # 0..N-1 index dropped
    text = tables.text_table(df, wrap=30)
    assert "1,228,800" in text and "e+06" not in text and "120.000000" not in text and " 120" in text
    assert "0.0543" in text and "0.250" in text
    assert "long-named" in text and all(len(line) < 80 for line in text.splitlines())   # wrapped, not cut
    assert text.splitlines()[1].startswith("P17 ")                                      # text left-aligned
    html = tables.styled(df).to_html()
    assert "text-align: left" in html and "1,228,800" in html and ">0<" not in html     # no index column

    keyed = df.set_index("relation", drop=False)                       # index equal to a column: hidden
    assert list(tables.tidy(keyed).columns) == list(df.columns)
    named = df.set_index("relation")                                   # a meaningful index: kept as a column
    assert list(tables.tidy(named).columns)[0] == "relation"
    with pytest.raises(TypeError):
        tables.tidy([1, 2])


def test_tables_format_number():
    from ssb.tables import format_number
    assert format_number(3) == "3" and format_number(1234567) == "1,234,567"
    assert format_number(0.0031234) == "0.00312" and format_number(12.345) == "12.3"
    assert format_number(float("nan")) == "" and format_number(2.5e-7) == "2.50e-07"


def test_notebooks_meta_sets_the_project_kernel_and_keeps_cells(tmp_path):
    from ssb import notebooks_meta

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ssb)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    assert notebooks_meta.main(["--check", str(path)]) == 1
    assert notebooks_meta.set_kernelspec([path]) == [path]
    again = nbformat.read(path, as_version=4)
    assert again.metadata["kernelspec"] == notebooks_meta.KERNELSPEC and again.cells[0].source == "x = 1"
    assert notebooks_meta.main(["--check", str(path)]) == 0 and notebooks_meta.set_kernelspec([path]) == []


# ----------------------------------------------------------------------------- the claims for a reader


def test_measured_strings_come_from_the_summary():
    s = holding_summary()
    rows = {r["claim"]: r for r in verdict_text.claims_table(s)}
    assert "3" in rows["C1"]["measured"] and "7" in rows["C1"]["measured"]     # base-rate and 1/C rule counts
    assert "0.6 [0.55, 0.7]" in rows["C1"]["interval"] and "> 0.05" in rows["C1"]["null"]
    assert "1.37" in rows["C3"]["measured"] and "== 0" in rows["C3"]["null"]
    assert "0.61" in rows["C6"]["measured"]
    assert "statistic of small_sets" in rows["C1"]["statistic"]


def test_markdown_contains_numbers_figures_and_escapes():
    s = holding_summary()
    figures = ["03_node_token_map.png", "07_efficiency.png", "99_extra.png"]
    md = verdict_text.claims_markdown(s, figures)
    assert md == verdict_text.claims_markdown(copy.deepcopy(s), list(figures))     # deterministic
    # the dashboard: four short columns, the verdict second, a link to each claim's details
    assert "| claim | verdict | why: evidence checks (core first) | core check |" in md
    dashboard = md[md.index("| claim | verdict"):md.index("## Details per claim")]
    assert all(line.count(" | ") == 3 for line in dashboard.strip().splitlines() if line.startswith("| ["))
    assert md.count("| **holds** |") == 6 and "(core) ✓" in md and "[**C1**](#c1-details)" in md
    details = md[md.index("## Details per claim"):]
    assert details.count("- **Pass if:**") == 6 and "### C1 details" in details
    for number in ("0.6 [0.55, 0.7]", "1.37", "0.61"):
        assert number in md
    assert "![03_node_token_map](03_node_token_map.png)" in md
    figs = md[md.index("## Figures"):]
    c1 = figs.index("### C1"), figs.index("03_node_token_map.png)")
    assert c1[0] < c1[1] < figs.index("### C5") < figs.index("07_efficiency.png)") < figs.index("### Other figures")
    s["nodes_pretrain"]["median_tokens_recognized_head"] = "x|<y>"
    md = verdict_text.claims_markdown(s)
    assert "x\\|&lt;y&gt;" in md and "## Figures" not in md
    with pytest.raises(ValueError, match="summary"):
        verdict_text.claims_table([1, 2])
    with pytest.raises(ValueError, match="summary"):
        claims.claims_summary([1, 2])


def test_write_claims_markdown_and_index(tmp_path, monkeypatch):
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    s = holding_summary()
    s["nodes_pretrain"]["stats"]["checks"]["node_specific"]["passed"] = False      # C1 partly
    fig_dir = results.figures_dir("smoke")
    (fig_dir / "summary.json").write_text(json.dumps(s))
    (fig_dir / "03_node_token_map.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    md_path = verdict_text.write_claims_markdown("smoke")
    assert md_path == fig_dir / "claims.md"
    md = md_path.read_text()
    assert "![03_node_token_map](03_node_token_map.png)" in md and "**partly**" in md
    reports = tmp_path / "reports" / "smoke"
    reports.mkdir(parents=True)
    text = report.write_index("smoke").read_text()
    assert "partly" in text and report.VERDICT_COLOURS["partly"] in text


def test_show_prints_the_selected_claims(capsys):
    report.show_claims(holding_summary(), ["C5", "C3"])
    out = capsys.readouterr().out
    assert "C3 Deterministic dynamics: HOLDS" in out and "C5 Convex hull: HOLDS" in out
    assert out.index("C3") < out.index("C5") and "C1" not in out and "1.37" in out and "gate:" in out
    report.show_claims({}, ["C6"])
    assert "C6 APT: NOT MEASURED" in capsys.readouterr().out
    with pytest.raises(ValueError, match="C7"):
        report.show_claims(holding_summary(), ["C7"])


def test_not_testable_says_which_gate_failed_and_which_profile_to_run():
    """A "not testable" verdict names its failed gates, the profile, and the larger profile."""
    summary = {"profile": "quick", "pretrain": {"variants": {"main": {"gate": {"passed": False, "value": 0.05, "null": 0.05}}}},
               "apt": {"stats": {"gates": {"probe_block_6": {"passed": True}},
                                 "checks": {"frequency": {"passed": True, "direction": "greater"}}}}}
    row = {r["claim"]: r for r in verdict_text.claims_table(summary)}["C6"]
    assert row["verdict"] == "not testable"
    assert "not testable on quick" in row["why"] and "backbone" in row["why"] and "`standard`" in row["why"]
    assert "probe[block 6]" not in row["why"]               # that gate passed
    assert row["why"] in verdict_text.claims_markdown(summary) and row["why"] in verdict_text.claims_text(summary)
    assert "class=\"why\"" in report.claims_html(summary)
    summary["pretrain"]["variants"]["main"]["gate"]["passed"] = True
    why = {r["claim"]: r for r in verdict_text.claims_table(summary)}["C6"]["why"]
    assert why == "frequency (core) ✓ · grows along blocks –"          # the checks at a glance


# ----------------------------------------------------------------------------- the index at a glance


def test_an_override_runs_index_leads_with_its_claims_beside_the_base_profiles(out_root):
    """quick-block5 measured C1 and C3; the base profile quick (figures/quick/summary.json) has all six,
    its C3 contradicted: the comparison shows both verdicts and core checks, the differing one
    highlighted; the four claims not measured share one line."""
    base = copy.deepcopy(holding_summary())
    base["profile"] = "quick"
    base["ssb"]["stats"]["checks"]["eps_amplified"] = check("eps_amplified", -0.05, [-0.07, -0.03], 0.0, "greater")
    (out_root / "figures" / "quick").mkdir(parents=True)
    (out_root / "figures" / "quick" / "summary.json").write_text(json.dumps(base))
    mine = holding_summary()
    with results.run_context("run-b5", "quick-block5", {"block": 5}):
        for section in ("pretrain", "ssb"):
            results.update_summary(get_profile("quick", block=5), section, mine[section])
        results.update_summary("quick-block5", "nodes_pretrain", mine["nodes_pretrain"])   # as a notebook may record it
        page = report.index_html("quick-block5", "run-b5")
    compare = page[page.index('<table class="compare">'):]
    compare = compare[:compare.index("</table>")]
    assert page.index('<table class="compare">') < page.index("<h2>Claims</h2>")        # it leads
    assert "block = 5" in compare and "base profile <code>quick</code>" in compare
    box = page[page.index('<div class="params"'):page.index("<details>", page.index('<div class="params"'))]
    assert "profile <code>quick</code>" in box and "block = 5</span> (profile: 6)" in box
    rows = compare.split("<tr>")[2:]
    assert [r[r.index("<b>") + 3:r.index("</b>")] for r in rows] == ["C1", "C3"]
    c1, c3 = rows
    assert c1.count("holds") == 2 and "changed" not in c1
    assert c3.count('class="changed"') == 2 and "holds" in c3 and "does not hold" in c3
    mine_cell, base_cell = c3.split("</td>")[1:3]                 # the core checks' numbers, each side its own
    assert "eps_amplified 0.05 [0.03, 0.07]" in mine_cell and "eps_amplified -0.05 [-0.07, -0.03]" in base_cell
    claims_part = page[page.index("<h2>Claims</h2>"):page.index("<h2>Notebook reports</h2>")]
    assert claims_part.lower().count("not measured") == 1 and "Not measured in this run (4 of 6" in claims_part
    assert all(f">{c}</span>" in claims_part for c in ("C2", "C4", "C5", "C6"))

    (out_root / "figures" / "quick" / "summary.json").unlink()   # no base: said so, no table
    with results.run_context("run-b5", "quick-block5", {"block": 5}):
        page = report.index_html("quick-block5", "run-b5")
    assert '<table class="compare">' not in page and "No base numbers to compare with" in page
    assert '<table class="compare">' not in report.index_html("quick")   # a profile's own run compares with nothing


def test_effective_parameters_box_highlights_the_overrides():
    box = notebook_pages.effective_parameters_html("quick", {"block": 5, "checkpoint": None, "steps": 800},
                                           {"data_dir": "/nowhere/data"})
    head = box[:box.index("<details>")]
    assert 'class="override"' in head and "block = 5</span> (profile: 6)" in head
    assert "steps = 800</span> (profile: 300)" in head and "checkpoint" not in head
    folded = box[box.index("<details>"):]
    assert folded.count('class="override"') == 2 and "lr = 0.0005" in folded and "n_blocks = 6" in folded
    assert "no overrides" in notebook_pages.effective_parameters_html("quick")


def test_reader_page_shows_the_effective_parameters_after_the_parameters_cell(out_root):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = 'quick'\nblock = None  # params-marker")
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell("profile = 'quick'\nblock = 5")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), params, injected, nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["papermill"] = {"parameters": {"profile": "quick", "block": 5, "data_dir": None, "force": False}}
    path = out_root / "reports" / "quick-block5" / "05_x.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    notebook_pages.render_notebook_html(path, path.with_suffix(".html"))
    reader = path.with_suffix(".html").read_text()
    assert "Effective parameters" in reader and "block = 5</span> (profile: 6)" in reader
    assert reader.index("params-marker") < reader.index("Effective parameters") < reader.index("x</span>")   # right below the parameters cell
    notebook_pages.render_notebook_html(path, out_root / "full.html", reader=False)
    assert "Effective parameters" not in (out_root / "full.html").read_text()     # every cell: the injected one shows it


def test_gallery_captions_each_figure_with_its_what_to_look_for_sentence(out_root):
    out_dir = out_root / "reports" / "smoke"
    out_dir.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('fig = plots.x()\nresults.save_figure(fig, P, "03_map")'),
                nbformat.v4.new_markdown_cell("**What to look for.** Rows: nodes; columns: tokens. C1 predicts a "
                                              "sparse, scattered map. A full column means a frequency effect."),
                nbformat.v4.new_code_cell('results.save_figure(fig, P, "03_hist")'),
                nbformat.v4.new_markdown_cell("Bars: the share of nodes. Nothing else here."),
                nbformat.v4.new_code_cell('results.save_figure(fig, P, "03_other")'),
                nbformat.v4.new_markdown_cell("**What to look for.** Bars: the share of nodes per |R|.")]
    nbformat.write(nb, out_dir / "03_nodes.ipynb")
    for stem, size in (("03_map", (900, 300)), ("03_hist", (300, 300)), ("03_other", (400, 300)), ("03_bare", (50, 50))):
        write_png(out_root / "figures" / "smoke" / f"{stem}.png", *size)
    captions = report.figure_captions([out_dir / "03_nodes.ipynb"])
    assert set(captions) == {"03_map", "03_hist", "03_other"} and captions["03_hist"] == captions["03_other"]
    page = report.index_html("smoke")
    gallery = page[page.index('<div class="gallery">'):]
    figures = gallery.split("<figure>")[1:]
    assert len(figures) == 4 and all('<a class="thumb" href="../../figures/smoke/' in f for f in figures)
    by_name = {f[f.index('alt="') + 5:f.index('" loading')]: f for f in figures}
    assert "C1 predicts a sparse, scattered map." in by_name["03_map"]
    assert "<figcaption><span class=\"file\">03_map.png</span>C1 predicts" in by_name["03_map"]
    assert "Bars: the share of nodes per |R|." in by_name["03_hist"] and "Nothing else here" not in page
    assert "<figcaption><span class=\"file\">03_bare.png</span></figcaption>" in by_name["03_bare"]
    assert ".gallery a.thumb { display: block; height: 190px" in page and "object-fit: contain" in page


def test_the_real_notebooks_caption_their_committed_figures():
    """Every figure of figures/quick has a "What to look for" sentence in the notebooks."""
    repo = Path(__file__).resolve().parents[1]
    captions = report.figure_captions(sorted((repo / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    missing = [p.stem for p in sorted((repo / "figures" / "quick").glob("*.png")) if p.stem not in captions]
    assert not missing, missing
    assert "C1 predicts" in report.look_for_sentence(captions["03_recognized_histogram"])
