"""boxen-runtime's command line without root: flags after the id, exit statuses, --log and --debug."""

import json

from boxen.runtime.cli import main
from boxen.runtime.state import ContainerState


def test_flags_after_the_id_and_delete_force_of_an_unknown_id(tmp_path):
    root = str(tmp_path / "root")
    assert main(["--root", root, "delete", "nope", "--force"]) == 0
    assert main(["--root", root, "delete", "nope", "--force=false"]) == 1
    assert main(["--root", root, "delete", "nope"]) == 1


def test_exec_failures_exit_255_and_argument_errors_1(tmp_path, capsys):
    root = str(tmp_path / "root")
    assert main(["--root", root, "exec", "nope", "true"]) == 255
    assert "exec failed: container does not exist: nope" in capsys.readouterr().err
    assert main(["--root", root, "exec"]) == 1


def test_log_file_made_at_start_with_json_errors_and_debug_lines(tmp_path, capsys):
    root, log = str(tmp_path / "root"), tmp_path / "log.json"
    assert main(["--root", root, "--log", str(log), "--log-format", "json", "list"]) == 0
    assert log.read_text() == ""
    assert main(["--root", root, "--log", str(log), "--log-format", "json", "--debug", "state", "c1"]) == 1
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["level"] for line in lines] == ["debug", "error"]
    assert lines[-1]["msg"] == "container does not exist: c1" and lines[-1]["time"]
    assert capsys.readouterr().err == "container does not exist: c1\n"  # and plainly on stderr


def test_debug_lines_of_an_operation(tmp_path, capsys):
    root = str(tmp_path / "root")
    state = ContainerState.new(root, "c1")
    state.data.update(creator_start=-1)  # an interrupted create
    state.save()
    assert main(["--root", root, "--debug", "delete", "c1"]) == 0
    err = capsys.readouterr().err
    assert "level=debug" in err and 'msg="deleting container c1 (stopped)"' in err


def test_a_bad_log_format_is_an_error(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "--log-format", "xml", "list"]) == 1
    assert "--log-format: unknown log-format 'xml'" in capsys.readouterr().err
