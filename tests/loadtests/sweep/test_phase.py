"""The phases' runner: each experiment measured, kept and written in order; a failed record
does not stop the next; the phase fails when one did."""

from dataclasses import dataclass

from loadtests.sweep import phase
from loadtests.sweep.phase import Experiment


@dataclass
class Record:
    name: str
    error: str | None = None


def test_each_record_is_kept_and_written_before_the_next_is_measured():
    kept: list[Record] = []
    events: list[str] = []

    def measure(name: str, error: str | None = None):
        def run() -> Record:
            events.append(f"measure {name}")
            return Record(name, error)

        return run

    def experiments():
        yield Experiment("first", measure("a"), kept.append)
        # A generator may read what was kept so far to decide its next experiment.
        yield Experiment("second", measure(f"b after {len(kept)}", "refused"), kept.append)
        yield Experiment("third", measure("c"), kept.append, lambda r: f"got {r.name}")

    notes: list[str] = []
    code = phase.run(experiments(), lambda: events.append(f"write {len(kept)}"), notes.append)
    assert code == 1
    assert [r.name for r in kept] == ["a", "b after 1", "c"]
    assert events == [
        "measure a",
        "write 1",
        "measure b after 1",
        "write 2",
        "measure c",
        "write 3",
    ]
    assert notes[2].startswith("third: got c (")


def test_a_phase_without_a_failure_succeeds():
    assert phase.run([Experiment("only", lambda: Record("a"), lambda r: None)], int, print) == 0
