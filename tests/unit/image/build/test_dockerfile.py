"""The Dockerfile parser: directives, continuations, comments, flags, JSON or shell form, errors."""

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.build.dockerfile import heredoc_markers, parse, parse_instruction, split_flags


def keywords(text):
    return [i.keyword for i in parse(text).instructions]


def test_keywords_are_case_insensitive_and_lines_numbered():
    df = parse("from busybox\n\nrun echo hi\nCmd [\"sh\"]\n")
    assert [(i.keyword, i.line) for i in df.instructions] == [("FROM", 1), ("RUN", 3), ("CMD", 4)]
    assert df.instructions[1].args == "echo hi"


def test_continuation_joins_lines_as_written():
    df = parse("FROM a\nRUN echo one \\\n    && echo two\n")
    run = df.instructions[1]
    assert run.args == "echo one     && echo two"
    assert run.line == 2


def test_comments_and_blank_lines_inside_a_continuation_are_dropped():
    df = parse("FROM a\nRUN echo one \\\n# a comment\n\n  && echo two\n")
    assert df.instructions[1].args == "echo one   && echo two"


def test_hash_inside_arguments_is_not_a_comment():
    assert parse("FROM a\nRUN echo # not a comment\n").instructions[1].args == "echo # not a comment"


def test_escape_directive_changes_the_continuation_character():
    df = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo x\n")
    assert df.escape == "`"
    assert df.instructions[1].args == "dir c:\\   && echo x"


def test_directives_only_at_the_top():
    df = parse("# comment\n# escape=`\nFROM a\nRUN echo a \\\n b\n")
    assert df.escape == "\\"
    assert df.instructions[1].args == "echo a  b"


def test_syntax_directive_is_recorded_and_unknown_directives_end_the_directives():
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n")
    assert dict(df.directives) == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert parse("# unknown=1\n# escape=`\nFROM a\n").escape == "\\"


def test_duplicate_or_bad_escape_directive_is_an_error():
    with pytest.raises(InvalidArgument, match="only once"):
        parse("# escape=`\n# escape=\\\nFROM a\n")
    with pytest.raises(InvalidArgument, match="escape character"):
        parse("# escape=x\nFROM a\n")


def test_json_form_and_shell_form():
    df = parse('FROM a\nCMD ["echo", "hi there"]\nRUN [not json\nENTRYPOINT ["a", 1]\n')
    assert df.instructions[1].json == ("echo", "hi there")
    assert df.instructions[2].json is None and df.instructions[2].args == "[not json"
    assert df.instructions[3].json is None  # not an array of strings: shell form


