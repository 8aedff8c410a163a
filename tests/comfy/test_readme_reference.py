"""The README's node reference is generated from the node schemas; it must be current."""

from comfy_server import REPO_ROOT
from node_reference import readme_section, reference


def test_readme_node_reference_is_current(t2c_nodes):
    generated = reference(list(t2c_nodes.values()))
    assert readme_section((REPO_ROOT / "README.md").read_text()) == generated, (
        "README node reference is stale: run `.venv/bin/python scripts/node_reference.py --update`")
