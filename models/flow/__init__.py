"""Stage 4, the flow: the ``T2C_FLOW`` conventions and checks, hints, the learning-free engine, previews and the
preparation of a flow for animation (docs/flow.md, docs/pipeline.md#4-flow)."""
