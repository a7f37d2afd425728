"""C4's planted world (``calibration.planted_c4_*``): its layout, its planted (not trained) readout,
and C4's rule on one seed of it (docs/calibration.md reads it over 20 seeds)."""
import numpy as np
import pytest

from ssb import calibration, claims, recognition
from ssb.aperture import evaluate_sets


@pytest.fixture(scope="module")
def c4_seed0():
    world = calibration.world_of("planted_c4")
    main, ctrl = calibration.make_probes(world, "planted_c4", 0)
    readout = calibration.planted_readout(world, "planted_c4", 0)
    return world, main, ctrl, readout, recognition.recognize(readout, main, 1, calibration.study_profile())


def test_c4_layout_codes_are_orthogonal_and_cancel_over_a_head():
    """Every label >= 1 of a head: a unit code of entries +-1/sqrt(d_head), orthogonal to the others and
    summing to 0 over the head (so a nuisance on all of a head's nodes cancels); label 0 has none; one
    owner node per head with a label >= 1."""
    world = calibration.world_of("planted_c4")
    codes, owner_node, owner_label = calibration.c4_layout(world, 0)
    assert codes.shape == (world.n_heads, world.n_classes, world.d_head)
    assert np.all(codes[:, 0] == 0)
    assert np.allclose(np.abs(codes[:, 1:]), 1 / np.sqrt(world.d_head))
    for h in range(world.n_heads):
        assert np.allclose(codes[h, 1:] @ codes[h, 1:].T, np.eye(world.n_classes - 1))
    assert np.allclose(codes.sum(2), 0)
    assert owner_node.shape == owner_label.shape == (world.n_heads,)
    assert np.all((owner_label >= 1) & (owner_label < world.n_classes))
    with pytest.raises(ValueError):
        calibration.c4_layout(calibration.World(d_head=12), 0)


def test_planted_c4_readout_plants_what_it_says(c4_seed0):
    """The planted readout: silenced it guesses label 0; a single node scores about label 0's share
    and its nodes alone recognise at most the owner's label; a pair of a head's nodes scores below a
    single node (the dip); a whole head scores far above it and recognises every label; each label's
    weights sum to 0 over every head (the nuisance cancels when a whole head is open)."""
    world, main, ctrl, readout, res = c4_seed0
    w = readout.fc1.weight.detach().numpy().reshape(world.n_classes, world.n_heads, world.d_head)
    assert np.allclose(w.sum(2), 0, atol=1e-5)
    share = float(np.mean(main.y_test == 0))
    assert abs(res.silent_accuracy - share) < 1e-9
    assert abs(res.singles.accuracy.mean() - share) < 0.03, (res.singles.accuracy.mean(), share)
    _, owner_node, owner_label = calibration.c4_layout(world, 0)
    for h in range(world.n_heads):
        alone = res.singles.recognized[h * world.d_head:(h + 1) * world.d_head].any(0)
        assert set(np.flatnonzero(alone)) <= {int(owner_label[h])}, np.flatnonzero(alone)
        assert res.heads.recognized[h].all()
    assert np.all(res.heads.accuracy > 0.9), res.heads.accuracy
    rng = np.random.default_rng(0)
    pairs = [h * world.d_head + rng.choice(world.d_head, 2, replace=False) for h in range(world.n_heads) for _ in range(4)]
    a2 = evaluate_sets(readout, main.z_test[1], main.y_test, pairs, n_classes=world.n_classes).accuracy
    assert a2.mean() < share - 0.1, (a2.mean(), share)


def test_c4_rule_holds_on_one_seed_of_planted_c4(c4_seed0):
    """C4's rule on seed 0 of planted_c4 (its readout planted, its controls trained): every evidence
    check and requirement passes, the verdict is 'holds'; ``readout=`` with the world's probes gives
    the same records."""
    world, main, ctrl, readout, _ = c4_seed0
    profile = calibration.study_profile()
    gates, checks = calibration.label_records(world, "planted_c4", 0, profile)["C4"]
    assert claims.decide(gates, checks, claims.CORE["C4"])[0] == "holds"
    deciding = {c["name"]: c["passed"] for c in checks if c["role"] in ("evidence", "requirement")}
    assert len(deciding) == 8 and all(v is True for v in deciding.values()), deciding
    again = calibration.label_records(world, "planted_c4", 0, profile, probes=(main, ctrl), readout=readout)["C4"][1]
    assert [(c["name"], c["value"]) for c in again] == [(c["name"], c["value"]) for c in checks]


def test_round_three_without_owners_leaves_kappa_R_uncomputed():
    """ssb.bench c4_worlds, round three (docs/c4_dip_worlds.md): planted_c4 without its owner nodes
    still dips beyond both references, but its single nodes recognise nothing, so kappa_R beyond the
    untrained backbone is computed in no set (the reason each head has an owner)."""
    from ssb.bench import c4_worlds
    trial = next(t for t in c4_worlds.PLANTED_TRIALS if t.name == "planted_no_owner")
    rows = {r["check"]: r for r in c4_worlds.trial_rows(trial, 0, calibration.study_profile())}
    assert rows["kappa_R_beyond_untrained"]["missing"], rows["kappa_R_beyond_untrained"]
    assert all(rows[c]["passed"] for c in ("dip_depth_across_beyond_untrained", "dip_depth_in_head_beyond_untrained",
                                           "cooperation_beyond_untrained")), rows
