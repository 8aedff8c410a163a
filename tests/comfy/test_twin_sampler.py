"""T2C_TwinSampler and T2C_TwinPrompt inside the real ComfyUI, on a tiny SD1.5-layout UNet (random weights).

The oracles are ComfyUI's own samplers: a plain KSampler run of one prompt from the same seed.
"""

import sys
import types

import comfy.model_management
import comfy.supported_models
import pytest
import tiny_sd
import torch

import nodes as comfy_nodes  # ComfyUI's nodes.py: its folder comes first on sys.path (conftest)

STEPS, SEED = 4, 7
LATENT = {"samples": torch.zeros(1, 4, 16, 16)}
ART, TWIN, EMPTY, NEG = (tiny_sd.conditioning(seed) for seed in (1, 2, 3, 4))
PROMPT = "a large waterfall falling from hills in the style of Leonid Afremov"
OUT_LAYERS = "diffusion_model.output_blocks.4.0.out_layers"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two threads on a shared 2-core machine are many times slower than one (OpenMP spin-waits)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model():
    return tiny_sd.sd15_patcher()


def run_twin(nodes, model, **overrides):
    args = dict(model=model, positive=ART, twin_positive=TWIN, unconditional=EMPTY, latent=LATENT, seed=SEED,
                steps=STEPS, cfg=5.0, twin_cfg=7.5, sampler_name="ddim", scheduler="ddim_uniform",
                attention_injection=0.52, feature_injection=0.82, negative_alpha=0.75)
    args.update(overrides)
    return nodes["T2C_TwinSampler"].execute(**args).result


def plain(model, positive, cfg, steps=STEPS, latent=LATENT):
    return comfy_nodes.common_ksampler(model, SEED, steps, cfg, "ddim", "ddim_uniform", positive, EMPTY,
                                       latent)[0]["samples"]


def _kernel_tolerance(reference: torch.Tensor, slack: float = 2**10) -> float:
    """Float32 roundings of the largest magnitude (another batch size may take other kernels on another CPU)."""
    return torch.finfo(torch.float32).eps * slack * max(reference.abs().max().item(), 1e-30)


def assert_close(actual, expected, rel=1e-4):
    """Equal up to the round-off of a different UNet batch size."""
    scale = expected.abs().max()
    assert (actual - expected).abs().max() <= rel * scale + 1e-5, float((actual - expected).abs().max() / scale)


def test_twin_prompt_node(t2c_nodes):
    artistic, twin, direction = t2c_nodes["T2C_TwinPrompt"].execute(
        prompt="a river flowing in left to right direction under a cloudy sky, oil painting").result
    assert direction == "in left to right direction"
    assert artistic == "a river flowing under a cloudy sky, oil painting"
    assert twin == "river cloudy sky, nature, bright, realistic, photography, 4k, 8k"


def test_artistic_equals_a_plain_run_of_the_artistic_prompt(t2c_nodes, model):
    artistic, twin, _ = run_twin(t2c_nodes, model)
    assert_close(artistic["samples"], plain(model, ART, 5.0))
    assert artistic["samples"].shape == twin["samples"].shape == (1, 4, 16, 16)


def test_no_injection_twin_equals_a_plain_run_of_the_twin_prompt(t2c_nodes, model):
    _, twin, _ = run_twin(t2c_nodes, model, attention_injection=0.0, feature_injection=0.0, negative_alpha=1.0)
    assert_close(twin["samples"], plain(model, TWIN, 7.5))


def test_same_prompt_and_cfg_with_full_injection_twin_equals_artistic(t2c_nodes, model):
    artistic, twin, _ = run_twin(t2c_nodes, model, twin_positive=ART, twin_cfg=5.0, attention_injection=1.0,
                                 feature_injection=1.0, negative_alpha=1.0)
    assert_close(twin["samples"], artistic["samples"])


def test_negative_branch_follows_the_official_formula(t2c_nodes, model):
    # One Euler step lands on the denoised prediction, so predictions of plain cfg-1 runs give the oracle:
    # ẽ = α·u + (1−α)·n, twin = ẽ + s·(c − ẽ) with α = negative_alpha at step 0.
    cond, uncond, negative = (plain(model, c, 1.0, steps=1) for c in (TWIN, EMPTY, NEG))
    _, twin, _ = run_twin(t2c_nodes, model, steps=1, negative=NEG, attention_injection=0.0, feature_injection=0.0,
                          negative_alpha=0.6)
    baseline = 0.6 * uncond + 0.4 * negative
    assert_close(twin["samples"], baseline + 7.5 * (cond - baseline))


def test_injection_changes_only_the_twin_and_pulls_it_towards_the_artistic(t2c_nodes, model):
    same_guidance = dict(twin_cfg=5.0, negative_alpha=1.0)
    artistic, shared, _ = run_twin(t2c_nodes, model, attention_injection=1.0, feature_injection=1.0,
                                   **same_guidance)
    _, alone, _ = run_twin(t2c_nodes, model, attention_injection=0.0, feature_injection=0.0, **same_guidance)
    assert_close(artistic["samples"], plain(model, ART, 5.0))
    distance = (shared["samples"] - artistic["samples"]).norm()
    # Random weights: the skip connections dominate, so the pull is small but must be there.
    assert (shared["samples"] - alone["samples"]).abs().max() > 1.0
    assert distance < (alone["samples"] - artistic["samples"]).norm()


