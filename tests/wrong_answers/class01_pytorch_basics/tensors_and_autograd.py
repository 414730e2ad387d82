"""Typical mistakes for class01_pytorch_basics/tensors_and_autograd.ipynb and what each must cost."""

from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    # ---------------------------------------------------------------- exercise 0: pairwise distances
    WrongAnswer(
        name="pairwise-squared-distances-no-sqrt",
        cell="pairwise-distances",
        code='''def pairwise_distances(X, Y):
    diff = X.unsqueeze(-2) - Y.unsqueeze(-3)
    return diff.pow(2).sum(dim=-1)
''',
        loses={"test-pairwise-distances": 1.5},
    ),
    WrongAnswer(
        name="pairwise-2d-only-indexing",
        cell="pairwise-distances",
        code='''def pairwise_distances(X, Y):
    diff = X[:, None, :] - Y[None, :, :]
    return diff.pow(2).sum(dim=-1).sqrt()
''',
        loses={"test-pairwise-distances": 0.5},
        says=("test_pairwise_batched",),
    ),
    # ---------------------------------------------------------------- exercise 1: linear forward
    WrongAnswer(
        name="linear-transposed-weights",
        cell="linear-forward",
        code='''def linear_forward(x, W, b):
    return x @ W + b
''',
        loses={"test-linear-forward": 2.0},
        says=("shapes cannot be multiplied",),
    ),
    WrongAnswer(
        name="linear-missing-bias",
        cell="linear-forward",
        code='''def linear_forward(x, W, b):
    return x @ W.T
''',
        loses={"test-linear-forward": 1.5},
    ),
    WrongAnswer(
        name="linear-torch-mm-2d-only",
        cell="linear-forward",
        code='''def linear_forward(x, W, b):
    return torch.mm(x, W.t()) + b
''',
        loses={"test-linear-forward": 0.5},
        says=("test_linear_extra_leading_dims",),
    ),
    # ---------------------------------------------------------------- exercise 2: autograd
    WrongAnswer(
        name="grad-sum-instead-of-mean",
        cell="grad-of-loss",
        code='''def grad_of_loss(W, x, y):
    W = W.detach().clone().requires_grad_(True)
    loss = ((x @ W.T - y) ** 2).sum()
    loss.backward()
    return W.grad.detach()
''',
        loses={"test-grad-of-loss": 1.0},
    ),
    WrongAnswer(
        name="grad-accumulates-in-callers-W",
        cell="grad-of-loss",
        code='''def grad_of_loss(W, x, y):
    W.requires_grad_(True)
    loss = ((x @ W.T - y) ** 2).mean()
    loss.backward()
    return W.grad
''',
        loses={"test-grad-of-loss": 0.5},
    ),
    # ---------------------------------------------------------------- exercise 3: linear backward
    WrongAnswer(
        name="linear-backward-bias-mean-over-batch",
        cell="linear-backward",
        code='''def linear_backward(grad_out, x, W):
    return grad_out @ W, grad_out.T @ x, grad_out.mean(dim=0)
''',
        loses={"test-linear-backward": 0.5},
    ),
    WrongAnswer(
        name="linear-backward-grad-W-transposed",
        cell="linear-backward",
        code='''def linear_backward(grad_out, x, W):
    return grad_out @ W, x.T @ grad_out, grad_out.sum(dim=0)
''',
        loses={"test-linear-backward": 1.5},
        says=("expected shape (2, 3), got (3, 2)",),
    ),
    # ---------------------------------------------------------------- exercise 4: custom Function
    WrongAnswer(
        name="swish-backward-forgets-product-rule",
        cell="swish",
        code='''class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_output * s * (1 - s)
''',
        loses={"test-swish": 1.5},
    ),
    WrongAnswer(
        name="swish-backward-ignores-grad-output",
        cell="swish",
        code='''class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return s * (1 + x * (1 - s))
''',
        loses={"test-swish": 1.5},
    ),
    # ---------------------------------------------------------------- exercise 5: two-layer MLP
    WrongAnswer(
        name="two-layer-forgets-relu-mask",
        cell="two-layer",
        code='''def two_layer_forward_backward(x, y, W1, b1, W2, b2):
    z = x @ W1.T + b1
    h = z.clamp(min=0)
    out = h @ W2.T + b2
    diff = out - y
    loss = (diff ** 2).mean()
    d_out = 2 * diff / diff.numel()
    d_z = d_out @ W2
    grads = {"W2": d_out.T @ h, "b2": d_out.sum(dim=0), "W1": d_z.T @ x, "b1": d_z.sum(dim=0)}
    return loss, grads
''',
        loses={"test-two-layer": 2.0},
    ),
    WrongAnswer(
        name="two-layer-mean-over-batch-only",
        cell="two-layer",
        code='''def two_layer_forward_backward(x, y, W1, b1, W2, b2):
    z = x @ W1.T + b1
    h = z.clamp(min=0)
    out = h @ W2.T + b2
    diff = out - y
    loss = (diff ** 2).mean()
    d_out = 2 * diff / x.shape[0]
    d_z = (d_out @ W2) * (z > 0)
    grads = {"W2": d_out.T @ h, "b2": d_out.sum(dim=0), "W1": d_z.T @ x, "b1": d_z.sum(dim=0)}
    return loss, grads
''',
        loses={"test-two-layer": 3.0},
    ),
    WrongAnswer(
        name="two-layer-uses-autograd",
        cell="two-layer",
        code='''def two_layer_forward_backward(x, y, W1, b1, W2, b2):
    params = [p.detach().clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
    loss = ((torch.relu(x @ params[0].T + params[1]) @ params[2].T + params[3] - y) ** 2).mean()
    loss.backward()
    return loss.detach(), dict(zip(("W1", "b1", "W2", "b2"), (p.grad for p in params)))
''',
        loses={"test-two-layer": 4.0},
        says=("does not require grad",),
    ),
]
