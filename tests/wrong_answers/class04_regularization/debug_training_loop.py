"""Typical mistakes in class04_regularization/debug_training_loop.ipynb and the points each must lose.

Most are the bugs planted in the notebook's buggy script, left unfixed; the others are the usual
half-fixes. The hidden tests of `evaluate` and `train` swap in reference pieces, so a mistake in
one piece costs points in its own tests cell only.
"""

from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer(
        name="loader-not-shuffled",
        cell="make-loader",
        code='''def make_loader(X, y, batch_size):
    return DataLoader(TensorDataset(X, y), batch_size=batch_size)
''',
        # the stored (sorted) order: "shuffles" and "new order every epoch" fail (2 x 0.5)
        loses={"test-make-loader": 1.0},
        note="the planted bug: DataLoader's default is shuffle=False",
    ),
    WrongAnswer(
        name="loader-shuffled-once",
        cell="make-loader",
        code='''def make_loader(X, y, batch_size):
    perm = torch.randperm(len(X))
    X, y = X[perm], y[perm]
    return [(X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(X), batch_size)]
''',
        loses={"test-make-loader": 0.5},
        note="one random order, then the same batches in the same order at every epoch",
    ),
    WrongAnswer(
        name="loss-softmax-before-cross-entropy",
        cell="loss-from-logits",
        code='''def loss_from_logits(logits, y):
    probabilities = torch.softmax(logits, dim=1)
    return nn.CrossEntropyLoss()(probabilities, y)
''',
        loses={"test-loss-from-logits": 3.0},
        note="the planted bug: the loss cannot go below log(1 + 9/e) = 1.46",
    ),
    WrongAnswer(
        name="loss-log-of-softmax",
        cell="loss-from-logits",
        code='''def loss_from_logits(logits, y):
    return F.nll_loss(torch.log(torch.softmax(logits, dim=1)), y)
''',
        loses={"test-loss-from-logits": 0.6},
        note="exact for moderate logits, infinite when a probability underflows to 0",
    ),
    WrongAnswer(
        name="step-without-zero-grad",
        cell="train-step",
        code='''def train_step(model, optimizer, loss_fn, xb, yb):
    model.train()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    optimizer.step()
    return loss.item()
''',
        # stale-gradients and same-batch-twice checks fail (2 x 0.6)
        loses={"test-train-step": 1.2},
        note="the planted bug: gradients accumulate over steps",
    ),
    WrongAnswer(
        name="step-zero-grad-after-backward",
        cell="train-step",
        code='''def train_step(model, optimizer, loss_fn, xb, yb):
    model.train()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()
''',
        # the gradients are wiped before the update: parameters never move (3 x 0.6)
        loses={"test-train-step": 1.8},
    ),
    WrongAnswer(
        name="accuracy-keepdim-broadcast",
        cell="batch-accuracy",
        code='''def batch_accuracy(logits, y):
    predictions = logits.argmax(dim=1, keepdim=True)
    return (predictions == y).float().mean().item()
''',
        loses={"test-batch-accuracy": 2.0},
        note="the planted bug: (N, 1) == (N,) broadcasts to (N, N); about 1/C whatever the model",
    ),
    WrongAnswer(
        name="evaluate-train-mode-with-grad",
        cell="evaluate",
        code='''def evaluate(model, X, y):
    logits = model(X)
    return loss_from_logits(logits, y).item(), batch_accuracy(logits, y)
''',
        # eval-mode/no-grad, running-statistics and value checks fail (3 x 0.6); the mode is
        # "restored" since it was never changed
        loses={"test-evaluate": 1.8},
        note="the planted bug: dropout and batch statistics active, running stats updated, graph recorded",
    ),
    WrongAnswer(
        name="evaluate-leaves-model-in-eval-mode",
        cell="evaluate",
        code='''def evaluate(model, X, y):
    model.eval()
    with torch.no_grad():
        logits = model(X)
        return loss_from_logits(logits, y).item(), batch_accuracy(logits, y)
''',
        loses={"test-evaluate": 0.6},
    ),
    WrongAnswer(
        name="train-forgets-return",
        cell="train",
        code='''def train(model, X, y, epochs, lr=1e-2, batch_size=64):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = make_loader(X, y, batch_size)
    history = []
    for _ in range(epochs):
        for xb, yb in loader:
            history.append(train_step(model, optimizer, loss_from_logits, xb, yb))
''',
        loses={"test-train": 1.0},
    ),
]