def test_text_that_only_looks_like_json_is_the_shell_form_in_a_fresh_interpreter():
    # _json's error path needs json.decoder; a launcher that never imported it got SystemError.
    import subprocess
    import sys

    program = (
        "import sys\n"
        "from boxen.image.build.dockerfile import parse\n"
        "df = parse(sys.stdin.read())\n"
        "print([(i.json, i.args) for i in df.instructions[1:]])\n"
    )
    text = 'FROM a\nRUN [ "$(id -u)" = "0" ]\nCMD ["echo",["x"]]\nCMD ["a" "b"]\n'
    done = subprocess.run([sys.executable, "-S", "-c", program], input=text, capture_output=True,
                          text=True, env={"PYTHONPATH": ":".join(sys.path)}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr([(None, '[ "$(id -u)" = "0" ]'), (None, '["echo",["x"]]'),
                                        (None, '["a" "b"]')])


def test_flags_are_split_off_and_checked():
    ins = parse_instruction("COPY --from=build --chown=1:2 a b /c/", 3)
    assert ins.flags == (("from", "build"), ("chown", "1:2"))
    assert ins.args == "a b /c/"
    assert ins.flag("from") == "build" and ins.flag("chmod") is None
    assert ins.body == "--from=build --chown=1:2 a b /c/"
    with pytest.raises(InvalidArgument, match="unknown flag --from for ADD") as err:
        parse_instruction("ADD --from=x a b", 7)
    assert err.value.field == "Dockerfile:7"


def test_split_flags_unquotes_values_and_stops_at_double_dash():
    assert split_flags('--chown="a:b" x y') == ((("chown", "a:b"),), "x y")
    assert split_flags("--network x") == ((("network", None),), "x")
    assert split_flags("-- --notaflag") == ((), "--notaflag")


def test_onbuild_carries_its_trigger():
    ins = parse_instruction("ONBUILD RUN echo later", 1)
    assert ins.trigger.keyword == "RUN" and ins.args == "RUN echo later"
    with pytest.raises(InvalidArgument, match="not allowed as an ONBUILD trigger"):
        parse_instruction("ONBUILD FROM x", 1)


def test_unknown_instruction_names_its_line():
    with pytest.raises(InvalidArgument, match="unknown instruction: FORM") as err:
        parse("FROM a\n\nFORM b\n", name="ctx/Dockerfile")
    assert err.value.field == "ctx/Dockerfile:3"


def test_shell_requires_json_and_instructions_require_arguments():
    with pytest.raises(InvalidArgument, match="JSON form"):
        parse("FROM a\nSHELL /bin/bash -c\n")
    with pytest.raises(InvalidArgument, match="requires at least one argument"):
        parse("FROM a\nWORKDIR\n")
    assert parse("FROM a\nCMD\n").instructions[1].args == ""


def test_file_must_start_with_from_or_arg_and_not_be_empty():
    with pytest.raises(InvalidArgument, match="first instruction must be FROM"):
        parse("RUN echo\n")
    with pytest.raises(InvalidArgument, match="no instructions"):
        parse("# just a comment\n\n")
    assert keywords("ARG V=1\nFROM a:$V\n") == ["ARG", "FROM"]


def test_trailing_continuation_at_end_of_file():
    assert parse("FROM a\nRUN echo \\\n").instructions[1].args == "echo"
    with pytest.raises(InvalidArgument, match="middle of a line continuation"):
        parse("FROM a\n\\\n")


def test_an_escaped_escape_at_the_end_of_a_line_ends_it():
    df = parse("FROM a\nENV C a\\\\\nRUN echo b\\\n  c\n")
    assert [(i.keyword, i.args) for i in df.instructions[1:]] == [("ENV", "C a\\\\"), ("RUN", "echo b  c")]
    df = parse("# escape=`\nFROM a\nENV C a``\nRUN b`\n c\n")
    assert [(i.keyword, i.args) for i in df.instructions[1:]] == [("ENV", "C a``"), ("RUN", "b c")]


def test_byte_order_mark_is_ignored():
    assert parse("\ufeff# escape=`\nFROM a\n").escape == "`"


def test_crlf_line_endings():
    df = parse("FROM a\r\nRUN echo a \\\r\n  b\r\n")
    assert df.instructions[1].args == "echo a   b"


def test_here_documents_are_read_with_their_instruction():
    d = parse("FROM scratch\nRUN <<EOF\n# not a comment\n\n  kept as written \\\nEOF\n"
              "COPY <<-'a.txt' <<b /dst/\n\t\tA $X\n\ta.txt\nB\nb\nRUN echo after\n")
    run, copy, after = d.instructions[1:]
    assert run.args == "<<EOF" and [(h.name, h.content, h.expand, h.chomp) for h in run.heredocs] == \
        [("EOF", "# not a comment\n\n  kept as written \\\n", True, False)]
    assert [(h.name, h.content, h.expand, h.chomp) for h in copy.heredocs] == \
        [("a.txt", "A $X\n", False, True), ("b", "B\n", True, False)]
    assert (after.keyword, after.line, after.heredocs) == ("RUN", 12, ())


@pytest.mark.parametrize(("text", "markers"), [
    ("cat <<EOF", [("EOF", True, False)]),
    ("cat <<-'EOF' <<\"TWO\"", [("EOF", False, True), ("TWO", False, False)]),
    ("echo '<<NOT' \"<<NOR\" <<<here << SPACED", []),
    ("python3 <<PY.py > out", [("PY.py", True, False)]),
])
def test_heredoc_markers(text, markers):
    assert heredoc_markers(text) == markers


def test_here_documents_only_in_run_copy_and_add_shell_form():
    d = parse('FROM scratch\nRUN ["sh", "-c", "cat <<EOF"]\nENV A=<<EOF\n')
    assert [i.heredocs for i in d.instructions] == [(), (), ()]


def test_an_unterminated_here_document_names_its_line():
    with pytest.raises(InvalidArgument, match="<<EOF has no end line") as exc:
        parse("FROM scratch\nRUN <<EOF\necho\n")
    assert exc.value.field == "Dockerfile:2"


def test_a_bad_onbuild_trigger_is_named():
    with pytest.raises(InvalidArgument, match="ONBUILD trigger 'FROOB x': unknown instruction: FROOB") as caught:
        parse("FROM a\nONBUILD FROOB x\n")
    assert caught.value.field == "Dockerfile:2"


def test_a_nul_character_is_refused_with_its_line():
    with pytest.raises(InvalidArgument, match="NUL") as caught:
        parse("FROM busybox\nCOPY a\x00b /x\n")
    assert caught.value.field == "Dockerfile:2"
