"""Typical mistakes in extra_lora/lora_transfer.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_MERGE = '''
    def merge(self):
        base = self.base
        merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None)
        with torch.no_grad():
            merged.weight.copy_(base.weight + self.scale * (self.B @ self.A))
            if base.bias is not None:
                merged.bias.copy_(base.bias)
        return merged
'''

_FORWARD = '''
    def forward(self, x):
        return self.base(x) + self.scale * (x @ self.A.T @ self.B.T)
'''


def _lora_class(init: str, forward: str = _FORWARD, merge: str = _MERGE) -> str:
    return ('''class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
''' + init + forward + merge)


_INIT_OK = '''        self.base = base
        self.base.requires_grad_(False)
        self.scale = alpha / r
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
'''

_FINETUNE_HEAD = "torch.manual_seed(0)\n"

WRONG_ANSWERS = [
    WrongAnswer(
        name="lora-b-random-init",
        cell="lora-linear",
        code=_lora_class(_INIT_OK.replace("torch.zeros(base.out_features, r)",
                                          "torch.randn(base.out_features, r) * 0.1")),
        loses={"test-lora-linear": 1.6, "test-add-lora": 2.0},
        says=("expected", "got"),
        note="B random: the LoRA layer does not start from the pre-trained function",
    ),
    WrongAnswer(
        name="lora-scale-alpha-not-over-r",
        cell="lora-linear",
        code=_lora_class(_INIT_OK.replace("self.scale = alpha / r", "self.scale = alpha")),
        loses={"test-lora-linear": 1.6},
        says=("expected", "got"),
        note="scale alpha instead of alpha / r: forward differs from the formula when r > 1",
    ),
    WrongAnswer(
        name="lora-base-trainable",
        cell="lora-linear",
        code=_lora_class(_INIT_OK.replace("        self.base.requires_grad_(False)\n", "")),
        loses={"test-lora-linear": 2.4},
        says=("expected", "got"),
        note="the base weight and bias are left trainable",
    ),
    WrongAnswer(
        name="merge-without-scale",
        cell="lora-linear",
        code=_lora_class(_INIT_OK, merge=_MERGE.replace("base.weight + self.scale * (self.B @ self.A)",
                                                         "base.weight + self.B @ self.A")),
        loses={"test-lora-merge": 2.0},
        says=("expected", "got"),
    ),
    WrongAnswer(
        name="merge-transposed",
        cell="lora-linear",
        code=_lora_class(_INIT_OK, merge=_MERGE.replace("self.scale * (self.B @ self.A)",
                                                         "self.scale * (self.A.T @ self.B.T)")),
        loses={"test-lora-merge": 2.0},
        says=("RuntimeError", "raised in merge"),
        note="A^T B^T is (in, out): a shape error except for square layers, and wrong even then",
    ),
    WrongAnswer(
        name="add-lora-no-recursion",
        cell="add-lora",
        code='''def add_lora(model, r, alpha):
    model.requires_grad_(False)
    for name, child in model.named_children():
        if isinstance(child, nn.Linear):
            setattr(model, name, LoRALinear(child, r, alpha))
    return model
''',
        loses={"test-add-lora": 1.0},
        says=("expected", "got"),
        note="only the direct children are wrapped; linear layers inside blocks are missed",
    ),
    WrongAnswer(
        name="add-lora-forgets-freezing",
        cell="add-lora",
        code='''def add_lora(model, r, alpha):
    for name, child in model.named_children():
        if isinstance(child, nn.Linear):
            setattr(model, name, LoRALinear(child, r, alpha))
        else:
            add_lora(child, r, alpha)
    return model
''',
        loses={"test-add-lora": 2.0},
        says=("expected", "got"),
        note="only the wrapped linear layers are frozen; LayerNorm weights stay trainable",
    ),
    WrongAnswer(
        name="finetune-pretrained-in-place",
        cell="lora-finetune",
        code='''torch.manual_seed(0)
lora_model = add_lora(pretrained, r=8, alpha=32)
lora_history = train_full_batch(lora_model, X_target_t, y_target_t, steps=100, lr=1e-2)
print(f"LoRA: {trainable_parameters(lora_model):,} trainable parameters")
''',
        loses={"test-lora-finetune": 1.0},
        says=("expected", "got"),
        note="no copy: the pre-trained model itself is turned into the LoRA model",
    ),
    WrongAnswer(
        name="finetune-scale-too-small",
        cell="lora-finetune",
        code='''torch.manual_seed(0)
lora_model = add_lora(copy.deepcopy(pretrained), r=8, alpha=1)
lora_history = train_full_batch(lora_model, X_target_t, y_target_t, steps=100, lr=1e-3)
print(f"LoRA: {trainable_parameters(lora_model):,} trainable parameters")
''',
        loses={"test-lora-finetune": 2.0},
        says=("expected", "got"),
        note="alpha / r = 1/8 and lr = 1e-3: the update barely grows in 100 steps",
    ),
]
