"""Print the README's node reference (Markdown) from the nodes' own schemas, so the docs cannot drift.

`.venv/bin/python scripts/node_reference.py --update` rewrites the README section between the markers;
without arguments it prints the section. A test fails when the README is out of date.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys

from comfy_server import PACK_NAME, REPO_ROOT, comfy_dir

BEGIN, END = "<!-- node-reference:begin -->", "<!-- node-reference:end -->"


def load_nodes():
    sys.path.insert(0, str(comfy_dir()))
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    if PACK_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACK_NAME, REPO_ROOT / "__init__.py",
                                                      submodule_search_locations=[str(REPO_ROOT)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACK_NAME] = module
        spec.loader.exec_module(module)
    extension = asyncio.run(sys.modules[PACK_NAME].comfy_entrypoint())
    return asyncio.run(extension.get_node_list())


def _default(item) -> str:
    value = getattr(item, "default", None)
    if value is None and getattr(item, "options", None):
        value = item.options[0]
    if value is None or value == "":
        return ""
    text = str(value)
    return f"`{text if len(text) <= 40 else text[:37] + '…'}`"


def reference(nodes) -> str:
    lines = []
    for node in nodes:
        schema = node.define_schema()
        lines += [f"### {schema.display_name} (`{schema.node_id}`)", "", schema.description, "",
                  "| input | type | default | notes |", "|---|---|---|---|"]
        for item in schema.inputs:
            optional = " (optional)" if item.optional else ""
            tooltip = (item.tooltip or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{item.id}`{optional} | {item.io_type} | {_default(item)} | {tooltip} |")
        outputs = ", ".join(f"`{o.display_name or o.io_type}` ({o.io_type})" for o in schema.outputs or [])
        lines += ["", f"Outputs: {outputs or 'none (saves files, shows a preview)'}", ""]
    return "\n".join(lines).rstrip() + "\n"


def readme_section(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip() + "\n"


def update_readme() -> None:
    path = REPO_ROOT / "README.md"
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{BEGIN}\n{reference(load_nodes())}{END}{tail}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update_readme()
    else:
        sys.stdout.write(reference(load_nodes()))
