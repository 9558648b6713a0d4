"""How ``bncheck report`` schedules its sections: which run together, where, and that a build in
worker processes writes the bytes of a build one section after the other."""

from __future__ import annotations

from pathlib import Path

from bncheck.report.build import SECTIONS, build_all, worker_chains

BY_NAME = {s.name: s for s in SECTIONS}


def _names(chains: list[list[tuple[int, object]]]) -> list[list[tuple[int, str]]]:
    return [[(r, s.name) for r, s in chain] for chain in chains]  # type: ignore[attr-defined]


def test_the_frameworks_page_follows_the_numerical_error_report_in_its_worker() -> None:
    full = list(SECTIONS)
    quick = [s for s in SECTIONS if s.in_quick]
    assert _names(worker_chains([(False, full), (True, quick)])) == [
        # verifies each framework's BN, the longest: its own worker, started first
        [(0, "framework_survey")],
        [(0, "numerical_error"), (0, "frameworks")],  # it reuses that report's mpmath truths
        [(0, "family_error"), (0, "family_frameworks")],  # the same for the family
        [(0, "running_stats")],
        [(0, "sync_stats")],
        [(1, "numerical_error")],
        [(1, "family_error")],
        [(1, "running_stats")],
    ]
    # the derivation runs in the calling process (its result serves the generated code), the
    # timings alone after everything else: neither is a worker's
    assert BY_NAME["derivation"].runs == "main"
    assert BY_NAME["performance"].runs == "alone"
    assert all(s.runs == "worker" for s in SECTIONS if s.name not in ("derivation", "performance"))


def test_a_section_whose_predecessor_is_not_built_has_its_own_chain() -> None:
    only = [BY_NAME["frameworks"], BY_NAME["running_stats"]]
    assert _names(worker_chains([(False, only)])) == [[(0, "frameworks")], [(0, "running_stats")]]
    # a chain never crosses runs: the quick run's sections are not the full run's
    runs = [(False, [BY_NAME["numerical_error"]]), (True, [BY_NAME["frameworks"]])]
    assert _names(worker_chains(runs)) == [[(0, "numerical_error")], [(1, "frameworks")]]


def test_a_chain_marked_first_leads_its_run_only() -> None:
    survey, running = BY_NAME["framework_survey"], BY_NAME["running_stats"]
    assert survey.first and not running.first
    runs = [(False, [running, survey]), (True, [running])]
    assert _names(worker_chains(runs)) == [
        [(0, "framework_survey")],
        [(0, "running_stats")],
        [(1, "running_stats")],
    ]


def test_quick_runs_come_after_full_ones_whatever_their_order() -> None:
    runs = [(True, [BY_NAME["running_stats"]]), (False, [BY_NAME["running_stats"]])]
    assert _names(worker_chains(runs)) == [[(1, "running_stats")], [(0, "running_stats")]]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.*")}


def test_a_build_in_workers_writes_the_bytes_of_a_build_in_one_process(
    tmp_path: Path, quick_reports: tuple[Path, list[Path]]
) -> None:
    reference_folder, serial = quick_reports  # build_all(..., quick=True, workers=0)
    steps: list[tuple[int, int, str, str]] = []
    parallel = build_all(
        tmp_path / "parallel",
        quick=True,
        workers=2,
        quick_out=tmp_path / "parallel" / "again",
        progress=lambda *step: steps.append(step),
    )
    made, reference = _files(tmp_path / "parallel"), _files(reference_folder)
    assert made == reference | {f"again/{name}": data for name, data in reference.items()}
    # the paths come in table order, each run's index last, the quick copy's after
    assert [p.relative_to(tmp_path / "parallel") for p in parallel] == [
        *[p.relative_to(reference_folder) for p in serial],
        *[Path("again") / p.relative_to(reference_folder) for p in serial],
    ]
    # one step as each section is done, counting up to the total, then the index
    done = [(k, total, name) for k, total, name, what in steps if what == "done"]
    assert [k for k, _, _ in done] == [1, 2, 3, 4, 5, 6, 6]
    assert {total for _, total, _ in done} == {6}
    assert sorted(name for _, _, name in done[:6]) == sorted(
        2 * ["numerical_error", "family_error", "running_stats"]
    )
    assert done[-1][2] == "index"
