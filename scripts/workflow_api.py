"""Convert a UI-format workflow (what the canvas saves, what ``workflows/`` bundles) into an API-format prompt.

It follows the frontend's own rules, checked against ``app.graphToPrompt()`` in the browser tests:
widget values are consumed in input order, seeds and ``control_after_generate`` inputs carry one extra
value, an upload combo's button carries one extra value after all the node's own widgets, links override widget
values, muted nodes (mode 2) and frontend-only nodes (notes) are dropped, bypassed nodes (mode 4) pass a matching
input straight through.
"""

from __future__ import annotations

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
MUTED, BYPASSED = 2, 4


def _is_widget(spec) -> bool:
    kind, options = spec[0], (spec[1] if len(spec) > 1 else {}) or {}
    if options.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _value_count(name: str, spec) -> int:
    options = (spec[1] if len(spec) > 1 else {}) or {}
    extra = options.get("control_after_generate") or name in ("seed", "noise_seed")
    return 1 + int(bool(extra))


def _widget_values(node: dict, node_info: dict) -> dict:
    values = list(node.get("widgets_values") or [])
    if isinstance(node.get("widgets_values"), dict):  # some nodes (e.g. VHS) save a name → value dict
        return dict(node["widgets_values"])
    result, position = {}, 0
    for section in ("required", "optional"):
        for name, spec in node_info["input"].get(section, {}).items():
            if not _is_widget(spec):
                continue
            if position < len(values):
                result[name] = values[position]
            position += _value_count(name, spec)
    return result


def to_api(workflow: dict, object_info: dict) -> dict:
    """Return the API prompt {node_id: {"class_type", "inputs"}} for ``workflow`` given ``/object_info``."""
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = {link[0]: link for link in workflow["links"]}

    def source(link_id: int, wanted_type: str):
        """The (node, slot) feeding a link, looking through bypassed nodes; None if nothing does."""
        _, origin_id, origin_slot, _, _, link_type = links[link_id]
        origin = nodes[origin_id]
        if origin.get("mode") == MUTED:
            return None
        if origin.get("mode") == BYPASSED:
            for candidate in origin.get("inputs", []):
                if candidate.get("link") is not None and candidate.get("type") in (link_type, wanted_type):
                    return source(candidate["link"], wanted_type)
            return None
        return [str(origin_id), origin_slot]

    prompt = {}
    for node_id, node in nodes.items():
        if node.get("mode") in (MUTED, BYPASSED) or node["type"] not in object_info:
            continue  # muted, bypassed, or a frontend-only node such as a note
        inputs = _widget_values(node, object_info[node["type"]])
        for slot in node.get("inputs", []):
            if slot.get("link") is None:
                continue
            origin = source(slot["link"], slot.get("type"))
            if origin is None:
                inputs.pop(slot["name"], None)
            else:
                inputs[slot["name"]] = origin
        prompt[str(node_id)] = {"class_type": node["type"], "inputs": inputs}
    return prompt
