"""benchmarks/jfr_profile.py on a real recording: a JVM that spends its time in one
method must come out with that method on top, for its thread. Needs the JDK (java,
jfr), which the set-up needs anyway for Maven."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

BUSY = """
public class Busy {
  static double spin(long until) {
    double x = 0;
    while (System.nanoTime() < until) for (int i = 0; i < 100000; i++) x += Math.sqrt(i);
    return x;
  }
  public static void main(String[] args) {
    System.out.println(spin(System.nanoTime() + 1_500_000_000L) > 0);
  }
}
"""


@pytest.mark.unit
def test_the_busy_method_is_the_hottest(tmp_path: Path):
    (tmp_path / "Busy.java").write_text(BUSY)
    recording = tmp_path / "busy.jfr"
    subprocess.run(
        ["java", f"-XX:StartFlightRecording=filename={recording},settings=profile", "Busy.java"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "jfr_profile.py"), str(recording)]
        + ["--thread", "main", "--top", "1"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    own = out.split("hottest methods, own:\n")[1].splitlines()[0].split()
    assert own[2] == "Busy.spin"
    assert float(own[1].rstrip("%")) > 50
    # Samples of the other threads are counted by kind, digits folded.
    assert "main" in out.split("by thread:\n")[1]
