"""`fusion numbers import FILE [--dry-run]`: the same all-or-nothing import, with a report."""

from __future__ import annotations

from fusion_core.cli import main

GOOD = "first,last,type,notes\n+3225550000,+3225550999,geographic,block A\n"
BAD = "number,type\n+3225551234,geographic\n+3278012345,\n+32475123456,geographic\n"


def test_dry_run_then_import_with_a_progress_bar(nm, app, tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text(GOOD)
    runner = app.test_cli_runner()

    dry = runner.invoke(main, ["numbers", "import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        "1 row(s): 1000 number(s) in 1 range(s)",
        "dry run: nothing written",
    ]
    assert nm.group.get("numbers").json["items"] == []

    done = runner.invoke(main, ["numbers", "import", str(path), "--publish"])
    assert done.exit_code == 0, done.output
    assert "importing" in done.output
    assert done.output.strip().splitlines()[-1].endswith(": 1000 number(s) created")
    number = nm.group.get("numbers/+3225550999").json
    assert number["state"] == "available"
    imports = nm.group.get("number-imports").json["items"]
    assert [(i["source"], i["created_numbers"]) for i in imports] == [("cli", 1000)]


def test_a_bad_file_prints_the_row_report_and_imports_nothing(nm, app, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD)
    result = app.test_cli_runner().invoke(main, ["numbers", "import", str(path)])
    assert result.exit_code == 1
    assert "2 problem(s); nothing imported:" in result.output
    assert "row 3: number: possible but not valid" in result.output
    assert "row 4: type: declared geographic, but the BE plan makes it mobile" in result.output
    assert nm.group.get("numbers").json["items"] == []
