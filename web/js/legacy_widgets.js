// Inputs added to a node after workflows were saved with it get a value that keeps the old behaviour when such a
// workflow is loaded (its saved widget values stop before the input): Animate Cinemagraph's `engine` (added with
// default "sharp loop") becomes LEGACY_ENGINE, Text Flow's `border` (default "auto") becomes LEGACY_BORDER (copies
// of models/loop/engines.py and models/flow/layers.py; tests/unit/test_web_constants.py ties them). The server does the same for an API
// prompt without the input. A new node, or a workflow saved with the input, keeps the default.
import { app } from "../../../scripts/app.js";
import { chainCallback } from "./t2c_common.js";

const LEGACY_ENGINE = "classic splat";
const LEGACY_BORDER = "stick";
const LEGACY_VALUES = {
    T2C_Animate: { engine: LEGACY_ENGINE },
    T2C_TextFlow: { border: LEGACY_BORDER },
};

function savedBefore(node, info, name) {
    const named = info?.widgets_values_named;
    if (named && typeof named === "object") return !(name in named);
    const values = info?.widgets_values;
    const index = node.widgets?.findIndex((w) => w.name === name) ?? -1;
    return Array.isArray(values) && index >= 0 && values.length <= index;
}

app.registerExtension({
    name: "text2cinemagraph.legacyWidgets",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        const legacy = LEGACY_VALUES[nodeData?.name];
        if (!legacy) return;
        chainCallback(nodeType.prototype, "onConfigure", function (info) {
            for (const [name, value] of Object.entries(legacy)) {
                if (!savedBefore(this, info, name)) continue;
                const widget = this.widgets.find((w) => w.name === name);
                widget.value = value;
            }
        });
    },
});
