"""Typical mistakes in class06_embeddings_rnn/rnn_from_scratch.ipynb and the points each must lose.

The tests of `rnn_forward` replace `rnn_step` by PyTorch's own cell, and the other exercises use
`nn` modules or their own unrolling, so a mistake in one exercise costs points in its own tests
cell only.
"""

from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer(
        name="step-w-hh-not-transposed",
        cell="rnn-step",
        code='''def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh + b_hh)
''',
        # W_hh is square: no shape error, wrong values in all three checks
        loses={"test-rnn-step": 2.0},
        note="h_prev @ W_hh instead of h_prev @ W_hh.T: silently wrong because W_hh is square",
    ),
    WrongAnswer(
        name="step-missing-hidden-bias",
        cell="rnn-step",
        code='''def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T)
''',
        loses={"test-rnn-step": 2.0},
        note="only one of nn.RNN's two biases",
    ),
    WrongAnswer(
        name="forward-detaches-hidden-state",
        cell="rnn-forward",
        code='''def rnn_forward(x, h0, params, batch_first=True):
    W_ih, W_hh, b_ih, b_hh = params
    if not batch_first:
        x = x.transpose(0, 1)
    n, T, _ = x.shape
    h = x.new_zeros(n, W_hh.shape[0]) if h0 is None else h0[0]
    states = []
    for t in range(T):
        h = rnn_step(x[:, t], h.detach(), W_ih, W_hh, b_ih, b_hh)
        states.append(h)
    outputs = torch.stack(states, dim=1)
    if not batch_first:
        outputs = outputs.transpose(0, 1)
    return outputs, h.unsqueeze(0)
''',
        # values right; gradcheck and the gradients against nn.RNN fail (2 of 6 checks)
        loses={"test-rnn-forward": 1.0},
        note="the 'detach the hidden state' of truncated BPTT applied at every step: gradients stop after one step",
    ),
    WrongAnswer(
        name="forward-ignores-batch-first",
        cell="rnn-forward",
        code='''def rnn_forward(x, h0, params, batch_first=True):
    W_ih, W_hh, b_ih, b_hh = params
    n, T, _ = x.shape
    h = x.new_zeros(n, W_hh.shape[0]) if h0 is None else h0[0]
    states = []
    for t in range(T):
        h = rnn_step(x[:, t], h, W_ih, W_hh, b_ih, b_hh)
        states.append(h)
    return torch.stack(states, dim=1), h.unsqueeze(0)
''',
        loses={"test-rnn-forward": 0.5},
        note="always reads x as (N, T, D)",
    ),
    WrongAnswer(
        name="backward-missing-tanh-derivative",
        cell="rnn-step-function",
        code='''class RNNStepFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
        h = torch.tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
        ctx.save_for_backward(x_t, h_prev, W_ih, W_hh, h)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        x_t, h_prev, W_ih, W_hh, h = ctx.saved_tensors
        delta = grad_h
        return delta @ W_ih, delta @ W_hh, delta.T @ x_t, delta.T @ h_prev, delta.sum(0), delta.sum(0)
''',
        # forward right; the three gradient checks fail
        loses={"test-rnn-step-function": 2.25},
    ),
    WrongAnswer(
        name="backward-w-hh-gradient-transposed",
        cell="rnn-step-function",
        code='''class RNNStepFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
        h = torch.tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
        ctx.save_for_backward(x_t, h_prev, W_ih, W_hh, h)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        x_t, h_prev, W_ih, W_hh, h = ctx.saved_tensors
        delta = grad_h * (1 - h * h)
        return delta @ W_ih, delta @ W_hh, delta.T @ x_t, h_prev.T @ delta, delta.sum(0), delta.sum(0)
''',
        loses={"test-rnn-step-function": 2.25},
        note="h_prev^T delta has the right (H, H) shape but is the transpose of the gradient",
    ),
    WrongAnswer(
        name="gradnorms-sum-of-all-outputs",
        cell="gradient-norms",
        code='''def gradient_norms_through_time(rnn, x):
    x = x.detach().clone().requires_grad_(True)
    output, _ = rnn(x)
    (grad,) = torch.autograd.grad(output.sum(), x)
    return grad.norm(dim=(0, 2))
''',
        # every x_t reaches the loss directly through output t: no decay to measure
        loses={"test-gradient-norms": 3.0},
    ),
    WrongAnswer(
        name="gradnorms-lstm-tuple-unhandled",
        cell="gradient-norms",
        code='''def gradient_norms_through_time(rnn, x):
    x = x.detach().clone().requires_grad_(True)
    _, h_n = rnn(x)
    (grad,) = torch.autograd.grad(h_n.sum(), x)
    return grad.norm(dim=(0, 2))
''',
        # right for nn.RNN (the visible check), crashes on the (h_n, c_n) pair of an LSTM
        loses={"test-gradient-norms": 2.0},
        says=("AttributeError",),
    ),
    WrongAnswer(
        name="classifier-last-padded-output",
        cell="sequence-classifier",
        code='''class SequenceClassifier(nn.Module):
    def __init__(self, vocab_size, num_classes, embed_dim=16, hidden_size=32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, tokens, lengths):
        output, _ = self.rnn(self.embed(tokens))
        return self.head(output[:, -1])
''',
        # shapes right; padding and batch invariance fail; the state after the padding
        # cannot be trained to compare first and last symbols: chance accuracy, below the floor
        loses={"test-sequence-classifier": 3.2},
        note="output[:, -1] is a padding step for every sequence shorter than the batch",
    ),
    WrongAnswer(
        name="classifier-pack-without-enforce-sorted",
        cell="sequence-classifier",
        code='''class SequenceClassifier(nn.Module):
    def __init__(self, vocab_size, num_classes, embed_dim=16, hidden_size=32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.embed(tokens), lengths.cpu(), batch_first=True)
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1])
''',
        # pack_padded_sequence's default enforce_sorted=True raises on unsorted lengths
        loses={"test-sequence-classifier": 4.0},
        says=("RuntimeError", "sorted"),
    ),
]
