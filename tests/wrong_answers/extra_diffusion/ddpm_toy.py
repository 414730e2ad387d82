"""Typical mistakes in extra_diffusion/ddpm_toy.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_SAMPLER_HEAD = '''def p_sample_loop(eps_model, shape, betas, alphas, alpha_bars, generator=None):
    T = len(betas)
    with torch.no_grad():
        x = torch.randn(shape, generator=generator)
        for t in reversed(range(T)):
            eps = eps_model(x, torch.full((shape[0],), t, dtype=torch.int64))
'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="schedule-cumsum",
        cell="make-schedule",
        code='''def make_schedule(T, beta_start=1e-4, beta_end=0.02):
    betas = torch.linspace(beta_start, beta_end, T)
    alphas = 1 - betas
    return betas, alphas, torch.cumsum(alphas, dim=0)
''',
        loses={"test-make-schedule": 3.0},
        note="alpha_bars as a cumulative sum: values above 1, growing",
    ),
    WrongAnswer(
        name="schedule-cumprod-of-betas",
        cell="make-schedule",
        code='''def make_schedule(T, beta_start=1e-4, beta_end=0.02):
    betas = torch.linspace(beta_start, beta_end, T)
    return betas, 1 - betas, torch.cumprod(betas, dim=0)
''',
        loses={"test-make-schedule": 3.0},
        note="product of the betas instead of the alphas",
    ),
    WrongAnswer(
        name="q-sample-no-sqrt",
        cell="q-sample",
        code='''def q_sample(x0, t, noise, alpha_bars):
    ab = alpha_bars[t].view(-1, *([1] * (x0.dim() - 1)))
    return ab * x0 + (1 - ab) * noise
''',
        # at t = T-1 and t = 0 both forms are close to the right answer: the endpoint check passes
        loses={"test-q-sample": 2.0},
        note="means/variances used as standard deviations",
    ),
    WrongAnswer(
        name="loss-sum-reduction",
        cell="ddpm-loss",
        code='''def ddpm_loss(model, x0, alpha_bars, generator=None):
    t = torch.randint(0, len(alpha_bars), (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    x_t = q_sample(x0, t, noise, alpha_bars)
    return ((model(x_t, t) - noise) ** 2).sum()
''',
        loses={"test-ddpm-loss": 1.0},
        note="sum of squared errors: scales with the batch size",
    ),
    WrongAnswer(
        name="loss-t-from-one",
        cell="ddpm-loss",
        code='''def ddpm_loss(model, x0, alpha_bars, generator=None):
    t = torch.randint(1, len(alpha_bars), (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    x_t = q_sample(x0, t, noise, alpha_bars)
    return F.mse_loss(model(x_t, t), noise)
''',
        loses={"test-ddpm-loss": 1.0},
        note="steps drawn from 1..T-1 (the paper's 1-based t): step 0 is never trained",
    ),
    WrongAnswer(
        name="sampler-no-noise-term",
        cell="p-sample-loop",
        code=_SAMPLER_HEAD + '''            x = (x - betas[t] / torch.sqrt(1 - alpha_bars[t]) * eps) / torch.sqrt(alphas[t])
    return x
''',
        loses={"test-p-sample-loop": 4.0},
        note="no sigma_t z: samples collapse towards the mean",
    ),
    WrongAnswer(
        name="sampler-noise-at-last-step",
        cell="p-sample-loop",
        code=_SAMPLER_HEAD + '''            x = (x - betas[t] / torch.sqrt(1 - alpha_bars[t]) * eps) / torch.sqrt(alphas[t])
            x = x + torch.sqrt(betas[t]) * torch.randn(shape, generator=generator)
    return x
''',
        # with beta_0 = 1e-4 the extra noise is invisible in the 200-step test, not in the 5-step one
        loses={"test-p-sample-loop": 2.0},
        note="sigma_t z added at t = 0 too",
    ),
    WrongAnswer(
        name="sampler-no-sqrt-in-coefficient",
        cell="p-sample-loop",
        code=_SAMPLER_HEAD + '''            x = (x - betas[t] / (1 - alpha_bars[t]) * eps) / torch.sqrt(alphas[t])
            if t > 0:
                x = x + torch.sqrt(betas[t]) * torch.randn(shape, generator=generator)
    return x
''',
        loses={"test-p-sample-loop": 4.0},
        note="beta_t / (1 - alpha_bar_t) instead of beta_t / sqrt(1 - alpha_bar_t)",
    ),
]
