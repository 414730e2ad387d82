"""Typical mistakes in class01_neural_networks/mlp_training.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_MLP_HEAD = '''class MLP(nn.Module):
    def __init__(self, in_features, hidden, out_features):
        super().__init__()
'''

_TRAIN_HEAD = '''def train(model, X, y, loss_fn, epochs, lr):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="mlp-no-activation",
        cell="mlp",
        code=_MLP_HEAD + '''        layers, width = [], in_features
        for h in hidden:
            layers.append(nn.Linear(width, h))
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
''',
        loses={"test-mlp": 0.5, "test-regression": 3.0},
        note="a stack of Linear layers is affine: no better than linear regression on the sine/product target",
    ),
    WrongAnswer(
        name="mlp-layers-in-python-list",
        cell="mlp",
        code=_MLP_HEAD + '''        self.layers, width = [], in_features
        for h in hidden:
            self.layers.append(nn.Linear(width, h))
            width = h
        self.layers.append(nn.Linear(width, out_features))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)
''',
        loses={"test-mlp": 1.5, "test-regression": 3.0, "test-classification": 2.0},
        note="parameters are not registered: model.parameters() is empty and Adam refuses it",
    ),
    WrongAnswer(
        name="mlp-sigmoid-activation",
        cell="mlp",
        code=_MLP_HEAD + '''        layers, width = [], in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.Sigmoid()]
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
''',
        loses={"test-mlp": 0.5},
    ),
    WrongAnswer(
        name="train-no-zero-grad",
        cell="train",
        code=_TRAIN_HEAD + '''        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history
''',
        loses={"test-train": 2.5, "test-regression": 3.0},
        note="Adam then follows the running sum of all past gradients: the regression diverges",
    ),
    WrongAnswer(
        name="train-zero-grad-after-backward",
        cell="train",
        code=_TRAIN_HEAD + '''        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        history.append(loss.item())
    return history
''',
        loses={"test-train": 2.5, "test-regression": 3.0, "test-classification": 1.5},
        note="the gradients are wiped before every step: nothing ever trains",
    ),
    WrongAnswer(
        name="train-history-keeps-tensors",
        cell="train",
        code=_TRAIN_HEAD + '''        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        history.append(loss)
    return history
''',
        loses={"test-train": 0.5},
    ),
    WrongAnswer(
        name="regression-target-shape-broadcast",
        cell="regression",
        code='''torch.manual_seed(0)
reg_model = MLP(4, [64, 64], 1).to(device)
reg_history = train(reg_model, Xr_train_t, yr_train_t, nn.MSELoss(), epochs=200, lr=1e-2)
''',
        loses={"test-regression": 3.0},
        note="MSELoss broadcasts (n, 1) against (n,) to (n, n): the model learns the mean",
    ),
    WrongAnswer(
        name="predict-argmax-over-batch",
        cell="predict-classes",
        code='''def predict_classes(model, X):
    model.eval()
    with torch.no_grad():
        return model(X).argmax(dim=0)
''',
        loses={"test-predict-classes": 2.0},
    ),
    WrongAnswer(
        name="predict-forgets-eval-mode",
        cell="predict-classes",
        code='''def predict_classes(model, X):
    with torch.no_grad():
        return model(X).argmax(dim=1)
''',
        loses={"test-predict-classes": 0.5},
    ),
    WrongAnswer(
        name="classification-single-logit",
        cell="classification",
        code='''torch.manual_seed(0)
clf_model = MLP(30, [32], 1).to(device)
clf_history = train(clf_model, Xc_train_t, yc_train_t, nn.CrossEntropyLoss(), epochs=100, lr=1e-2)
''',
        loses={"test-classification": 2.0},
        note="cross-entropy needs one logit per class; with one logit every label 1 is out of range",
    ),
    WrongAnswer(
        name="compare-scored-on-training-data",
        cell="compare-sklearn",
        code='''def compare_with_sklearn(X_train, y_train, X_test, y_test, seed=0):
    rf = RandomForestClassifier(n_estimators=100, random_state=seed).fit(X_train, y_train)
    gb = GradientBoostingClassifier(random_state=seed).fit(X_train, y_train)
    return {"random_forest": float(rf.score(X_train, y_train)),
            "gradient_boosting": float(gb.score(X_train, y_train))}
''',
        loses={"test-compare-sklearn": 2.0},
    ),
    WrongAnswer(
        name="compare-other-keys",
        cell="compare-sklearn",
        code='''def compare_with_sklearn(X_train, y_train, X_test, y_test, seed=0):
    rf = RandomForestClassifier(n_estimators=100, random_state=seed).fit(X_train, y_train)
    gb = GradientBoostingClassifier(random_state=seed).fit(X_train, y_train)
    return {"rf": rf.score(X_test, y_test), "gb": gb.score(X_test, y_test)}
''',
        loses={"test-compare-sklearn": 3.0},
    ),
]
