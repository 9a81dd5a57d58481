"""``convlens style`` from the command line, offline, and the report section."""

from __future__ import annotations

from PIL import Image

from convlens.cli import main


def test_style_command_offline(tmp_path, capsys):
    content = tmp_path / "content.png"
    Image.new("P", (50, 30), 3).save(content)  # a palette image
    style = tmp_path / "style.png"
    Image.new("LA", (20, 40), (128, 200)).save(style)  # grey with alpha
    out = tmp_path / "out" / "picture.png"
    argv = ["style", str(content), str(style), "sample:brick", "--style-weights", "2,1", "-o", str(out),
            "--size", "40", "--steps", "3", "--snapshots", "2", "--keep-colors", "--levels", "2"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "extractor: random (random weights, offline)" in printed
    assert Image.open(out).size == (40, 24)
    for suffix in ("-losses.png", "-snapshots.png", ".html"):
        assert (out.parent / f"picture{suffix}").is_file()
    html = (out.parent / "picture.html").read_text()
    assert "Style transfer" in html and "random (random weights, offline)" in html


def test_style_command_errors_are_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 truncated")
    assert main(["style", str(broken), "sample:ihc", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "broken.jpg is not a readable image" in err
    assert main(["style", "sample:hopper", "sample:ihc", "--style-weights", "1,2", "-o", str(tmp_path / "x.png")]) == 2
    assert "one per image" in capsys.readouterr().err
    assert main(["style", "sample:hopper", str(tmp_path / "missing.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_section_builder_is_offline_and_small(monkeypatch):
    from convlens.report import style as report

    monkeypatch.setattr(report, "DEMO_RUNS", report.DEMO_RUNS[:1])
    section = report.style_demo_section(size=32, steps=3)
    assert section.title == "Style transfer"
    assert section.body.count("<img") == 2 and "random (random weights, offline)" in section.body
