"""A bit point in shards and with early stopping: batch ``b`` draws from its own streams (seed, b), so any
split of a point's batches adds up to the whole point, and a point stopped at a target error count (as
Sionna's ``sim_ber``) is the same whether computed whole, resumed, or in shards."""

import pytest

from sionna_semcomm.link import cli
from sionna_semcomm.scenario import load_scenario
from sionna_semcomm.systems import RunOptions, get_system

SCENARIO = load_scenario("rayleigh_bits")


def _runner(system="uncoded-qpsk", num_bits=20_000, batch_size=4, **targets):
    cli._registry()
    return get_system(system).build(SCENARIO, RunOptions(seed=3, device="cpu", num_bits=num_bits, batch_size=batch_size,
                                                         extra={f"target_{k}": v for k, v in targets.items()}))


@pytest.mark.parametrize("shards", [1, 2, 3, 7])
def test_any_split_of_a_point_adds_up_to_the_whole_point(shards):
    runner = _runner()
    whole = runner.evaluate(4.0)
    ranges = runner.shard_ranges(shards)
    assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    parts = [runner.evaluate_batches(4.0, *r) for r in reversed(ranges)][::-1]  # computed in any order
    assert runner.merge_shards(4.0, parts) == whole
    assert whole["bits"] >= 20_000 and 0 < whole["ber"] < 0.5


def test_batches_use_their_own_streams_and_the_point_still_restarts_from_the_seed():
    runner = _runner()
    a = runner.evaluate_batches(4.0, 0, 2)
    b = runner.evaluate_batches(4.0, 1, 2)
    assert a[1] == b[0] and a[0] != a[1]  # batch 1 is batch 1, whatever ran before it
    assert runner.evaluate(4.0) == runner.evaluate(4.0)


@pytest.mark.parametrize("targets", [{"bit_errors": 5000}, {"block_errors": 12}])
def test_early_stop_at_a_target_error_count_equals_the_sharded_and_the_resumed_point(targets):
    runner = _runner(num_bits=400_000, batch_size=1, **targets)  # 241 frames of 1,664 bits, ~30 % BER at 0 dB
    key, target = next(iter(targets.items()))
    point = runner.evaluate(0.0)
    assert point["stopped_early"] and point["bits"] < 400_000
    errors = round(point["ber" if key == "bit_errors" else "bler"] * point["bits" if key == "bit_errors" else "blocks"])
    assert errors >= target
    full = _runner(num_bits=400_000, batch_size=1)
    batches = full.evaluate_batches(0.0, 0, point["blocks"])  # one batch fewer: below the target
    assert sum(c[key] for c in batches[:-1]) < target <= sum(c[key] for c in batches)
    for shards in (2, 5):
        parts = [runner.evaluate_batches(0.0, *r) for r in runner.shard_ranges(shards)]
        assert runner.merge_shards(0.0, parts) == point
        assert sum(len(p) for p in parts) <= shards * point["blocks"]  # every shard stopped early too
    # interrupted after 3 batches and resumed: the same point
    states = []
    runner.evaluate(0.0, checkpoint=states.append)
    assert runner.evaluate(0.0, resume=states[2]) == point
    # a target not reached: the whole budget, not stopped early
    assert _runner(num_bits=2_000, batch_size=1, block_errors=10).evaluate(30.0)["stopped_early"] is False


def test_merging_shards_that_miss_batches_is_refused():
    runner = _runner()
    ranges = runner.shard_ranges(3)
    with pytest.raises(ValueError, match="hold .* of its"):
        runner.merge_shards(4.0, [runner.evaluate_batches(4.0, *r) for r in ranges[:2]])


def test_the_cli_stops_points_early_and_records_the_targets(tmp_path):
    runs = cli.main(["--scenario", "rayleigh_bits", "--systems", "uncoded-qpsk", "--snr-db", "0", "20", "--num-bits",
                     "400000", "--target-block-errors", "30", "--batch-size", "8", "--no-progress", "--device", "cpu"])
    res = runs[0]["results"]
    assert runs[0]["config"]["system"]["target_errors"] == {"block_errors": 30}
    assert res["stopped_early"][0] is True and res["bits"][0] < 400_000
    with pytest.raises(SystemExit, match="apply to --executor ray"):
        cli.main(["--scenario", "rayleigh_bits", "--point-shards", "2", "--no-progress"])
