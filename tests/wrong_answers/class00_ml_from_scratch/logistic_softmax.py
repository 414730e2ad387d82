"""Typical mistakes for class00_ml_from_scratch/logistic_softmax.ipynb and the points each must cost."""

from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    # ---------------------------------------------------------------- 1. sigmoid
    WrongAnswer(
        name="sigmoid-naive-overflows",
        cell="sigmoid",
        code='''def sigmoid(z):
    z = np.asarray(z, dtype=float)
    return 1.0 / (1.0 + np.exp(-z))
''',
        loses={"test-sigmoid": 1.0},
        says=("expected no overflow", "got FloatingPointError"),
        note="right values, but np.exp(1000) overflows (RuntimeWarning)",
    ),
    WrongAnswer(
        name="sigmoid-np-where-both-branches",
        cell="sigmoid",
        code='''def sigmoid(z):
    z = np.asarray(z, dtype=float)
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-z)), np.exp(z) / (1.0 + np.exp(z)))
''',
        loses={"test-sigmoid": 1.0},
        says=("expected no overflow", "got FloatingPointError"),
        note="np.where evaluates both branches, so exp(1000) is still computed",
    ),
    # ---------------------------------------------------------------- 2. logistic loss
    WrongAnswer(
        name="bce-log-of-sigmoid",
        cell="logistic-loss",
        code='''def logistic_loss_and_grad(X, y, w, b):
    p = sigmoid(X @ w + b)
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    g = (p - y) / X.shape[0]
    return float(loss), X.T @ g, float(np.sum(g))
''',
        loses={"test-logistic-loss": 1.0},
        says=("loss for logits of ±1000", "expected", "got"),
        note="log(0) for confident predictions: nan/inf loss",
    ),
    WrongAnswer(
        name="bce-clipped-probabilities",
        cell="logistic-loss",
        code='''def logistic_loss_and_grad(X, y, w, b):
    p = np.clip(sigmoid(X @ w + b), 1e-12, 1 - 1e-12)
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    g = (p - y) / X.shape[0]
    return float(loss), X.T @ g, float(np.sum(g))
''',
        loses={"test-logistic-loss": 1.0},
        says=("loss for logits of ±1000", "expected 400"),
        note="finite, but a confident mistake costs 27.6 instead of 1000",
    ),
    WrongAnswer(
        name="bce-gradient-sign-flipped",
        cell="logistic-loss",
        code='''def logistic_loss_and_grad(X, y, w, b):
    z = X @ w + b
    loss = np.mean(np.logaddexp(0.0, z) - y * z)
    g = (y - sigmoid(z)) / X.shape[0]
    return float(loss), X.T @ g, float(np.sum(g))
''',
        loses={"test-logistic-loss": 3.0, "test-logistic-train": 2.0},
        says=("expected", "got"),
        note="y - p instead of p - y: training then climbs the loss",
    ),
    # ---------------------------------------------------------------- 3. logistic training
    WrongAnswer(
        name="predict-threshold-logit-at-half",
        cell="logistic-train",
        code='''def predict_logistic(X, w, b):
    return (X @ w + b >= 0.5).astype(np.int64)


def train_logistic_regression(X, y, lr=0.5, epochs=1000):
    w = np.zeros(X.shape[1])
    b = 0.0
    losses = []
    for _ in range(epochs):
        loss, dw, db = logistic_loss_and_grad(X, y, w, b)
        losses.append(loss)
        w = w - lr * dw
        b = b - lr * db
    return w, b, losses
''',
        loses={"test-logistic-train": 1.0},
        says=("predict_logistic", "expected", "got"),
        note="thresholds the logit at 0.5 instead of the probability",
    ),
    WrongAnswer(
        name="train-gradient-ascent",
        cell="logistic-train",
        code='''def predict_logistic(X, w, b):
    return (X @ w + b >= 0).astype(np.int64)


def train_logistic_regression(X, y, lr=0.5, epochs=1000):
    w = np.zeros(X.shape[1])
    b = 0.0
    losses = []
    for _ in range(epochs):
        loss, dw, db = logistic_loss_and_grad(X, y, w, b)
        losses.append(loss)
        w = w + lr * dw
        b = b + lr * db
    return w, b, losses
''',
        loses={"test-logistic-train": 2.0},
        says=("loss curve", "expected", "got"),
        note="w += lr * dw",
    ),
    # ---------------------------------------------------------------- 4. softmax
    WrongAnswer(
        name="softmax-no-max-shift",
        cell="softmax",
        code='''def softmax(Z):
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)
''',
        loses={"test-softmax": 1.0},
        says=("expected no overflow", "got FloatingPointError"),
    ),
    WrongAnswer(
        name="softmax-global-max",
        cell="softmax",
        code='''def softmax(Z):
    E = np.exp(Z - np.max(Z))
    return E / E.sum(axis=1, keepdims=True)
''',
        loses={"test-softmax": 1.0},
        says=("subtract the max of each row", "got FloatingPointError"),
        note="one max for the whole matrix: rows far below it underflow to 0/0",
    ),
    WrongAnswer(
        name="softmax-wrong-axis",
        cell="softmax",
        code='''def softmax(Z):
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)
''',
        loses={"test-softmax": 3.0},
        says=("softmax([[1, 2, 3], [0, 0, 0]])", "expected", "got"),
        note="normalises columns instead of rows",
    ),
    # ---------------------------------------------------------------- 4b. softmax cross-entropy
    WrongAnswer(
        name="ce-log-of-softmax",
        cell="softmax-ce",
        code='''def softmax_cross_entropy_and_grad(X, y, W, b):
    N = X.shape[0]
    P = softmax(X @ W + b)
    loss = -np.mean(np.log(P[np.arange(N), y]))
    G = P.copy()
    G[np.arange(N), y] -= 1.0
    G /= N
    return float(loss), X.T @ G, G.sum(axis=0)
''',
        loses={"test-softmax-ce": 1.0},
        says=("use log-sum-exp", "expected 1000", "got inf"),
        note="log of a probability that underflowed to 0",
    ),
    WrongAnswer(
        name="ce-grad-W-transposed",
        cell="softmax-ce",
        code='''def softmax_cross_entropy_and_grad(X, y, W, b):
    N = X.shape[0]
    Z = X @ W + b
    Z = Z - Z.max(axis=1, keepdims=True)
    log_probs = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    loss = -np.mean(log_probs[np.arange(N), y])
    G = np.exp(log_probs)
    G[np.arange(N), y] -= 1.0
    G /= N
    return float(loss), G.T @ X, G.sum(axis=0)
''',
        loses={"test-softmax-ce": 3.0, "test-softmax-train": 2.0},
        says=("expected", "got", "shape"),
        note="(C, D) gradient for a (D, C) weight: the wine training cannot even update W",
    ),
    # ---------------------------------------------------------------- 5. softmax training
    WrongAnswer(
        name="predict-softmax-argmax-axis0",
        cell="softmax-train",
        code='''def predict_softmax(X, W, b):
    return np.argmax(X @ W + b, axis=0)


def train_softmax_regression(X, y, num_classes, lr=0.1, epochs=300):
    W = np.zeros((X.shape[1], num_classes))
    b = np.zeros(num_classes)
    losses = []
    for _ in range(epochs):
        loss, dW, db = softmax_cross_entropy_and_grad(X, y, W, b)
        losses.append(loss)
        W = W - lr * dW
        b = b - lr * db
    return W, b, losses
''',
        loses={"test-softmax-train": 1.0},
        says=("predict_softmax(X, W, b)", "expected shape (25,), got (5,)"),
    ),
    WrongAnswer(
        name="softmax-train-gradient-ascent",
        cell="softmax-train",
        code='''def predict_softmax(X, W, b):
    return np.argmax(X @ W + b, axis=1)


def train_softmax_regression(X, y, num_classes, lr=0.1, epochs=300):
    W = np.zeros((X.shape[1], num_classes))
    b = np.zeros(num_classes)
    losses = []
    for _ in range(epochs):
        loss, dW, db = softmax_cross_entropy_and_grad(X, y, W, b)
        losses.append(loss)
        W = W + lr * dW
        b = b + lr * db
    return W, b, losses
''',
        loses={"test-softmax-train": 2.0},
        says=("test accuracy", "expected at least 0.9", "got"),
    ),
]
