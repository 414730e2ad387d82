"""Typical mistakes in class06_embeddings_rnn/embeddings.ipynb and the points each must lose.

The hidden tests of `BagOfEmbeddings` swap in a reference `masked_mean`, and those of
`train_model` train a reference model, so a mistake in one piece costs points in its own tests
cell only.
"""

from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer(
        name="one-hot-without-num-classes",
        cell="one-hot-lookup",
        code='''def one_hot_lookup(ids, W):
    return F.one_hot(ids).to(W.dtype) @ W
''',
        # the visible example contains the last token (passes); the hidden ids do not, so
        # F.one_hot makes ids.max() + 1 < V columns and the product fails (2 of 3 checks)
        loses={"test-one-hot-lookup": 2.0},
        says=("RuntimeError", "one_hot_lookup"),
        note="F.one_hot infers ids.max() + 1 classes, not V",
    ),
    WrongAnswer(
        name="one-hot-flattened-ids",
        cell="one-hot-lookup",
        code='''def one_hot_lookup(ids, W):
    return F.one_hot(ids.reshape(-1), num_classes=W.shape[0]).to(W.dtype) @ W
''',
        loses={"test-one-hot-lookup": 3.0},
        note="flattens the ids and forgets to restore the leading shape: (N*L, d) instead of (N, L, d)",
    ),
    WrongAnswer(
        name="masked-mean-divides-by-padded-length",
        cell="masked-mean",
        code='''def masked_mean(x, mask):
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(dim=1) / x.shape[1]
''',
        # small example, random shapes and padding invariance fail; padded values are still ignored
        loses={"test-masked-mean": 1.5},
        note="the mean includes the pads: divides by L, not by the number of real tokens",
    ),
    WrongAnswer(
        name="masked-mean-counts-whole-batch",
        cell="masked-mean",
        code='''def masked_mean(x, mask):
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(dim=1) / m.sum()
''',
        # counts the real tokens of the whole batch, not of each review: wrong values, but
        # padded values are ignored and extra pads change nothing
        loses={"test-masked-mean": 1.0},
        note="sum of the mask over all dimensions instead of per review",
    ),
    WrongAnswer(
        name="bag-forgets-padding-idx",
        cell="bag-of-embeddings",
        code='''class BagOfEmbeddings(nn.Module):
    def __init__(self, vocab_size, embed_dim, n_classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.linear = nn.Linear(embed_dim, n_classes)

    def forward(self, ids):
        return self.linear(masked_mean(self.embedding(ids), ids != PAD))
''',
        # the masked mean makes the output right; only the padding-row check fails (1 of 5)
        loses={"test-bag-of-embeddings": 0.6},
        note="nn.Embedding without padding_idx: the pad row is random and trainable",
    ),
    WrongAnswer(
        name="bag-plain-mean-over-pads",
        cell="bag-of-embeddings",
        code='''class BagOfEmbeddings(nn.Module):
    def __init__(self, vocab_size, embed_dim, n_classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.linear = nn.Linear(embed_dim, n_classes)

    def forward(self, ids):
        return self.linear(self.embedding(ids).mean(dim=1))
''',
        # padding invariance and values fail (2 of 5); shape, padding row, permutation pass
        loses={"test-bag-of-embeddings": 1.2},
        note="x.mean(dim=1) divides by the padded length",
    ),
    WrongAnswer(
        name="predict-argmax-over-batch",
        cell="train-model",
        code='''EPOCHS = 100
LR = 0.05


def train_model(model, ids, labels, epochs=EPOCHS, lr=LR):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(ids), labels)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history


def predict(model, ids):
    model.eval()
    with torch.no_grad():
        return model(ids).argmax(dim=0)
''',
        # the predict check fails (weight 1 of 5 in a 4-point cell)
        loses={"test-train-model": 0.8},
        note="argmax over the batch axis: one 'prediction' per class",
    ),
    WrongAnswer(
        name="train-forgets-optimizer-step",
        cell="train-model",
        code='''EPOCHS = 100
LR = 0.05


def train_model(model, ids, labels, epochs=EPOCHS, lr=LR):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(ids), labels)
        loss.backward()
        history.append(loss.item())
    return history


def predict(model, ids):
    model.eval()
    with torch.no_grad():
        return model(ids).argmax(dim=1)
''',
        # nothing is learned: history flat, held-out accuracy ~0.5 (max 0.59 over 50 secrets,
        # floor 0.75), neighbour purity ~0.15 (max 0.30, floor 0.5): 4 of 5 weights lost
        loses={"test-train-model": 3.2},
        note="backward without optimizer.step(): the parameters never change",
    ),
    WrongAnswer(
        name="neighbours-dot-product",
        cell="nearest-neighbours",
        code='''def nearest_neighbours(E, token_id, k):
    sims = E.detach() @ E.detach()[token_id]
    sims[token_id] = -float("inf")
    return torch.topk(sims, k).indices
''',
        # small example and reference fail; the token is still excluded
        loses={"test-nearest-neighbours": 2.0},
        note="dot product without normalising: long vectors are everybody's neighbour",
    ),
    WrongAnswer(
        name="neighbours-include-itself",
        cell="nearest-neighbours",
        code='''def nearest_neighbours(E, token_id, k):
    E_hat = F.normalize(E.detach(), dim=1)
    return torch.topk(E_hat @ E_hat[token_id], k).indices
''',
        loses={"test-nearest-neighbours": 3.0},
        note="the token is its own nearest neighbour (cosine 1)",
    ),
]
