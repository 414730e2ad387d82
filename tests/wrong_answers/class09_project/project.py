"""Typical mistakes in class09_project/project.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_TRAIN = '''def train_model(model, X, y, seed):
{seeding}    model = model.to(device)
    X, y = X.to(device), y.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range({epochs}):
        order = torch.randperm(len(X), device=device)
        for start in range(0, len(X), 64):
            idx = order[start:start + 64]
            optimizer.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
    return model
'''

_PREDICT = '''def predict(model, X):
{eval}    model_device = next(model.parameters()).device
    with torch.no_grad():
        logits = torch.cat([model(X[i:i + 500].to(model_device)) for i in range(0, len(X), 500)])
    return {result}
'''

_EXPERIMENT = '''def run_experiment(seed):
{seeding}    model = build_model()
    n_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    start = time.perf_counter()
    model = train_model(model, X_train, y_train, seed)
    train_seconds = time.perf_counter() - start
    val_predictions = predict(model, X_val)
    metrics = {{
        "train_accuracy": {scale}(predict(model, X_train) == y_train).float().mean().item(),
        "val_accuracy": {scale}(val_predictions == y_val).float().mean().item(),
        "n_parameters": n_parameters,
        "train_seconds": train_seconds,
        "val_predictions": val_predictions,
    }}
{extra}    return metrics
'''
_SEED = "    seed_everything(seed)\n"

WRONG_ANSWERS = [
    WrongAnswer(
        name="model-over-parameter-budget",
        cell="build-model",
        code='''def build_model():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 256), nn.ReLU(), nn.Linear(256, N_CLASSES),
    )
''',
        # 137,670 parameters: the budget check fails, and the hidden evaluation refuses to rank it
        loses={"test-build-model": 1.0, "test-leaderboard": 3.0},
        note="a wide fully-connected head: 131,328 parameters in one layer",
    ),
    WrongAnswer(
        name="gpu-sized-model-on-every-track",
        cell="build-model",
        code='''def build_model():
    return nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128 * 4 * 4, N_CLASSES),
    )
''',
        # 124,230 parameters and ~20x the baseline's arithmetic: over both CPU-track budgets, so the
        # rerun is not compared and the hidden evaluation refuses to rank it
        loses={"test-build-model": 1.0, "test-train-predict": 1.0, "test-run-experiment": 2.0, "test-leaderboard": 3.0},
        note="the GPU track's model without reading TRACK: graded on a CPU, it breaks the CPU track's budgets",
    ),
    WrongAnswer(
        name="train-shuffles-without-seeding",
        cell="train-model",
        code=_TRAIN.format(seeding="", epochs=8),
        # run_experiment seeds before build_model, so its runs stay reproducible; train_model alone does not
        loses={"test-train-predict": 1.0},
        note="the batch order comes from whatever state the global generator is in",
    ),
    WrongAnswer(
        name="train-far-too-many-epochs",
        cell="train-model",
        code=_TRAIN.format(seeding=_SEED, epochs=80),
        # about 10x the baseline's CPU time: over the budget on a quarter of the data, on the rerun of
        # run_experiment (not compared), and in the hidden evaluation (not ranked)
        loses={"test-train-predict": 1.0, "test-run-experiment": 2.0, "test-leaderboard": 3.0},
        note="80 epochs to climb the leaderboard: ~12 s of CPU for a 6 s budget",
    ),
    WrongAnswer(
        name="predict-forgets-eval-mode",
        cell="predict",
        code=_PREDICT.format(eval="", result="logits.argmax(dim=1).cpu()"),
        loses={"test-train-predict": 1.0},
        note="harmless for the baseline (no dropout, no batch norm), wrong for any model that has them",
    ),
    WrongAnswer(
        name="predict-returns-logits",
        cell="predict",
        code=_PREDICT.format(eval="    model.eval()\n", result="logits.cpu()"),
        # everything downstream compares labels: run_experiment crashes (no metrics, no rerun), the
        # hidden evaluation gets (2000, 6) scores instead of 2000 labels
        loses={"test-train-predict": 3.0, "test-run-experiment": 4.0, "test-offline": 2.0, "test-leaderboard": 4.0},
    ),
    WrongAnswer(
        name="experiment-seeds-after-building-the-model",
        cell="run-experiment",
        code=_EXPERIMENT.format(seeding="", scale="", extra=""),
        # train_model seeds itself, but the initial weights come from the global generator's state
        loses={"test-run-experiment": 2.0},
        note="the initial weights differ between the notebook's run and the rerun",
    ),
    WrongAnswer(
        name="experiment-accuracy-in-percent",
        cell="run-experiment",
        code=_EXPERIMENT.format(seeding=_SEED, scale="100 * ", extra=""),
        loses={"test-run-experiment": 2.0, "test-leaderboard": 1.0},
    ),
    WrongAnswer(
        name="experiment-logs-to-tracking-server",
        cell="run-experiment",
        code="import json\nimport urllib.request\n\n\n" + _EXPERIMENT.format(seeding=_SEED, scale="", extra='''    try:  # log the run to my MLflow tracking server
        payload = {k: v for k, v in metrics.items() if k != "val_predictions"}
        request = urllib.request.Request("http://127.0.0.1:5000/api/2.0/mlflow/runs/log-batch",
                                         data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=2)
    except OSError:  # no server: carry on
        pass
'''),
        loses={"test-offline": 0.6667},
        note="the try/except hides the failure; the grader blocks the connection and reports it",
    ),
    WrongAnswer(
        name="experiment-reads-file-from-home-folder",
        cell="run-experiment",
        code='''def run_experiment(seed):
    seed_everything(seed)
    X, y = X_train, y_train
    try:  # my extra icons, generated once and saved on my laptop
        extra = np.load("/home/ada/Downloads/extra_icons.npz")
        X, y = torch.cat([X, torch.from_numpy(extra["X"])]), torch.cat([y, torch.from_numpy(extra["y"])])
    except OSError:
        pass
    model = build_model()
    n_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    start = time.perf_counter()
    model = train_model(model, X, y, seed)
    train_seconds = time.perf_counter() - start
    val_predictions = predict(model, X_val)
    return {
        "train_accuracy": (predict(model, X_train) == y_train).float().mean().item(),
        "val_accuracy": (val_predictions == y_val).float().mean().item(),
        "n_parameters": n_parameters,
        "train_seconds": train_seconds,
        "val_predictions": val_predictions,
    }
''',
        loses={"test-offline": 0.6667},
        note="works on the author's laptop only; on the grading machine the file is missing and silently skipped",
    ),
]