def test_shared_self_attention_gives_each_twin_row_its_branch_artistic_map(t2c_nodes):
    patches = sys.modules["text2cinemagraph.sampling.twin_patches"]
    schedule = patches.TwinSchedule.from_fractions(10, 0.5, 0.5, 0.5)
    state = patches.TwinState(batch=1, schedule=schedule, recorder=None)
    attention = patches.SharedSelfAttention(state, ("output", 5), inject=True, capture=False)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(5, 6, 16, generator=gen) for _ in range(3))
    # uncond artistic, uncond twin, cond artistic, cond twin, the twin's negative prompt (unconditional branch)
    art, twin = patches.ARTISTIC, patches.TWIN
    options = {"n_heads": 2, "attn_precision": None, "cond_or_uncond": [1, 1, 0, 0, 1],
               patches.IMAGES_KEY: [art, twin, art, twin, twin]}

    def reference(qi, ki, vi):
        heads = [((qh @ kh.T) / 8 ** 0.5).softmax(-1) @ vh for qh, kh, vh in
                 zip(qi.chunk(2, -1), ki.chunk(2, -1), vi.chunk(2, -1), strict=True)]
        return torch.cat(heads, -1)

    state.step = 2
    out = attention(q, k, v, options)
    for row, source in ((0, 0), (1, 0), (2, 2), (3, 2), (4, 0)):  # twin rows use their branch's artistic q, k
        expected = reference(q[source], k[source], v[row])
        assert torch.allclose(out[row], expected, atol=_kernel_tolerance(expected), rtol=0)
    state.step = 5  # past the injection steps: plain attention
    expected = reference(q[1], k[1], v[1])
    assert torch.allclose(attention(q, k, v, options)[1], expected, atol=_kernel_tolerance(expected), rtol=0)
    with pytest.raises(RuntimeError, match="expected 5 groups of 1 row"):
        state.step = 2
        attention(q[:4], k[:4], v[:4], options)


def recording(model):
    """A clone that records the ``cond_or_uncond`` of every UNet call."""
    calls, clone = [], model.clone()

    def record(apply_model, args):
        calls.append(list(args["cond_or_uncond"]))
        return apply_model(args["input"], args["timestep"], **args["c"])

    clone.set_model_unet_function_wrapper(record)
    return clone, calls


def test_each_step_is_one_unet_call_with_the_negative_prompt_as_an_unconditional_group(t2c_nodes, model):
    recorded, calls = recording(model)
    run_twin(t2c_nodes, recorded, steps=3, negative_alpha=0.75)  # α: 0.75, 0.375, 0
    assert calls == [[0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 1]]  # α = 0 needs no twin unconditional group
    calls.clear()
    run_twin(t2c_nodes, recorded, steps=2, negative_alpha=1.0)
    assert calls == [[0, 0, 1, 1]] * 2


def test_cond_and_uncond_in_separate_calls_give_the_same_images(t2c_nodes, model, monkeypatch):
    joint_model, joint_calls = recording(model)
    together = run_twin(t2c_nodes, joint_model, attention_injection=1.0)
    monkeypatch.setattr(model.model, "memory_required", lambda *a, **k: 1e30)  # short of memory: split by branch
    split_model, split_calls = recording(model)
    apart = run_twin(t2c_nodes, split_model, attention_injection=1.0)
    assert all(len(set(chunks)) == 2 for chunks in joint_calls)
    assert all(len(set(chunks)) == 1 for chunks in split_calls) and len(split_calls) == 2 * len(joint_calls)
    for joint, split in zip(together[:2], apart[:2], strict=True):
        assert_close(split["samples"], joint["samples"])
    tolerance = _kernel_tolerance(together[2].self_attn)
    assert torch.allclose(apart[2].self_attn, together[2].self_attn, atol=tolerance, rtol=0)


def test_attention_capture(t2c_nodes, model):
    _, _, capture = run_twin(t2c_nodes, model, prompt=PROMPT)
    assert capture.grid == (8, 8) and capture.image_size == (128, 128)
    assert capture.self_attn.shape == (1, 16, 64, 64)  # (uncond, cond) × 8 heads, 8×8 tokens
    assert torch.isfinite(capture.self_attn).all()
    assert torch.allclose(capture.self_attn.sum(-1), torch.ones(1, 16, 64), atol=1e-4)
    assert capture.steps == 2 * 5  # the 56 % least noisy of 4 steps, 5 blocks
    assert capture.cross_attn.shape == (1, 77, 8, 8)
    assert torch.allclose(capture.cross_attn.sum(1), torch.ones(1, 8, 8), atol=1e-4)
    assert capture.tokens[:4] == ["<|startoftext|>", "a</w>", "large</w>", "waterfall</w>"]
    # a longer twin prompt makes every call's context 154 tokens; the word maps fold back onto the 77
    _, _, longer = run_twin(t2c_nodes, model, prompt=PROMPT, twin_positive=tiny_sd.conditioning(2, tokens=154))
    assert longer.cross_attn.shape == (1, 77, 8, 8)
    assert torch.allclose(longer.cross_attn.sum(1), torch.ones(1, 8, 8), atol=1e-4)


