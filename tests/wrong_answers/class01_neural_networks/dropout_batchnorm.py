from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer(
        name="dropout-scales-by-1-over-p",
        cell="dropout-forward",
        code='''def dropout_forward(x, p, training, generator=None):
    if not training:
        return x
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep / p
''',
        # kept values, mean and p=0 checks fail (3 x 0.5); the Dropout module's two scaling checks
        # fail (2 x 0.5); with p=0.5 the experiment's model is unchanged
        loses={"test-dropout-forward": 1.5, "test-dropout-module": 1.0},
    ),
    WrongAnswer(
        name="dropout-ignores-generator",
        cell="dropout-forward",
        code='''def dropout_forward(x, p, training, generator=None):
    if not training or p == 0:
        return x
    keep = torch.rand_like(x) >= p
    return x * keep / (1 - p)
''',
        loses={"test-dropout-forward": 0.5},
    ),
    WrongAnswer(
        name="dropout-module-hardcodes-p",
        cell="dropout-module",
        code='''class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return dropout_forward(x, 0.5, self.training)

    def extra_repr(self):
        return f"p={self.p}"
''',
        loses={"test-dropout-module": 1.0},
    ),
    WrongAnswer(
        name="batchnorm-biased-running-var",
        cell="batchnorm",
        code='''class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            mean = x.mean(dim=0)
            var = x.var(dim=0, unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight * x_hat + self.bias

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
''',
        loses={"test-batchnorm-train": 1.5},
    ),
    WrongAnswer(
        name="batchnorm-momentum-keras-convention",
        cell="batchnorm",
        code='''class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            n = x.shape[0]
            mean = x.mean(dim=0)
            var = x.var(dim=0, unbiased=False)
            with torch.no_grad():
                self.running_mean.copy_(self.momentum * self.running_mean + (1 - self.momentum) * mean)
                self.running_var.copy_(self.momentum * self.running_var + (1 - self.momentum) * var * n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight * x_hat + self.bias

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
''',
        loses={"test-batchnorm-train": 1.5},
    ),
    WrongAnswer(
        name="batchnorm-running-stats-not-buffers",
        cell="batchnorm",
        code='''class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.running_mean = torch.zeros(num_features)
        self.running_var = torch.ones(num_features)

    def forward(self, x):
        if self.training:
            n = x.shape[0]
            mean = x.mean(dim=0)
            var = x.var(dim=0, unbiased=False)
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * n / (n - 1)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight * x_hat + self.bias

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
''',
        # on CPU only the state_dict check fails (on CUDA .to(device) would not move the stats)
        loses={"test-batchnorm-train": 0.75},
    ),
    WrongAnswer(
        name="batchnorm-detached-batch-stats",
        cell="batchnorm",
        code='''class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            n = x.shape[0]
            with torch.no_grad():   # statistics treated as constants: wrong input gradient
                mean = x.mean(dim=0)
                var = x.var(dim=0, unbiased=False)
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight * x_hat + self.bias

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
''',
        loses={"test-batchnorm-eval-grad": 1.0},
    ),
    WrongAnswer(
        name="batchnorm-batch-stats-in-eval",
        cell="batchnorm",
        code='''class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        # forgot self.training: always batch statistics, always updating the running ones
        n = x.shape[0]
        mean = x.mean(dim=0)
        var = x.var(dim=0, unbiased=False)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / max(n - 1, 1))
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight * x_hat + self.bias

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
''',
        # eval output, no-update and batch-of-one checks (3 x 0.5); in model_reg: the running stats
        # and batch-independence checks (2 x 0.5)
        loses={"test-batchnorm-eval-grad": 1.5, "test-modes": 1.0},
    ),
    WrongAnswer(
        name="evaluate-forgets-eval-mode",
        cell="evaluate",
        code='''def evaluate(model, X, y):
    with torch.no_grad():
        logits = model(X)
        loss = F.cross_entropy(logits, y).item()
        acc = (logits.argmax(dim=1) == y).double().mean().item()
    return loss, acc
''',
        loses={"test-mlp-evaluate": 1.0},
    ),
    WrongAnswer(
        name="make-mlp-uses-torch-layers",
        cell="make-mlp",
        code='''def make_mlp(in_features, hidden, out_features, n_hidden=2, p=0.0, batchnorm=False):
    layers, width = [], in_features
    for _ in range(n_hidden):
        layers.append(nn.Linear(width, hidden))
        if batchnorm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(nn.ReLU())
        if p > 0:
            layers.append(nn.Dropout(p))
        width = hidden
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)
''',
        # layer-count checks (2 x 0.5); model_reg has none of the student's BatchNorm1d (0.5)
        loses={"test-mlp-evaluate": 1.0, "test-modes": 0.5},
    ),
    WrongAnswer(
        name="model-reg-never-trained",
        cell="train-models",
        code='''torch.manual_seed(0)
model_plain = make_mlp(2, 64, 2).to(device)
model_reg = make_mlp(2, 64, 2, p=0.5, batchnorm=True).to(device)
hist_plain = fit(model_plain, X_train, y_train, X_test, y_test)
hist_reg = fit(model_plain, X_train, y_train, X_test, y_test)   # copy-paste: trains model_plain again
print(f"plain:       train loss {hist_plain['train_loss'][-1]:.3f}  test loss {hist_plain['test_loss'][-1]:.3f}  test acc {hist_plain['test_acc'][-1]:.3f}")
print(f"regularised: train loss {hist_reg['train_loss'][-1]:.3f}  test loss {hist_reg['test_loss'][-1]:.3f}  test acc {hist_reg['test_acc'][-1]:.3f}")
''',
        loses={"test-experiment": 1.0},
    ),
    WrongAnswer(
        name="model-reg-without-batchnorm",
        cell="train-models",
        code='''torch.manual_seed(0)
model_plain = make_mlp(2, 64, 2).to(device)
model_reg = make_mlp(2, 64, 2, p=0.5).to(device)
hist_plain = fit(model_plain, X_train, y_train, X_test, y_test)
hist_reg = fit(model_reg, X_train, y_train, X_test, y_test)
print(f"plain:       train loss {hist_plain['train_loss'][-1]:.3f}  test loss {hist_plain['test_loss'][-1]:.3f}  test acc {hist_plain['test_acc'][-1]:.3f}")
print(f"regularised: train loss {hist_reg['train_loss'][-1]:.3f}  test loss {hist_reg['test_loss'][-1]:.3f}  test acc {hist_reg['test_acc'][-1]:.3f}")
''',
        loses={"test-modes": 0.5},
    ),
]
