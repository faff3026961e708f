import io
import json

from boxen.image.progress import (
    JSONProgress,
    LineProgress,
    Progress,
    TerminalProgress,
    human_size,
    make,
    short_id,
)


def test_short_id_and_sizes():
    assert short_id("sha256:" + "ab" * 32) == "abababababab"
    assert human_size(999) == "999B" and human_size(1234567) == "1.23MB" and human_size(5e9) == "5GB"


def test_line_progress():
    out = io.StringIO()
    p = LineProgress(out)
    p.item("abc", "Downloading", 10)
    p.advance("abc", 5)
    p.status("abc", "Download complete")
    p.message("Digest: x")
    assert out.getvalue() == "abc: Downloading\nabc: Download complete\nDigest: x\n"


def test_json_progress_throttles_but_reports_completion():
    out = io.StringIO()
    p = JSONProgress(out)
    p.item("abc", "Downloading", 100)
    for _ in range(10):
        p.advance("abc", 10)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0] == {"id": "abc", "status": "Downloading"}
    details = [e["progressDetail"] for e in events if e["status"] == "Progress"]
    assert 1 <= len(details) < 10 and details[-1] == {"current": 100, "total": 100}


def test_terminal_progress_redraws_in_place():
    out = io.StringIO()
    p = TerminalProgress(out)
    p.item("aaa", "Downloading", 1000)
    p.item("bbb", "Waiting")
    p.advance("aaa", 500)
    p.status("aaa", "Downloading")
    text = out.getvalue()
    assert "\x1b[2A" in text and "[====================>" in text and "500B/1kB" in text
    p.message("done")
    assert out.getvalue().endswith("done\n")


def test_make_picks_renderer():
    assert type(make("quiet")) is Progress
    assert type(make("plain", io.StringIO())) is LineProgress
    assert type(make("auto", io.StringIO())) is LineProgress
    assert type(make("json", io.StringIO())) is JSONProgress
