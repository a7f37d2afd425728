"""ssb.bench.fidelity: two runs' verdicts and the records behind them, compared."""
import copy
import json

from ssb.bench import fidelity

from summaries import holding_summary


def test_same_verdicts_despite_drifting_values_exit_zero(tmp_path, capsys):
    a = holding_summary()
    b = copy.deepcopy(a)
    b["hull"]["stats"]["checks"]["gap_grows"]["value"] *= 1.1        # float drift, same outcome
    verdicts, records = fidelity.compare(a, b)
    assert verdicts["same"].all() and records["same"].all()
    row = records[records["path"] == "hull.stats.checks.gap_grows"].iloc[0]
    assert row["value_a"] != row["value_b"]
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a)), pb.write_text(json.dumps(b))
    out = tmp_path / "fid.md"
    assert fidelity.main([str(pa), str(pb), "--out", str(out)]) == 0
    assert "Verdicts agree on 6 of 6 claims" in out.read_text()


def test_a_flipped_gate_is_a_different_verdict_and_exit_one(tmp_path):
    a = holding_summary()
    b = copy.deepcopy(a)
    b["pretrain"]["variants"]["main"]["gate"]["passed"] = False
    verdicts, records = fidelity.compare(a, b)
    differ = set(verdicts.loc[~verdicts["same"], "claim"])
    assert "C1" in differ and "C6" in differ
    assert not records.loc[records["path"] == "pretrain.variants.main.gate", "same"].any()
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a)), pb.write_text(json.dumps(b))
    assert fidelity.main([str(pa), str(pb)]) == 1
