"""Typical mistakes in class00_ml_from_scratch/linear_regression.ipynb and the points each costs."""

from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    # ---------------------------------------------------------------- exercise 1: predict
    WrongAnswer(
        name="predict-forgot-bias",
        cell="predict",
        code='''def predict(X, w, b):
    return X @ w
''',
        loses={"test-predict": 2.0},
    ),
    WrongAnswer(
        name="predict-sum-over-examples-axis",
        cell="predict",
        code='''def predict(X, w, b):
    return np.sum(X * w, axis=0) + b
''',
        loses={"test-predict": 2.0},
        says=("expected shape", "got"),
    ),
    # ---------------------------------------------------------------- exercise 2: mse_loss
    WrongAnswer(
        name="mse-sum-instead-of-mean",
        cell="mse-loss",
        code='''def mse_loss(y_pred, y):
    return np.sum((y_pred - y) ** 2)
''',
        loses={"test-mse-loss": 2.0},
    ),
    WrongAnswer(
        name="mse-absolute-error",
        cell="mse-loss",
        code='''def mse_loss(y_pred, y):
    return np.mean(np.abs(y_pred - y))
''',
        loses={"test-mse-loss": 2.0},
    ),
    WrongAnswer(
        name="mse-no-reduction",
        cell="mse-loss",
        code='''def mse_loss(y_pred, y):
    return (y_pred - y) ** 2
''',
        loses={"test-mse-loss": 2.0},
        says=("expected shape ()", "got"),
    ),
    # ---------------------------------------------------------------- exercise 3: mse_gradient
    WrongAnswer(
        name="gradient-missing-factor-2",
        cell="mse-gradient",
        code='''def mse_gradient(X, y, w, b):
    n = X.shape[0]
    r = X @ w + b - y
    return X.T @ r / n, np.sum(r) / n
''',
        loses={"test-mse-gradient": 3.0},
        says=("relative error", "expected", "got"),
    ),
    WrongAnswer(
        name="gradient-sign-flipped",
        cell="mse-gradient",
        code='''def mse_gradient(X, y, w, b):
    n = X.shape[0]
    r = y - (X @ w + b)
    return 2 / n * X.T @ r, 2 / n * np.sum(r)
''',
        loses={"test-mse-gradient": 3.0},
    ),
    WrongAnswer(
        name="gradient-db-not-summed",
        cell="mse-gradient",
        code='''def mse_gradient(X, y, w, b):
    n = X.shape[0]
    r = X @ w + b - y
    return 2 / n * X.T @ r, 2 / n * r
''',
        loses={"test-mse-gradient": 3.0},
        says=("expected shape ()", "got"),
    ),
    WrongAnswer(
        name="gradient-divides-by-d",
        cell="mse-gradient",
        code='''def mse_gradient(X, y, w, b):
    n, d = X.shape
    r = X @ w + b - y
    return 2 / d * X.T @ r, 2 / d * np.sum(r)
''',
        loses={"test-mse-gradient": 3.0},
    ),
    # ---------------------------------------------------------------- exercise 4: gradient descent
    WrongAnswer(
        name="gd-bias-never-updated",
        cell="fit-gradient-descent",
        code='''def fit_gradient_descent(X, y, lr=0.1, n_steps=100):
    n, d = X.shape
    w, b = np.zeros(d), 0.0
    losses = []
    for _ in range(n_steps):
        r = X @ w + b - y
        losses.append(np.mean(r ** 2))
        w = w - lr * 2 / n * X.T @ r
    return w, b, losses
''',
        loses={"test-fit-gradient-descent": 3.0},
    ),
    WrongAnswer(
        name="gd-gradient-ascent",
        cell="fit-gradient-descent",
        code='''def fit_gradient_descent(X, y, lr=0.1, n_steps=100):
    n, d = X.shape
    w, b = np.zeros(d), 0.0
    losses = []
    for _ in range(n_steps):
        r = X @ w + b - y
        losses.append(np.mean(r ** 2))
        w = w + lr * 2 / n * X.T @ r
        b = b + lr * 2 / n * np.sum(r)
    return w, b, losses
''',
        loses={"test-fit-gradient-descent": 3.0},
    ),
    WrongAnswer(
        name="gd-summed-gradient-diverges",
        cell="fit-gradient-descent",
        code='''def fit_gradient_descent(X, y, lr=0.1, n_steps=100):
    n, d = X.shape
    w, b = np.zeros(d), 0.0
    losses = []
    for _ in range(n_steps):
        r = X @ w + b - y
        losses.append(np.mean(r ** 2))
        w = w - lr * 2 * X.T @ r
        b = b - lr * 2 * np.sum(r)
    return w, b, losses
''',
        loses={"test-fit-gradient-descent": 3.0},
    ),
    WrongAnswer(
        name="gd-loss-recorded-after-update",
        cell="fit-gradient-descent",
        code='''def fit_gradient_descent(X, y, lr=0.1, n_steps=100):
    n, d = X.shape
    w, b = np.zeros(d), 0.0
    losses = []
    for _ in range(n_steps):
        r = X @ w + b - y
        w = w - lr * 2 / n * X.T @ r
        b = b - lr * 2 / n * np.sum(r)
        losses.append(np.mean((X @ w + b - y) ** 2))
    return w, b, losses
''',
        loses={"test-fit-gradient-descent": 1.0},
        says=("losses", "expected", "got"),
    ),
    # ---------------------------------------------------------------- exercise 5: normal equation
    WrongAnswer(
        name="normal-equation-no-bias-column",
        cell="fit-normal-equation",
        code='''def fit_normal_equation(X, y):
    w = np.linalg.solve(X.T @ X, X.T @ y)
    return w, 0.0
''',
        loses={"test-fit-normal-equation": 2.0},
    ),
    WrongAnswer(
        name="normal-equation-returns-theta-as-w",
        cell="fit-normal-equation",
        code='''def fit_normal_equation(X, y):
    A = np.column_stack([X, np.ones(len(X))])
    theta = np.linalg.solve(A.T @ A, A.T @ y)
    return theta, theta[-1]
''',
        loses={"test-fit-normal-equation": 3.0},
        says=("expected shape", "got"),
    ),
]
