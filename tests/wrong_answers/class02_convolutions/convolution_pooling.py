"""Typical mistakes for class02_convolutions/convolution_pooling.ipynb and what each must cost."""

from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    # ---------------------------------------------------------------- exercise 1: corr2d
    WrongAnswer(
        name="corr2d-true-convolution-flips-kernel",
        cell="corr2d",
        code='''def corr2d(X, K):
    K = torch.flip(K, dims=(0, 1))          # textbook convolution: the kernel is flipped
    kh, kw = K.shape
    h_out, w_out = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = torch.zeros(h_out, w_out, dtype=X.dtype, device=X.device)
    for i in range(h_out):
        for j in range(w_out):
            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return Y
''',
        loses={"test-corr2d": 2.0},
        says=("no kernel flip", "expected", "got"),
    ),
    # ---------------------------------------------------------------- exercise 2: output size
    WrongAnswer(
        name="conv-output-size-missing-plus-one",
        cell="conv-output-size",
        code='''def conv_output_size(n, kernel, stride=1, padding=0):
    return (n + 2 * padding - kernel) // stride
''',
        loses={"test-conv-output-size": 2.0},
    ),
    WrongAnswer(
        name="conv-output-size-float-division",
        cell="conv-output-size",
        code='''def conv_output_size(n, kernel, stride=1, padding=0):
    return (n + 2 * padding - kernel) / stride + 1
''',
        loses={"test-conv-output-size": 1.0},
        says=("expected an int", "got float"),
    ),
    # ---------------------------------------------------------------- exercise 3: conv2d
    WrongAnswer(
        name="conv2d-stride-ignored",
        cell="conv2d",
        code='''def conv2d(x, weight, bias=None, stride=1, padding=0):
    c_out, _, kh, kw = weight.shape
    if padding:
        x = F.pad(x, (padding, padding, padding, padding))
    h_out, w_out = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = 0
    for a in range(kh):
        for b in range(kw):
            patch = x[:, :, a:a + h_out, b:b + w_out]
            out = out + torch.einsum("nchw,oc->nohw", patch, weight[:, :, a, b])
    if bias is not None:
        out = out + bias.view(1, c_out, 1, 1)
    return out
''',
        loses={"test-conv2d": 1.6},
    ),
    WrongAnswer(
        name="conv2d-bias-added-per-input-channel",
        cell="conv2d",
        code='''def conv2d(x, weight, bias=None, stride=1, padding=0):
    c_out, c_in, kh, kw = weight.shape
    if padding:
        x = F.pad(x, (padding, padding, padding, padding))
    h_out = (x.shape[2] - kh) // stride + 1
    w_out = (x.shape[3] - kw) // stride + 1
    out = 0
    for c in range(c_in):
        for a in range(kh):
            for b in range(kw):
                patch = x[:, c, a:a + stride * (h_out - 1) + 1:stride, b:b + stride * (w_out - 1) + 1:stride]
                out = out + weight[:, c, a, b].view(1, c_out, 1, 1) * patch.unsqueeze(1)
        if bias is not None:
            out = out + bias.view(1, c_out, 1, 1)
    return out
''',
        loses={"test-conv2d": 3.2},
    ),
    WrongAnswer(
        name="conv2d-padding-on-one-side-only",
        cell="conv2d",
        code='''def conv2d(x, weight, bias=None, stride=1, padding=0):
    c_out, _, kh, kw = weight.shape
    x = F.pad(x, (padding, 0, padding, 0))
    h_out = (x.shape[2] - kh) // stride + 1
    w_out = (x.shape[3] - kw) // stride + 1
    cols = F.unfold(x, (kh, kw), stride=stride)                  # (N, C_in*kh*kw, h_out*w_out)
    out = (weight.reshape(c_out, -1) @ cols).view(x.shape[0], c_out, h_out, w_out)
    if bias is not None:
        out = out + bias.view(1, c_out, 1, 1)
    return out
''',
        loses={"test-conv2d": 1.6},
    ),
    # ---------------------------------------------------------------- exercise 4: max pooling
    WrongAnswer(
        name="maxpool-averages-instead-of-max",
        cell="maxpool2d",
        code='''def maxpool2d(x, kernel, stride=None):
    stride = kernel if stride is None else stride
    return x.unfold(2, kernel, stride).unfold(3, kernel, stride).mean(dim=(-2, -1))
''',
        loses={"test-maxpool2d": 3.0},
    ),
    WrongAnswer(
        name="maxpool-default-stride-one",
        cell="maxpool2d",
        code='''def maxpool2d(x, kernel, stride=None):
    stride = stride or 1
    return x.unfold(2, kernel, stride).unfold(3, kernel, stride).amax(dim=(-2, -1))
''',
        loses={"test-maxpool2d": 1.5},
    ),
    # ---------------------------------------------------------------- exercise 5: fit_kernel
    WrongAnswer(
        name="fit-kernel-forgets-zero-grad",
        cell="fit-kernel",
        code='''def fit_kernel(images, targets, steps=100, lr=0.1):
    conv = nn.Conv2d(1, 1, 3, bias=False).to(images.device)
    optimizer = torch.optim.SGD(conv.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.mse_loss(conv(images), targets)
        loss.backward()
        optimizer.step()
    return conv.weight.detach()[0, 0]
''',
        loses={"test-fit-kernel": 3.0},
    ),
]
