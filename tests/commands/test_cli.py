"""What every command shares (deconv._cli): one-line errors and interruptions."""
import pytest


def test_interrupted_command_says_so_in_one_line(capsys):
    from deconv import _cli

    def main(argv):
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_info:
        _cli.one_line_errors(main)(["prog"])
    assert exit_info.value.code == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0] and "resumes" in lines[0]
