"""The boxen-image command line: the verb table, help, and how unreadable command lines fail."""

import os

import pytest

from boxen.image import cli


def run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_help_lists_every_verb(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for verb in cli.VERBS:
        assert f"  {verb} " in out


@pytest.mark.parametrize("verb", sorted(cli.VERBS))
def test_every_verb_has_help(capsys, verb):
    status, out, _ = run(capsys, verb, "--help")
    assert status == 0
    assert out.startswith(f"Usage: boxen-image {verb} [OPTIONS]")
    assert "--help" in out


def test_no_verb_is_a_usage_error(capsys):
    status, _, err = run(capsys)
    assert status == cli.EXIT_USAGE
    assert "expected a verb" in err and "See 'boxen-image --help'." in err


def test_unknown_verb_names_it(capsys):
    status, _, err = run(capsys, "fetch", "busybox")
    assert status == cli.EXIT_USAGE
    assert "unknown verb 'fetch'" in err and "pull" in err


def test_unknown_flag_names_it_and_the_verb(capsys):
    status, _, err = run(capsys, "ls", "--colour")
    assert status == cli.EXIT_USAGE
    assert "--colour" in err and "See 'boxen-image ls --help'." in err


def test_missing_argument_is_named(capsys):
    status, _, err = run(capsys, "tag", "busybox")
    assert status == cli.EXIT_USAGE
    assert "TARGET" in err.upper()


def test_required_flag(capsys):
    status, _, err = run(capsys, "save", "busybox")
    assert status == cli.EXIT_USAGE
    assert "--output" in err


def test_choices_are_checked(capsys):
    status, _, err = run(capsys, "ls", "--format", "yaml")
    assert status == cli.EXIT_USAGE
    assert "yaml" in err and "table" in err and "json" in err


def test_quiet_and_json_are_exclusive(capsys):
    status, _, err = run(capsys, "pull", "-q", "--json", "busybox")
    assert status == cli.EXIT_USAGE
    assert "--quiet and --json cannot be used together" in err


def test_global_options_come_before_the_verb(capsys, tmp_path):
    status, out, _ = run(capsys, f"--root={tmp_path}", "ls", "--format", "json")
    assert (status, out) == (0, "")  # JSON lines: one per image, none here
    status, _, err = run(capsys, "ls", "--root", str(tmp_path))
    assert status == cli.EXIT_USAGE and "--root" in err


def test_errors_are_one_line_with_status_1(capsys, tmp_path):
    status, _, err = run(capsys, "--root", str(tmp_path), "inspect", "nothing-here")
    assert status == 1
    assert err.startswith("boxen-image: error: ") and err.count("\n") == 1


def test_combined_short_flags(capsys, tmp_path):
    status, out, _ = run(capsys, "--root", str(tmp_path), "ls", "-q")
    assert status == 0 and out == ""


def test_verb_help_is_docker_style(capsys):
    status, out, _ = run(capsys, "load", "--help")
    assert status == 0
    assert out.splitlines()[0] == "Usage: boxen-image load [OPTIONS]"
    assert "-i, --input PATH" in out and "    --repository NAME" in out


def test_prune_build_cache(capsys, tmp_path):
    mounts = tmp_path / "build" / "cache-mounts"
    (mounts / "abc" / "deep").mkdir(parents=True)
    status, out, _ = run(capsys, "--root", str(tmp_path), "prune", "--build-cache", "--dry-run")
    assert status == 0 and "Would remove build cache mount abc" in out and (mounts / "abc").exists()
    status, out, _ = run(capsys, "--root", str(tmp_path), "prune")
    assert "cache mount" not in out and (mounts / "abc").exists()
    status, out, _ = run(capsys, "--root", str(tmp_path), "prune", "--build-cache")
    assert "Removed build cache mount abc" in out and os.listdir(mounts) == []
