"""Typical mistakes in extra_causality/scm_interventions.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_OBSERVATIONAL = '''def _observational(n, generator):
    noise = torch.randn(4, n, generator=generator)
    z = noise[0]
    x = A_ZX * z + noise[1]
    y = B_XY * x + C_ZY * z + noise[2]
    s = y + SIGMA_S * noise[3]
    return {"Z": z, "X": x, "Y": y, "S": s}

'''

_PREDICTOR = '''def train_predictor(data, features, epochs=300, lr=0.01, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(len(features), 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 1)).to(device)
    inputs = torch.stack([data[f] for f in features], dim=1).to(device)
    target = data["Y"].to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = %s
        loss.backward()
        optimizer.step()
    return model
'''

_PREDICTORS_HEAD = '''ALL_FEATURES = ("X", "Z", "S")
train_data = load_clinic_data(2000, seed=1)
'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="do-overwrites-after-sampling",
        cell="sample-scm",
        code=_OBSERVATIONAL + '''def sample_scm(n, generator, do=None):
    values = _observational(n, generator)
    for name, value in (do or {}).items():
        values[name] = torch.as_tensor(value, dtype=torch.float32).expand(n).clone()
    return values
''',
        # the intervened value never reaches the children: do(X) wrong (2 checks), do(S)/do(Z, S)...
        # do(Z) does not reach X and Y either: the do-S check fails too
        loses={"test-sample-scm": 3.0},
        note="samples observationally, then overwrites the intervened variable: its children never see it",
    ),
    WrongAnswer(
        name="do-as-conditioning",
        cell="sample-scm",
        code=_OBSERVATIONAL + '''def sample_scm(n, generator, do=None):
    values = _observational(n, generator)
    keep = torch.ones(n, dtype=torch.bool)
    for name, value in (do or {}).items():
        keep &= (values[name] - torch.as_tensor(value, dtype=torch.float32)).abs() < 0.5
    return {k: v[keep] for k, v in values.items()}
''',
        loses={"test-sample-scm": 3.0},
        note="do(X=x) implemented by keeping the samples whose X is close to x (conditioning)",
    ),
    WrongAnswer(
        name="adjustment-ignores-confounder",
        cell="ate-by-adjustment",
        code='''def ate_by_adjustment(data, adjust_for=("Z",)):
    x, y = data["X"].double(), data["Y"].double()
    return float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
''',
        loses={"test-ate-by-adjustment": 3.0},
        note="the regression slope of Y on X, whatever adjust_for says",
    ),
    WrongAnswer(
        name="adjustment-without-intercept",
        cell="ate-by-adjustment",
        code='''def ate_by_adjustment(data, adjust_for=("Z",)):
    design = torch.stack([data["X"]] + [data[w] for w in adjust_for], dim=1).double()
    return float(torch.linalg.lstsq(design, data["Y"].double()[:, None]).solution[0, 0])
''',
        # right on the (centred) clinic data only
        loses={"test-ate-by-adjustment": 2.0},
        note="least squares without a column of ones: biased as soon as the data are not centred",
    ),
    WrongAnswer(
        name="predictor-mse-broadcast",
        cell="train-predictor",
        code=_PREDICTOR % "((model(inputs) - target) ** 2).mean()",
        # (n, 1) - (n,) -> (n, n): the network learns the mean of Y, MSE ~ 14 everywhere
        loses={"test-predictors": 4.0},
        note="(n, 1) predictions minus (n,) targets broadcast to (n, n): every model predicts a constant",
    ),
    WrongAnswer(
        name="causal-model-uses-spurious-child",
        cell="predictors",
        code=_PREDICTORS_HEAD + '''CAUSAL_FEATURES = ("X", "Z", "S")
model_all = train_predictor(train_data, ALL_FEATURES)
model_causal = train_predictor(train_data, CAUSAL_FEATURES)
''',
        loses={"test-predictors": 1.0},
        note="S included among the 'causal' features: the error explodes after the device change",
    ),
    WrongAnswer(
        name="causal-model-drops-confounder",
        cell="predictors",
        code=_PREDICTORS_HEAD + '''CAUSAL_FEATURES = ("X",)
model_all = train_predictor(train_data, ALL_FEATURES)
model_causal = train_predictor(train_data, CAUSAL_FEATURES)
''',
        # E[Y | X] has error variance 1 + c^2 Var(Z | X) = 2.23 > ceiling 1.8, before and after the change
        loses={"test-predictors": 2.0},
        note="only the treatment X: misses the confounder Z, which is also a cause of Y",
    ),
    WrongAnswer(
        name="gcomp-as-conditioning",
        cell="interventional-mean",
        code='''def interventional_mean(model, data, x):
    keep = (data["X"] - x).abs() < 0.5
    inputs = torch.stack([data["X"][keep], data["Z"][keep]], dim=1)
    with torch.no_grad():
        return float(model(inputs).reshape(-1).mean())
''',
        loses={"test-interventional-mean": 2.0},
        note="averages the model over the patients whose dose was close to x: E[Y | X = x], not do(X = x)",
    ),
]
