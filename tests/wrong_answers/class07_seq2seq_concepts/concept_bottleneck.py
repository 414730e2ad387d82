"""Typical mistakes in class07_seq2seq_concepts/concept_bottleneck.ipynb and the points each must lose.

The hidden tests of `train_cbm` and of the interventions train a reference bottleneck (not the
student's `ConceptBottleneck`), and those of the CEM train it with a reference joint loop, so a
mistake in one piece costs points in its own tests cell only, unless said otherwise below.
"""

from graders.grading.variants import WrongAnswer

_CBM_INIT = '''class ConceptBottleneck(nn.Module):
    def __init__(self, n_inputs, n_concepts, n_classes, hidden=32):
        super().__init__()
        self.concept_net = nn.Sequential(nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                         nn.Linear(hidden, n_concepts))
        self.label_net = nn.Sequential(nn.Linear(n_concepts, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

'''

_TRAIN_HEAD = '''EPOCHS = 200
LR = 0.01
LAMBDA = 1.0


def train_cbm(model, X, C, Y, mode, epochs=EPOCHS, lr=LR, lam=LAMBDA):
'''

_CURVE_OK = '''

def intervention_curve(model, X, C, Y):
    model.eval()
    accuracies = []
    with torch.no_grad():
        concept_logits, _ = model(X)
        probs = torch.sigmoid(concept_logits)
        for n in range(C.shape[1] + 1):
            _, y_logits = model(X, intervene=intervention_mask(probs, n), true_concepts=C)
            accuracies.append((y_logits.argmax(dim=1) == Y).float().mean().item())
    return accuracies
'''

_CEM_HEAD = '''class ConceptEmbeddingModel(nn.Module):
    def __init__(self, n_inputs, n_concepts, n_classes, emb_dim=8, hidden=32):
        super().__init__()
        self.n_concepts, self.emb_dim = n_concepts, emb_dim
        self.backbone = nn.Sequential(nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.embed_active = nn.Sequential(nn.Linear(hidden, n_concepts * emb_dim), nn.LeakyReLU())
        self.embed_inactive = nn.Sequential(nn.Linear(hidden, n_concepts * emb_dim), nn.LeakyReLU())
        self.scorer = nn.Linear(2 * emb_dim, 1)
        self.label_net = nn.Sequential(nn.Linear(n_concepts * emb_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def embeddings(self, x):
        h = self.backbone(x)
        shape = (x.shape[0], self.n_concepts, self.emb_dim)
        return self.embed_active(h).view(shape), self.embed_inactive(h).view(shape)

'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="cbm-no-sigmoid-before-f",
        cell="concept-bottleneck",
        code=_CBM_INIT + '''    def forward(self, x, intervene=None, true_concepts=None):
        concept_logits = self.concept_net(x)
        inputs = concept_logits
        if intervene is not None:
            inputs = torch.where(intervene.bool(), true_concepts, concept_logits)
        return concept_logits, self.label_net(inputs)
''',
        # label_net gets logits: the probabilities check and the intervention check fail (2 of 4);
        # shapes and the gradient check pass
        loses={"test-concept-bottleneck": 1.5},
        note="f reads the raw logits, mixed with 0/1 true values on another scale",
    ),
    WrongAnswer(
        name="cbm-intervene-on-logits",
        cell="concept-bottleneck",
        code=_CBM_INIT + '''    def forward(self, x, intervene=None, true_concepts=None):
        concept_logits = self.concept_net(x)
        used = concept_logits
        if intervene is not None:
            used = torch.where(intervene.bool(), true_concepts, concept_logits)
        return concept_logits, self.label_net(torch.sigmoid(used))
''',
        # a true 1 becomes sigmoid(1) = 0.73 and a true 0 becomes 0.5: the intervention check fails (1 of 4)
        loses={"test-concept-bottleneck": 0.75},
        note="replaces the logits by the true concepts, then applies the sigmoid",
    ),
    WrongAnswer(
        name="joint-without-concept-loss",
        cell="train-cbm",
        code=_TRAIN_HEAD + '''    if mode not in ("independent", "sequential", "joint"):
        raise ValueError(mode)
    if mode == "joint":
        run_adam(model.parameters(), lambda: F.cross_entropy(model(X)[1], Y), epochs, lr)
        return
    run_adam(model.concept_net.parameters(),
             lambda: F.binary_cross_entropy_with_logits(model.concept_net(X), C), epochs, lr)
    with torch.no_grad():
        inputs = C if mode == "independent" else torch.sigmoid(model.concept_net(X))
    run_adam(model.label_net.parameters(), lambda: F.cross_entropy(model.label_net(inputs), Y), epochs, lr)
''',
        # the joint gradient check fails, and without concept supervision the held-out concept
        # accuracy is ~0.5, below the floor 0.75 (2 of 5 checks)
        loses={"test-train-cbm": 1.6},
        note="joint loss = task loss only: the 'concepts' are whatever helps the task",
    ),
    WrongAnswer(
        name="sequential-keeps-training-g",
        cell="train-cbm",
        code=_TRAIN_HEAD + '''    if mode not in ("independent", "sequential", "joint"):
        raise ValueError(mode)
    if mode == "joint":
        def joint_loss():
            concept_logits, y_logits = model(X)
            return F.cross_entropy(y_logits, Y) + lam * F.binary_cross_entropy_with_logits(concept_logits, C)
        run_adam(model.parameters(), joint_loss, epochs, lr)
        return
    run_adam(model.concept_net.parameters(),
             lambda: F.binary_cross_entropy_with_logits(model.concept_net(X), C), epochs, lr)
    if mode == "independent":
        run_adam(model.label_net.parameters(), lambda: F.cross_entropy(model.label_net(C), Y), epochs, lr)
    else:
        run_adam(model.parameters(), lambda: F.cross_entropy(model(X)[1], Y), epochs, lr)
