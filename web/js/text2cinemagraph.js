// Frontend extension of the Text2Cinemagraph node pack.
import { app } from "../../../scripts/app.js";

app.registerExtension({
    name: "Text2Cinemagraph.core",
    async setup() {
        // Marker the browser tests read to prove our script was served and ran in the real frontend.
        window.__t2cExtensionLoaded = true;
    },
});
