"""Checks ComfyUI leaves to the node.

ComfyUI 0.3.75 never checks the value of a V3 combo input (its ``/prompt`` check only knows V1 option lists), so a
bad value sent through the API would otherwise surface as a ``KeyError`` or ``IndexError`` deep inside a stage.
:func:`check_choices` reads the options from the node's own schema, so the message always lists the current ones.

A node's ``validate_inputs`` must name only the inputs it checks (never ``**kwargs``): ComfyUI skips its own min/max
checks for every input the signature names, and reports a failure once per named input.
"""

from __future__ import annotations

from comfy_api.latest import io

from ..models.checks import InputValueError

_LISTED = 20
"""At most this many options are listed in a message (file lists can be long)."""


def check_choices(node: type[io.ComfyNode], **values: object) -> None:
    """Raise :class:`InputValueError` naming the node, the input and the valid options when a combo value of
    ``node`` is not one of its options. Inputs that are not combos, or not given, are ignored."""
    schema = node.define_schema()
    for item in schema.inputs:
        if not isinstance(item, io.Combo.Input) or item.id not in values:
            continue
        value, options = values[item.id], list(item.options or [])
        if value in options:
            continue
        listed = ", ".join(repr(option) for option in options[:_LISTED])
        more = f" … ({len(options)} in all)" if len(options) > _LISTED else ""
        raise InputValueError(f"{schema.display_name}: `{item.id}` is {value!r}, which is not an option; "
                              f"choose one of: {listed}{more}" if options else
                              f"{schema.display_name}: `{item.id}` has no options to choose from")
