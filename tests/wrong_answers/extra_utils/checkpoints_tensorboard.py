"""Typical mistakes in extra_utils/checkpoints_tensorboard.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_NUMPY_STATE_SAVE = '''    name, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_rng = {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                 "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
'''

_NUMPY_STATE_LOAD = '''    s = ckpt["numpy_rng"]
    np.random.set_state((s["name"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"],
                         s["cached_gaussian"]))
'''

_BEST_INIT = '''class BestCheckpoint:
    def __init__(self, path, patience=5):
        self.path = path
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = None
        self.bad_epochs = 0
'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="ckpt-without-optimizer-state",
        cell="checkpoint",
        code='''def save_checkpoint(path, model, optimizer, epoch):
''' + _NUMPY_STATE_SAVE + '''    torch.save({"model": model.state_dict(), "epoch": epoch, "torch_rng": torch.get_rng_state(),
                "numpy_rng": numpy_rng}, path)


def load_checkpoint(path, model, optimizer):
    ckpt = torch.load(path, map_location="cpu")
    model.load_state_dict(ckpt["model"])
    torch.set_rng_state(ckpt["torch_rng"])
''' + _NUMPY_STATE_LOAD + '''    return ckpt["epoch"]
''',
        loses={"test-checkpoint": 3.0},
        note="weights only: the resumed Adam starts with m = v = 0, t = 0 and takes a different step",
    ),
    WrongAnswer(
        name="ckpt-forgets-numpy-rng",
        cell="checkpoint",
        code='''def save_checkpoint(path, model, optimizer, epoch):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                "torch_rng": torch.get_rng_state()}, path)


def load_checkpoint(path, model, optimizer):
    ckpt = torch.load(path, map_location="cpu")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    torch.set_rng_state(ckpt["torch_rng"])
    return ckpt["epoch"]
''',
        loses={"test-checkpoint": 3.0},
        note="torch RNG restored but not numpy's: the augmentation noise of the resumed step differs",
    ),
    WrongAnswer(
        name="ckpt-pickles-objects",
        cell="checkpoint",
        code='''def save_checkpoint(path, model, optimizer, epoch):
    torch.save({"model": model, "optimizer": optimizer, "epoch": epoch, "torch_rng": torch.get_rng_state(),
                "numpy_rng": np.random.get_state()}, path)


def load_checkpoint(path, model, optimizer):
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["model"].state_dict())
    optimizer.load_state_dict(ckpt["optimizer"].state_dict())
    torch.set_rng_state(ckpt["torch_rng"])
    np.random.set_state(ckpt["numpy_rng"])
    return ckpt["epoch"]
''',
        loses={"test-checkpoint": 1.0},
        note="resumes correctly, but the file holds pickled objects: torch.load(weights_only=True) refuses it",
    ),
    WrongAnswer(
        name="best-saves-every-epoch",
        cell="best-checkpoint",
        code=_BEST_INIT + '''
    def step(self, epoch, val_loss, model):
        torch.save({"model": model.state_dict(), "epoch": epoch, "val_loss": val_loss}, self.path)
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience
''',
        loses={"test-best-checkpoint": 1.0},
        note="tracks the best loss but overwrites the file with the latest model every epoch",
    ),
    WrongAnswer(
        name="best-counter-not-reset",
        cell="best-checkpoint",
        code=_BEST_INIT + '''
    def step(self, epoch, val_loss, model):
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch = val_loss, epoch
            torch.save({"model": model.state_dict(), "epoch": epoch, "val_loss": val_loss}, self.path)
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience
''',
        loses={"test-best-checkpoint": 1.0},
        note="counts all bad epochs, not bad epochs in a row: stops too early",
    ),
    WrongAnswer(
        name="tb-no-global-step",
        cell="log-training",
        code='''def log_training(log_dir, train_losses, val_accuracies):
    writer = SummaryWriter(log_dir)
    for loss in train_losses:
        writer.add_scalar("train/loss", float(loss))
    for acc in val_accuracies:
        writer.add_scalar("val/accuracy", float(acc))
    writer.close()
''',
        loses={"test-log-training": 1.0},
        note="global_step omitted: every point at step 0",
    ),
    WrongAnswer(
        name="tb-wrong-tags",
        cell="log-training",
        code='''def log_training(log_dir, train_losses, val_accuracies):
    writer = SummaryWriter(log_dir)
    for step, loss in enumerate(train_losses):
        writer.add_scalar("loss", float(loss), step)
    for step, acc in enumerate(val_accuracies):
        writer.add_scalar("accuracy", float(acc), step)
    writer.close()
''',
        loses={"test-log-training": 3.0},
        note="tags 'loss'/'accuracy' instead of 'train/loss'/'val/accuracy'",
    ),
    WrongAnswer(
        name="plot-linear-loss-epochs-from-zero",
        cell="plot-learning-curves",
        code='''def plot_learning_curves(history):
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_loss.plot(history["train_loss"], label="train")
    ax_loss.plot(history["val_loss"], label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_acc.plot(history["val_accuracy"])
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    return fig
''',
        loses={"test-plot-learning-curves": 1.5},
        note="plt.plot(values): x runs 0..N-1, and the loss axis is linear",
    ),
]