''',
        # the sequential check sees the task gradient reach g and g move while f is trained (1 of 5)
        loses={"test-train-cbm": 0.8},
        note="second stage of sequential training optimises g too, through the task loss",
    ),
    WrongAnswer(
        name="concept-stage-sigmoid-twice",
        cell="train-cbm",
        code=_TRAIN_HEAD + '''    if mode not in ("independent", "sequential", "joint"):
        raise ValueError(mode)
    if mode == "joint":
        def joint_loss():
            concept_logits, y_logits = model(X)
            return F.cross_entropy(y_logits, Y) + lam * F.binary_cross_entropy_with_logits(concept_logits, C)
        run_adam(model.parameters(), joint_loss, epochs, lr)
        return
    run_adam(model.concept_net.parameters(),
             lambda: F.binary_cross_entropy_with_logits(torch.sigmoid(model.concept_net(X)), C), epochs, lr)
    with torch.no_grad():
        inputs = C if mode == "independent" else torch.sigmoid(model.concept_net(X))
    run_adam(model.label_net.parameters(), lambda: F.cross_entropy(model.label_net(inputs), Y), epochs, lr)
''',
        # the concept stage's gradient is not the BCE gradient: independent and sequential fail (2 of 5)
        loses={"test-train-cbm": 1.6},
        note="binary_cross_entropy_with_logits on probabilities: the sigmoid is applied twice",
    ),
    WrongAnswer(
        name="mask-most-confident-first",
        cell="interventions",
        code='''def intervention_mask(probs, n):
    order = torch.argsort((probs - 0.5).abs(), dim=1, descending=True)
    mask = torch.zeros_like(probs)
    mask.scatter_(1, order[:, :n], 1.0)
    return mask
''' + _CURVE_OK,
        # both mask checks fail (weight 2 of 5); the curve checks use the student's own mask and pass
        loses={"test-interventions": 1.2},
        note="corrects the concepts the model is surest about instead of the most uncertain",
    ),
    WrongAnswer(
        name="curve-off-by-one",
        cell="interventions",
        code='''def intervention_mask(probs, n):
    order = torch.argsort((probs - 0.5).abs(), dim=1)
    mask = torch.zeros_like(probs)
    mask.scatter_(1, order[:, :n], 1.0)
    return mask


def intervention_curve(model, X, C, Y):
    model.eval()
    accuracies = []
    with torch.no_grad():
        concept_logits, _ = model(X)
        probs = torch.sigmoid(concept_logits)
        for n in range(C.shape[1]):
            _, y_logits = model(X, intervene=intervention_mask(probs, n), true_concepts=C)
            accuracies.append((y_logits.argmax(dim=1) == Y).float().mean().item())
    return accuracies
''',
        # k values instead of k + 1 (never corrects every concept): both curve checks fail (weight 3 of 5)
        loses={"test-interventions": 1.8},
        note="range(k) instead of range(k + 1)",
    ),
    WrongAnswer(
        name="cem-mixing-swapped",
        cell="cem-forward",
        code=_CEM_HEAD + '''    def forward(self, x, intervene=None, true_concepts=None):
        active, inactive = self.embeddings(x)
        concept_logits = self.scorer(torch.cat([active, inactive], dim=-1)).squeeze(-1)
        probs = torch.sigmoid(concept_logits)
        if intervene is not None:
            probs = torch.where(intervene.bool(), true_concepts, probs)
        p = probs.unsqueeze(-1)
        mixed = (1 - p) * active + p * inactive
        return concept_logits, self.label_net(mixed.reshape(x.shape[0], -1))
''',
        # every mixing check fails (3 of 4); training is symmetric, so the behaviour checks still pass
        loses={"test-cem-forward": 2.25},
        note="weights p and 1 - p swapped: the 'active' embedding is used when the concept is absent",
    ),
    WrongAnswer(
        name="cem-ignores-interventions",
        cell="cem-forward",
        code=_CEM_HEAD + '''    def forward(self, x, intervene=None, true_concepts=None):
        active, inactive = self.embeddings(x)
        concept_logits = self.scorer(torch.cat([active, inactive], dim=-1)).squeeze(-1)
        p = torch.sigmoid(concept_logits).unsqueeze(-1)
        mixed = p * active + (1 - p) * inactive
        return concept_logits, self.label_net(mixed.reshape(x.shape[0], -1))
''',
        # the intervention check fails (1 of 4); in the behaviour checks, true and wrong corrections
        # change nothing: their difference 0 is at the floor, so the interventions check fails (1 of 4)
        loses={"test-cem-forward": 0.75, "test-cem-incomplete": 0.75},
        note="forward accepts intervene/true_concepts but never uses them",
    ),
]
