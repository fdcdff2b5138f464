"""The README's reference tables, generated from TrainConfig and the shipped presets, so the
documentation cannot drift from the code (tests/unit/test_readme.py checks they match)."""

from __future__ import annotations

from grpotui.config import TrainConfig, allowed_text

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"
PBEGIN, PEND = "<!-- presets:begin -->", "<!-- presets:end -->"


def settings_table() -> str:
    rows = ["| key | default | allowed | live | meaning |", "| --- | --- | --- | --- | --- |"]
    defaults = TrainConfig().to_dict()
    for f in TrainConfig.fields():
        m = f.metadata
        rows.append(f"| `{f.name}` | `{defaults[f.name]}` | {allowed_text(f.name)} | "
                    f"{'yes' if m['live'] else 'reset'} | {m['help']} |")
    return "\n".join(rows)


def presets_table() -> str:
    from grpotui.presets import SHIPPED_DIR, read_preset_file, shipped_names

    rows = ["| preset | what it shows |", "| --- | --- |"]
    for name in shipped_names():
        p = read_preset_file(SHIPPED_DIR / f"{name}.yaml", shipped=True)
        rows.append(f"| `{name}` | {p.description} |")
    return "\n".join(rows)


def fill(readme: str) -> str:
    """README text with both generated tables replaced by fresh ones."""
    for begin, end, table in ((BEGIN, END, settings_table()), (PBEGIN, PEND, presets_table())):
        head, _, rest = readme.partition(begin)
        _, _, tail = rest.partition(end)
        readme = f"{head}{begin}\n{table}\n{end}{tail}"
    return readme


if __name__ == "__main__":  # python -m grpotui.reference README.md  (rewrites the tables in place)
    import sys
    from pathlib import Path

    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(fill(path.read_text()))
