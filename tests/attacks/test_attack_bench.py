"""The attack-cost section of the bench: perturbations per second at equal batch."""

from sionna_semcomm.bench import bench_attacks


def test_bench_attacks_rows():
    rows = {r["attack"]: r for r in bench_attacks(4, 1, 0, "cpu", steps=2, tiny=True)}
    assert set(rows) == {"semadv", "pgm", "fgm", "pgd"}
    assert [rows[a]["gradient_passes"] for a in ("semadv", "pgm", "fgm", "pgd")] == [0, 0, 1, 3]
    assert all(r["batch_size"] == 4 and r["perturbations_per_s"] > 0 for r in rows.values())
    # input-agnostic generation needs no pass through the system: far cheaper than per-input gradients
    assert rows["semadv"]["perturbations_per_s"] > 3 * rows["pgd"]["perturbations_per_s"]
