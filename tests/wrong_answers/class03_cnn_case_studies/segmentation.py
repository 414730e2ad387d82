"""Typical mistakes in class03_cnn_case_studies/segmentation.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_DICE_OK = '''

def dice(pred, target):
    pred, target = pred.bool().flatten(1), target.bool().flatten(1)
    inter = (pred & target).sum(dim=1).float()
    total = (pred.sum(dim=1) + target.sum(dim=1)).float()
    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))
'''

_IOU_OK = '''def iou(pred, target):
    pred, target = pred.bool().flatten(1), target.bool().flatten(1)
    inter = (pred & target).sum(dim=1).float()
    union = (pred | target).sum(dim=1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
'''

_BLOCK = '''class SegNet(nn.Module):
    def __init__(self, in_channels=1, width=8):
        super().__init__()

        def block(a, b):
            return nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(b, b, 3, padding=1), nn.ReLU())

        w = width
        self.pool = nn.MaxPool2d(2)
        self.enc1 = block(in_channels, w)
        self.enc2 = block(w, 2 * w)
        self.bottleneck = block(2 * w, 4 * w)
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.dec2 = block(4 * w, 2 * w)
'''

_TRAIN_HEAD = '''def train_segmenter(model, images, masks, epochs, lr, batch_size=16, dice_weight=1.0):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    bce = nn.BCEWithLogitsLoss()
    target = masks.float().unsqueeze(1)
    n = len(images)
    model.train()
    history = []
    for _ in range(epochs):
        order = torch.randperm(n, device=images.device)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="iou-nan-on-empty-masks",
        cell="metrics",
        code='''def iou(pred, target):
    pred, target = pred.bool().flatten(1), target.bool().flatten(1)
    inter = (pred & target).sum(dim=1).float()
    union = (pred | target).sum(dim=1).float()
    return inter / union
''' + _DICE_OK,
        loses={"test-metrics": 1.5},
        note="0/0 = NaN when both masks are empty: the empty-mask check and the random masks (which "
             "include empty images) fail",
    ),
    WrongAnswer(
        name="iou-union-without-subtracting-intersection",
        cell="metrics",
        code='''def iou(pred, target):
    pred, target = pred.bool().flatten(1), target.bool().flatten(1)
    inter = (pred & target).sum(dim=1).float()
    union = (pred.sum(dim=1) + target.sum(dim=1)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
''' + _DICE_OK,
        loses={"test-metrics": 1.5},
    ),
    WrongAnswer(
        name="dice-without-factor-2",
        cell="metrics",
        code=_IOU_OK + '''

def dice(pred, target):
    pred, target = pred.bool().flatten(1), target.bool().flatten(1)
    inter = (pred & target).sum(dim=1).float()
    total = (pred.sum(dim=1) + target.sum(dim=1)).float()
    return torch.where(total > 0, inter / total.clamp(min=1), torch.ones_like(total))
''',
        loses={"test-metrics": 1.5},
    ),
    WrongAnswer(
        name="soft-dice-pooled-over-batch",
        cell="soft-dice",
        code='''def soft_dice_loss(logits, target, eps=1.0):
    p = torch.sigmoid(logits)
    t = target.float()
    return 1 - (2 * (p * t).sum() + eps) / (p.sum() + t.sum() + eps)
''',
        loses={"test-soft-dice": 1.5},
        note="one Dice of the whole batch instead of the mean of per-image Dice losses",
    ),
    WrongAnswer(
        name="soft-dice-hard-threshold",
        cell="soft-dice",
        code='''def soft_dice_loss(logits, target, eps=1.0):
    p = (logits > 0).float().flatten(1)
    t = target.float().flatten(1)
    score = (2 * (p * t).sum(dim=1) + eps) / (p.sum(dim=1) + t.sum(dim=1) + eps)
    return (1 - score).mean()
''',
        loses={"test-soft-dice": 1.5},
        note="logits > 0 has no gradient: backward fails on the loss alone",
    ),
    WrongAnswer(
        name="segnet-missing-second-upsampling",
        cell="segnet",
        code=_BLOCK + '''        self.head = nn.Conv2d(2 * w, 1, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottleneck(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        return self.head(d2)
''',
        loses={"test-segnet": 2.4, "test-seg-model": 4.0},
        note="the output is (N, 1, H/2, W/2): BCEWithLogitsLoss refuses the (N, 1, H, W) target",
    ),
    WrongAnswer(
        name="segnet-sigmoid-at-output",
        cell="segnet",
        code=_BLOCK + '''        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec1 = block(2 * w, w)
        self.head = nn.Conv2d(w, 1, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottleneck(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return torch.sigmoid(self.head(d1))
''',
        loses={"test-segnet": 0.6, "test-seg-model": 3.2},
        note="probabilities are all > 0: the mask `logits > 0` covers every pixel",
    ),
    WrongAnswer(
        name="train-sigmoid-before-bce-with-logits",
        cell="train-segmenter",
        code=_TRAIN_HEAD + '''            optimizer.zero_grad()
            logits = model(images[batch])
            loss = bce(torch.sigmoid(logits), target[batch])
            if dice_weight > 0:
                loss = loss + dice_weight * soft_dice_loss(logits, target[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / n)
    return history
''',
        loses={"test-train-segmenter": 1.8, "test-seg-model": 3.2},
        note="BCE of probabilities squashed into [0.5, 0.73]: the segmenter never leaves 'all background'",
    ),
    WrongAnswer(
        name="train-no-zero-grad",
        cell="train-segmenter",
        code=_TRAIN_HEAD + '''            logits = model(images[batch])
            loss = bce(logits, target[batch])
            if dice_weight > 0:
                loss = loss + dice_weight * soft_dice_loss(logits, target[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / n)
    return history
''',
        loses={"test-train-segmenter": 0.6, "test-seg-model": 3.2},
        note="gradients accumulate over all steps: the segmenter ends predicting no pixel at all",
    ),
    WrongAnswer(
        name="seg-model-learning-rate-too-small",
        cell="seg-model",
        code='''torch.manual_seed(0)
seg_model = SegNet().to(device)
seg_history = train_segmenter(seg_model, X_train, M_train, epochs=8, lr=1e-4, batch_size=16, dice_weight=1.0)
seg_model.eval()
with torch.no_grad():
    val_pred = seg_model(X_val)[:, 0] > 0
print(f"validation mean IoU {iou(val_pred, M_val).mean().item():.3f}")
''',
        loses={"test-seg-model": 3.2},
        note="lr=1e-4: after 8 epochs the model still predicts background everywhere (IoU 0)",
    ),
]
