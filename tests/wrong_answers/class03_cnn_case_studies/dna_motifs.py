"""Typical mistakes in class03_cnn_case_studies/dna_motifs.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_CNN_INIT = '''class MotifCNN(nn.Module):
    def __init__(self, n_filters=8, kernel_size=10):
        super().__init__()
        self.conv = nn.Conv1d(4, n_filters, kernel_size)
        self.fc = nn.Linear(n_filters, 1)

'''

_RECOVER_HEAD = '''def recover_motif(model, X, length):
    model.eval()
    with torch.no_grad():
        keep = model(X) > 0
    positives = X[keep]
'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="one-hot-channels-in-base-pairing-order",
        cell="one-hot",
        code='''def one_hot(sequences):
    index = {"A": 0, "T": 1, "C": 2, "G": 3}   # A-T, C-G: not the ACGT order
    for seq in sequences:
        for base in seq:
            if base not in index:
                raise ValueError(f"unexpected letter {base!r}")
    codes = torch.tensor([[index[b] for b in seq] for seq in sequences])
    return F.one_hot(codes, num_classes=4).permute(0, 2, 1).float()
''',
        loses={"test-one-hot": 1.0},
        note="consistent within the notebook, so the model still trains: only the encoding checks fail",
    ),
    WrongAnswer(
        name="one-hot-not-transposed",
        cell="one-hot",
        code='''def one_hot(sequences):
    index = {base: c for c, base in enumerate(DNA_ALPHABET)}
    for seq in sequences:
        for base in seq:
            if base not in index:
                raise ValueError(f"unexpected letter {base!r}")
    codes = torch.tensor([[index[b] for b in seq] for seq in sequences])
    return F.one_hot(codes, num_classes=4).float()          # (N, L, 4): Conv1d wants (N, 4, L)
''',
        loses={"test-one-hot": 1.5, "test-train": 1.5, "test-saliency": 1.8},
        note="Conv1d then sees 50 channels instead of 4: the notebook's model cannot be trained",
    ),
    WrongAnswer(
        name="cnn-average-pooling",
        cell="motif-cnn",
        code=_CNN_INIT + '''    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.fc(h.mean(dim=-1)).squeeze(-1)   # average pooling dilutes one site among 41 windows
''',
        loses={"test-motif-cnn": 1.5, "test-train": 0.5187, "test-saliency": 0.4097},
        note="the trained model is then weaker (held-out accuracy ~0.76) and its saliency peaks less often "
             "on the motif: partial credit on both thresholds",
    ),
    WrongAnswer(
        name="train-sigmoid-before-bce-with-logits",
        cell="train",
        code='''def train_motif_cnn(model, X, y, epochs=100, lr=1e-2):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(torch.sigmoid(model(X)), y)   # the sigmoid is applied twice
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history
''',
        loses={"test-train": 1.5},
        note="the loss can no longer go to 0, but the model still learns to rank: the accuracy check passes"
    ),
    WrongAnswer(
        name="saliency-gradient-without-input",
        cell="saliency",
        code='''def saliency(model, X):
    X = X.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(X).sum(), X)
    return gradient.sum(dim=1)                        # forgot "x input"
''',
        loses={"test-saliency": 2.4, "test-recover-motif": 1.5},
        note="summing the gradient over the 4 channels cancels the signal: the recovered motif is wrong"
    ),
    WrongAnswer(
        name="saliency-abs-before-channel-sum",
        cell="saliency",
        code='''def saliency(model, X):
    X = X.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(X).sum(), X)
    return (gradient * X).abs().sum(dim=1)            # the sign is lost
''',
        loses={"test-saliency": 1.2},
    ),
    WrongAnswer(
        name="mutagenesis-sign-flipped",
        cell="mutagenesis",
        code='''def mutagenesis(model, x):
    model.eval()
    length = x.shape[-1]
    delta = torch.zeros(4, length)
    with torch.no_grad():
        original = model(x[None])[0]
        for i in range(length):
            for b in range(4):
                mutant = x.clone()
                mutant[:, i] = 0.0
                mutant[b, i] = 1.0
                delta[b, i] = original - model(mutant[None])[0]   # original minus mutant
    return delta
''',
        loses={"test-mutagenesis": 2.0},
    ),
    WrongAnswer(
        name="recover-no-alignment-first-positions",
        cell="recover-motif",
        code=_RECOVER_HEAD + '''    counts = positives[:, :, :length].sum(dim=0)     # the first positions, not the salient windows
    return "".join(DNA_ALPHABET[c] for c in counts.argmax(dim=0).tolist())
''',
        loses={"test-recover-motif": 3.0},
    ),
    WrongAnswer(
        name="recover-window-centred-on-peak",
        cell="recover-motif",
        code=_RECOVER_HEAD + '''    scores = saliency(model, positives)
    L = X.shape[-1]
    starts = (scores.argmax(dim=1) - length // 2).clamp(0, L - length)   # centred on the single peak
    windows = torch.stack([positives[n, :, s:s + length] for n, s in enumerate(starts.tolist())])
    counts = windows.sum(dim=0)
    return "".join(DNA_ALPHABET[c] for c in counts.argmax(dim=0).tolist())
''',
        loses={"test-recover-motif": 1.5},
        note="the peak is any base of the site: windows are shifted differently in every sequence",
    ),
]
