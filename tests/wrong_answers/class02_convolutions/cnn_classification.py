"""Typical mistakes in class02_convolutions/cnn_classification.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_CNN_HEAD = '''class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
'''

_TRAIN_HEAD = '''def train(model, X, y, epochs, lr, batch_size):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    n = len(X)
    history = []
'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="count-includes-frozen",
        cell="count-parameters",
        code='''def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
''',
        loses={"test-count-parameters": 1.0},
        note="frozen parameters (requires_grad=False) are not trainable",
    ),
    WrongAnswer(
        name="count-tensors-not-elements",
        cell="count-parameters",
        code='''def count_parameters(model):
    return len([p for p in model.parameters() if p.requires_grad])
''',
        loses={"test-count-parameters": 2.0},
        note="counts the parameter tensors, not their elements",
    ),
    WrongAnswer(
        name="cnn-flatten-size-wrong",
        cell="small-cnn",
        code=_CNN_HEAD + '''        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 8 * 8, 10))  # forgot the second pooling

    def forward(self, x):
        return self.head(self.features(x))
''',
        # forward fails (mat1 and mat2 shapes), 25,290 parameters; the cell training cnn crashes, so
        # cnn is untrained and unusable: exercise 4 is lost, and in exercise 5 the parameter
        # comparison (25,290 vs 5,083) and the CNN-vs-MLP comparison fail
        loses={"test-small-cnn": 3.0, "test-cnn-accuracy": 3.0, "test-cnn-vs-mlp": 1.5},
    ),
    WrongAnswer(
        name="cnn-no-relu",
        cell="small-cnn",
        code=_CNN_HEAD + '''        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.features(x))
''',
        loses={"test-small-cnn": 1.0},
        note="max-pooling alone is non-linear enough to reach the accuracy here, but no ReLU was asked",
    ),
    WrongAnswer(
        name="train-no-zero-grad",
        cell="train",
        code=_TRAIN_HEAD + '''    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, device=X.device)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        history.append(total / n)
    return history
''',
        # gradients accumulate: the loss grows (reference comparison and loss-decrease checks fail);
        # the CNN and the MLP trained with it stay at chance level (exercise 4 lost; in exercise 5
        # the MLP-learnt and CNN-vs-MLP checks)
        loses={"test-train": 1.5, "test-cnn-accuracy": 3.0, "test-cnn-vs-mlp": 1.5},
    ),
    WrongAnswer(
        name="train-forgets-model-train",
        cell="train",
        code=_TRAIN_HEAD + '''    for _ in range(epochs):
        perm = torch.randperm(n, device=X.device)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        history.append(total / n)
    return history
''',
        loses={"test-train": 0.5},
        note="harmless for SmallCNN (no dropout or batch norm), wrong for a model left in eval mode",
    ),
    WrongAnswer(
        name="train-no-shuffle",
        cell="train",
        code=_TRAIN_HEAD + '''    model.train()
    for _ in range(epochs):
        total = 0.0
        for start in range(0, n, batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(X[start:start + batch_size]), y[start:start + batch_size])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(X[start:start + batch_size])
        history.append(total / n)
    return history
''',
        loses={"test-train": 1.0},
        note="the digits are in random order already, so the CNN still trains; the batches never change",
    ),
    WrongAnswer(
        name="cnn-learning-rate-too-small",
        cell="cnn-training",
        code='''torch.manual_seed(0)
cnn = SmallCNN().to(device)
cnn_history = train(cnn, X_train_t, y_train_t, epochs=15, lr=1e-5, batch_size=64)
''',
        loses={"test-cnn-accuracy": 3.0, "test-cnn-vs-mlp": 0.75},
        note="15 epochs at lr=1e-5 leave the CNN at chance level",
    ),
    WrongAnswer(
        name="mlp-far-too-big",
        cell="mlp-training",
        code='''torch.manual_seed(0)
mlp = nn.Sequential(nn.Flatten(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 10)).to(device)
mlp_history = train(mlp, X_train_t, y_train_t, epochs=15, lr=1e-2, batch_size=64)
''',
        loses={"test-cnn-vs-mlp": 0.75},
        note="136,714 parameters against the CNN's 5,130: not a fair comparison (and still behind)",
    ),
    WrongAnswer(
        name="mlp-no-flatten",
        cell="mlp-training",
        code='''torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(256, 19), nn.ReLU(), nn.Linear(19, 10)).to(device)
mlp_history = train(mlp, X_train_t, y_train_t, epochs=15, lr=1e-2, batch_size=64)
''',
        loses={"test-cnn-vs-mlp": 2.25},
        note="nn.Linear(256, ...) applied to (N, 1, 16, 16) images fails; only the parameter count is right",
    ),
]
