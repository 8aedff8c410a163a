// Animate Cinemagraph gained an `engine` input (default "sharp loop"). A workflow saved before it existed keeps
// the engine it was made with: when such a node is loaded (its saved widget values stop before `engine`), the
// widget is set to LEGACY_ENGINE (models/loop/engines.py; tests/unit/test_web_constants.py ties the copy). The
// server does the same for an API prompt without the input.
import { app } from "../../../scripts/app.js";
import { chainCallback } from "./t2c_common.js";

const NODE_TYPE = "T2C_Animate";
const ENGINE_WIDGET = "engine";
const LEGACY_ENGINE = "classic splat";

function savedBeforeEngine(node, info) {
    const named = info?.widgets_values_named;
    if (named && typeof named === "object") return !(ENGINE_WIDGET in named);
    const values = info?.widgets_values;
    const index = node.widgets?.findIndex((w) => w.name === ENGINE_WIDGET) ?? -1;
    return Array.isArray(values) && index >= 0 && values.length <= index;
}

app.registerExtension({
    name: "text2cinemagraph.animateEngine",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (nodeData?.name !== NODE_TYPE) return;
        chainCallback(nodeType.prototype, "onConfigure", function (info) {
            if (!savedBeforeEngine(this, info)) return;
            const widget = this.widgets.find((w) => w.name === ENGINE_WIDGET);
            widget.value = LEGACY_ENGINE;
        });
    },
});