def test_capture_without_prompt_has_no_word_maps_and_mismatched_prompt_is_refused(t2c_nodes, model):
    _, _, capture = run_twin(t2c_nodes, model, steps=1)
    assert capture.cross_attn is None and capture.tokens is None
    with pytest.raises(ValueError, match="tokens but the positive conditioning has 154"):
        run_twin(t2c_nodes, model, positive=tiny_sd.conditioning(1, tokens=154), prompt=PROMPT)


def test_interruption_leaves_the_model_unpatched(t2c_nodes, model):
    before = plain(model, ART, 5.0)
    calls = []
    interrupting = model.clone()

    def interrupt_on_third_call(apply_model, args):
        calls.append(1)
        if len(calls) == 3:
            comfy.model_management.interrupt_current_processing(True)
        return apply_model(args["input"], args["timestep"], **args["c"])

    interrupting.set_model_unet_function_wrapper(interrupt_on_third_call)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            run_twin(t2c_nodes, interrupting)
    finally:
        comfy.model_management.interrupt_current_processing(False)
    out_layers = model.get_model_object(OUT_LAYERS)
    assert getattr(out_layers.forward, "__func__", None) is type(out_layers).forward  # not our patch
    assert not model.object_patches and "patches_replace" not in model.model_options["transformer_options"]
    assert torch.equal(plain(model, ART, 5.0), before)


def test_reference_painting_is_the_artistic_output_and_drives_the_twin(t2c_nodes, model):
    painting = {"samples": torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(11))}
    other = {"samples": torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(12))}
    artistic, twin, capture = run_twin(t2c_nodes, model, reference=painting)
    assert torch.equal(artistic["samples"], painting["samples"])
    assert twin["samples"].shape == painting["samples"].shape and torch.isfinite(twin["samples"]).all()
    assert capture.self_attn.shape == (1, 16, 64, 64)
    _, twin_other, _ = run_twin(t2c_nodes, model, reference=other)
    assert (twin_other["samples"] - twin["samples"]).abs().max() > 1e-2


def test_non_sd1_models_are_refused_with_the_supported_list(t2c_nodes):
    sdxl = types.SimpleNamespace(model=types.SimpleNamespace(model_config=comfy.supported_models.SDXL({})))
    with pytest.raises(ValueError, match=r"Stable Diffusion 1\.x.*this model is SDXL"):
        run_twin(t2c_nodes, sdxl)


def test_bad_conditioning_and_fractions_raise_clear_errors(t2c_nodes, model):
    with pytest.raises(ValueError, match="combined conditionings"):
        run_twin(t2c_nodes, model, twin_positive=TWIN + EMPTY)
    with pytest.raises(ValueError, match=r"unconditional must be SD1.x text embeddings \[B, 77·k, 64\]"):
        run_twin(t2c_nodes, model, unconditional=tiny_sd.conditioning(3, context_dim=32))
    with pytest.raises(ValueError, match="positive carries ControlNet, which T2C_TwinSampler does not apply"):
        run_twin(t2c_nodes, model, positive=[[ART[0][0], {"control": object()}]])
    with pytest.raises(ValueError, match="attention_injection must be a fraction"):
        run_twin(t2c_nodes, model, attention_injection=1.5)


# ---- issue 22, item 6: guidance that is not a number, samplers that never reach the twin's steps -------------------

@pytest.mark.parametrize("name", ["cfg", "twin_cfg"])
def test_a_nan_guidance_is_refused_naming_it(t2c_nodes, model, name):
    """NaN passes ComfyUI's min/max checks; the twin came back all NaN as a success (twin_cfg)."""
    with pytest.raises(ValueError, match=rf"Twin Sampler `{name}` must be a finite guidance scale"):
        run_twin(t2c_nodes, model, **{name: float("nan")})


@pytest.mark.parametrize("sampler", ["dpm_fast", "dpm_adaptive"])
def test_samplers_that_choose_their_own_steps_are_refused_before_sampling(t2c_nodes, model, sampler):
    """They failed after sampling (72 s for dpm_adaptive on a 64² latent) with "captured no attention"."""
    import time

    options = next(i.options for i in t2c_nodes["T2C_TwinSampler"].define_schema().inputs if i.id == "sampler_name")
    assert sampler not in options and {"ddim", "euler", "dpmpp_2m"} <= set(options)
    start = time.monotonic()
    with pytest.raises(ValueError, match=rf"`sampler_name` is '{sampler}', which is not an option; choose one of: "
                                         r".*'euler'"):
        run_twin(t2c_nodes, model, sampler_name=sampler)
    assert time.monotonic() - start < 5
