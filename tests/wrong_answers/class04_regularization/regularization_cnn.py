from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer(
        name="augment-roll-wraps-around",
        cell="augment",
        code='''def augment(images, max_shift=2, flip=False, generator=None):
    # torch.roll: what leaves on one side re-enters on the other
    k = max_shift
    shifts = torch.randint(-k, k + 1, (images.shape[0], 2), generator=generator).tolist()
    out = torch.stack([torch.roll(img, shifts=(dy, dx), dims=(-2, -1)) for img, (dy, dx) in zip(images, shifts)])
    if flip:
        mirror = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    return out
''',
        loses={"test-augment": 0.8},
    ),
    WrongAnswer(
        name="augment-one-shift-per-batch",
        cell="augment",
        code='''def augment(images, max_shift=2, flip=False, generator=None):
    N, C, H, W = images.shape
    k = max_shift
    padded = F.pad(images, (k, k, k, k))
    oy, ox = torch.randint(0, 2 * k + 1, (2,), generator=generator).tolist()   # one shift for the whole batch
    out = padded[:, :, oy:oy + H, ox:ox + W]
    if flip:
        mirror = (torch.rand(N, generator=generator) < 0.5).to(images.device)
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    return out.clone()
''',
        loses={"test-augment": 0.8},
    ),
    WrongAnswer(
        name="cnn-dropout-on-input-images",
        cell="cnn",
        code='''class RegularizedCNN(nn.Module):
    def __init__(self, n_classes=10, image_size=12, channels=(8, 16), p=0.3):
        super().__init__()
        c1, c2 = channels
        self.dropout = nn.Dropout(p)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(c2 * (image_size // 4) ** 2, n_classes)

    def forward(self, x):
        return self.classifier(self.features(self.dropout(x)).flatten(1))
''',
        # the dropout-placement check (1 of 8 shares); input dropout also hurts the experiment:
        # model_reg reaches only ~0.696 on the held-out digits (ramp credit on a 2-share check; the
        # held-out digits are drawn with the assignment's derived secret)
        loses={"test-cnn": 0.375, "test-experiment": 0.3012},
    ),
    WrongAnswer(
        name="weight-decay-selects-by-name",
        cell="weight-decay",
        code='''def l2_penalty(model):
    return sum((p ** 2).sum() for name, p in model.named_parameters() if "weight" in name)


def decay_param_groups(model, weight_decay):
    decay = [p for name, p in model.named_parameters() if "weight" in name]
    no_decay = [p for name, p in model.named_parameters() if "weight" not in name]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]
''',
        # "weight" also matches BatchNorm's gamma: reference value, gradient and partition checks
        # (3 of 5); in train the probe's 2-dim `matrix` is not decayed (decay + schedule checks)
        loses={"test-weight-decay": 1.8, "test-train-evaluate": 1.0},
    ),
    WrongAnswer(
        name="evaluate-does-not-restore-mode",
        cell="evaluate",
        code='''def evaluate(model, X, y):
    model.eval()
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()
''',
        loses={"test-train-evaluate": 0.5},
    ),
    WrongAnswer(
        name="evaluate-forgets-eval-mode",
        cell="evaluate",
        code='''def evaluate(model, X, y):
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()
''',
        loses={"test-train-evaluate": 1.0},
    ),
    WrongAnswer(
        name="train-decays-biases-and-batchnorm",
        cell="train",
        code='''def train(model, X, y, epochs, lr, weight_decay=0.0, augment_fn=None, batch_size=25, X_val=None, y_val=None):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    history = {"train_acc": [], "val_acc": []}
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(X)).to(X.device)
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = X[idx], y[idx]
            if augment_fn is not None:
                xb = augment_fn(xb)
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        scheduler.step()
        history["train_acc"].append(evaluate(model, X, y))
        if X_val is not None:
            history["val_acc"].append(evaluate(model, X_val, y_val))
    return history
''',
        loses={"test-train-evaluate": 0.5},
    ),
    WrongAnswer(
        name="train-augments-once-before-the-loop",
        cell="train",
        code='''def train(model, X, y, epochs, lr, weight_decay=0.0, augment_fn=None, batch_size=25, X_val=None, y_val=None):
    optimizer = torch.optim.AdamW(decay_param_groups(model, weight_decay), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    history = {"train_acc": [], "val_acc": []}
    X_aug = augment_fn(X) if augment_fn is not None else X   # one fixed augmented copy
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(X)).to(X.device)
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            optimizer.zero_grad()
            F.cross_entropy(model(X_aug[idx]), y[idx]).backward()
            optimizer.step()
        scheduler.step()
        history["train_acc"].append(evaluate(model, X, y))
        if X_val is not None:
            history["val_acc"].append(evaluate(model, X_val, y_val))
    return history
''',
        # the spy check (2 of 8 shares); model_reg sees one fixed shifted copy of the 200 images and
        # generalises like an unaugmented model: held-out ~0.657 (ramp) and < plain + 0.05
        loses={"test-train-evaluate": 1.0, "test-experiment": 1.542},
    ),
    WrongAnswer(
        name="experiment-copy-paste-trains-plain-twice",
        cell="experiment",
        code='''EPOCHS, LR = 60, 0.01
torch.manual_seed(0)
model_plain = RegularizedCNN(p=0.0).to(device)
hist_plain = train(model_plain, X_train, y_train, EPOCHS, LR, weight_decay=0.0, X_val=X_val, y_val=y_val)
model_reg = RegularizedCNN(p=0.3).to(device)
hist_reg = train(model_plain, X_train, y_train, EPOCHS, LR, weight_decay=0.1,     # copy-paste: model_plain again
                 augment_fn=lambda x: augment(x, max_shift=2), X_val=X_val, y_val=y_val)
''',
        loses={"test-experiment": 2.25},
    ),
]
