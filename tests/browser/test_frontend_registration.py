"""Every T2C_* node type reaches the real frontend; a screenshot is kept as an artifact."""


def test_all_nodes_registered_in_frontend(comfy_page, comfy_server, artifacts_dir):
    expected = sorted(name for name in comfy_server.get("/object_info") if name.startswith("T2C_"))
    registered = comfy_page.evaluate(
        "Object.keys(LiteGraph.registered_node_types).filter(k => k.startsWith('T2C_')).sort()")
    assert expected and registered == expected
    comfy_page.evaluate("""() => {
        app.graph.clear();
        const node = LiteGraph.createNode('T2C_SaveCinemagraph');
        node.pos = [420, 200];
        app.graph.add(node);
        app.graph.setDirtyCanvas(true, true);
    }""")
    comfy_page.wait_for_timeout(500)
    comfy_page.screenshot(path=str(artifacts_dir / "frontend_nodes.png"))
    assert not [e for e in comfy_page.t2c_errors if "text2cinemagraph" in e.lower()]
